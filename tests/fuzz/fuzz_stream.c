/* libFuzzer harness: the tensor stream reader on arbitrary bytes.
 * Properties: no crash, leak or UB; every record read re-encodes and
 * decodes to an equal record; errors carry DSQ_EDATA (never EIO: memory
 * input cannot fail to read). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "safetensors.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
    if (!f) abort();
    /* A small record limit keeps decompression bombs inside the fuzzer's
     * memory limit. */
    dsq_stream_reader *rd = dsq_stream_reader_open(f, "fuzz.dsq", (uint64_t)1 << 24);
    dsq_record r, back;
    dsq_record_init(&r);
    dsq_record_init(&back);
    dsq_err e = {0};
    int rc;
    while ((rc = dsq_stream_read(rd, &r, &e)) == 1) {
        void *blob;
        size_t n;
        if (dsq_st_encode(&r, &blob, &n, &e) != 0) abort();
        if (dsq_st_decode(&back, blob, n, "re", &e) != 0) abort();
        if (!dsq_record_equal(&r, &back)) abort();
        free(blob);
    }
    if (rc < 0 && e.code != DSQ_EDATA) abort();
    if (rc < 0 && dsq_stream_read(rd, &r, &e) != -1) abort();  /* errors are sticky */
    dsq_record_free(&r);
    dsq_record_free(&back);
    dsq_stream_reader_close(rd);
    fclose(f);
    return 0;
}

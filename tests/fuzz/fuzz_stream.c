/* libFuzzer harness: the tensor stream reader on arbitrary bytes.
 * An input whose first byte is even is the stream itself (zstd framing,
 * corruption, truncation); an odd first byte means the rest is the
 * decompressed content, compressed here into two frames split at a point
 * the first byte picks (record parsing across frame boundaries; random
 * compressed bytes would rarely get past the frame checksum).
 * Properties: no crash, leak or UB; every record read re-encodes and
 * decodes to an equal record; errors carry DSQ_EDATA (never EIO: memory
 * input cannot fail to read). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <zstd.h>

#include "safetensors.h"
#include "stream.h"

/* content -> two zstd frames, split at `cut`. */
static uint8_t *two_frames(const uint8_t *p, size_t n, size_t cut, size_t *out_n) {
    size_t cap = ZSTD_compressBound(cut) + ZSTD_compressBound(n - cut);
    uint8_t *z = malloc(cap);
    size_t a = ZSTD_compress(z, cap, p, cut, 1);
    size_t b = ZSTD_compress(z + a, cap - a, p + cut, n - cut, 1);
    if (ZSTD_isError(a) || ZSTD_isError(b)) abort();
    *out_n = a + b;
    return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *owned = NULL;
    if (size > 0 && (data[0] & 1)) {
        size_t n = size - 1, cut = n * (data[0] >> 1) / 127;
        owned = two_frames(data + 1, n, cut, &size);
        data = owned;
    }
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
    free(owned);
    return 0;
}

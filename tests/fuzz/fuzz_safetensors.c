/* libFuzzer harness: the safetensors decoder on arbitrary bytes.
 * Properties: no crash, leak or UB; dsq_st_header_total agrees with the
 * decoder (a blob that decodes has exactly the size its header implies);
 * a decoded record re-encodes to a blob that decodes to an equal record,
 * and re-encoding that is byte-identical (the encoding is canonical). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dsq_record r, r2, r3;
    dsq_record_init(&r);
    dsq_record_init(&r2);
    dsq_record_init(&r3);
    dsq_err e = {0};
    uint64_t total = 0;
    int trc = dsq_st_header_total(data, size, &total, "fuzz", &e);
    int rc = dsq_st_decode(&r, data, size, "fuzz", &e);
    if (rc != 0 && rc != DSQ_EDATA) abort();
    if (rc == 0) {
        if (trc != 0 || total != size) abort();
        void *b1, *b2;
        size_t n1, n2;
        if (dsq_st_encode(&r, &b1, &n1, &e) != 0) abort();
        if (dsq_st_decode(&r2, b1, n1, "re", &e) != 0) abort();
        if (!dsq_record_equal(&r, &r2)) abort();
        if (dsq_st_encode(&r2, &b2, &n2, &e) != 0) abort();
        if (n1 != n2 || memcmp(b1, b2, n1) != 0) abort();
        if (dsq_st_decode(&r3, b2, n2, "re2", &e) != 0) abort();
        free(b1);
        free(b2);
    } else if (trc == 0 && total == size) {
        /* The header was fine and the size matches: decode must agree. */
        abort();
    }
    dsq_record_free(&r);
    dsq_record_free(&r2);
    dsq_record_free(&r3);
    return 0;
}

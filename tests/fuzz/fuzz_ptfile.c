/* libFuzzer harness: the PyTorch checkpoint reader (lib/io/ptfile.c and
 * the pickle machine, lib/io/pickle.c) on arbitrary bytes, twice: as a
 * whole file (zip or legacy container), and as the object pickle of a
 * legacy file around one valid storage "0" of six floats, so that mutations
 * reach the pickle machine without having to keep a zip directory valid.
 * Properties: no crash, leak or UB; every failure is DSQ_EDATA with a
 * message and leaves the record empty; a decoded record's tensors each
 * hold numel * dtype-size bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptfile.h"

static void check(int rc, const dsq_record *r, const dsq_err *e) {
    if (rc != 0 && (rc != DSQ_EDATA || !e->msg[0] || r->n_tensors)) abort();
    for (int i = 0; !rc && i < r->n_tensors; i++) {
        const dsq_tensor *t = &r->tensors[i];
        if ((size_t)dsq_tensor_numel(t) * dsq_dtype_size(t->dtype) != t->nbytes) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dsq_record r;
    dsq_record_init(&r);
    dsq_err e = {0};
    check(dsq_pt_decode(&r, data, size, "fuzz", &e), &r, &e);

    static const uint8_t head[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                   0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02, 'M', 0xe9, 0x03,
                                   '.', 0x80, 0x02, '}', 'X', 13, 0, 0, 0, 'l', 'i', 't', 't',
                                   'l', 'e', '_', 'e', 'n', 'd', 'i', 'a', 'n', 0x88, 's', '.'};
    static const uint8_t tail[] = {0x80, 0x02, '(', 'X', 1, 0, 0, 0, '0', 'l', '.',
                                   6, 0, 0, 0, 0, 0, 0, 0};
    size_t n = sizeof head + size + sizeof tail + 24;
    uint8_t *buf = malloc(n);
    memcpy(buf, head, sizeof head);
    memcpy(buf + sizeof head, data, size);
    memcpy(buf + sizeof head + size, tail, sizeof tail);
    for (int i = 0; i < 24; i++) buf[n - 24 + i] = (uint8_t)(i * 37);
    e.msg[0] = 0;
    check(dsq_pt_decode(&r, buf, n, "fuzz-pickle", &e), &r, &e);
    free(buf);
    dsq_record_free(&r);
    return 0;
}

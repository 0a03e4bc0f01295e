/* SHA-256 by nettle (Debian's nettle-dev). */
#include "sha256.h"

#include <nettle/base16.h>

void dsq_sha256_init(dsq_sha256 *c) { sha256_init(&c->ctx); }

void dsq_sha256_update(dsq_sha256 *c, const void *data, size_t n) {
    sha256_update(&c->ctx, n, data);
}

void dsq_sha256_final(dsq_sha256 *c, unsigned char out[32]) {
    sha256_digest(&c->ctx, SHA256_DIGEST_SIZE, out);
}

void dsq_sha256_hex(const unsigned char d[32], char out[65]) {
    base16_encode_update(out, SHA256_DIGEST_SIZE, d);  /* lower case */
    out[64] = '\0';
}

void dsq_sha256_of(const void *data, size_t n, char out[65]) {
    dsq_sha256 c;
    unsigned char d[32];
    dsq_sha256_init(&c);
    dsq_sha256_update(&c, data, n);
    dsq_sha256_final(&c, d);
    dsq_sha256_hex(d, out);
}

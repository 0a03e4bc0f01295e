/* SHA-256 (FIPS 180-4), for vocabulary digests and fixture checks: a thin
 * wrapper over nettle's sha256 and base16. */
#ifndef DSQ_SHA256_H
#define DSQ_SHA256_H

#include <stddef.h>

#include <nettle/sha2.h>

typedef struct {
    struct sha256_ctx ctx;
} dsq_sha256;

void dsq_sha256_init(dsq_sha256 *c);
void dsq_sha256_update(dsq_sha256 *c, const void *data, size_t n);
void dsq_sha256_final(dsq_sha256 *c, unsigned char out[32]);
/* Lower-case hex of the digest (65 bytes with the NUL). */
void dsq_sha256_hex(const unsigned char d[32], char out[65]);
/* One-shot: hex digest of data. */
void dsq_sha256_of(const void *data, size_t n, char out[65]);

#endif

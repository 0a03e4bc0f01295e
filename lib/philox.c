/* Philox4x32-10; the mapping to uniforms and normals is documented in
 * philox.h. */
#include "philox.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void dsq_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void dsq_philox_block(uint64_t seed, uint64_t off, uint64_t g, uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)g, (uint32_t)(g >> 32),
                             (uint32_t)off, (uint32_t)(off >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    dsq_philox4x32_10(ctr, key, out);
}

void dsq_philox_box_muller(uint32_t a, uint32_t b, float *n0, float *n1) {
    const double two32 = 1.0 / 4294967296.0;
    double u1 = ((double)a + 1.0) * two32;
    double u2 = (double)b * two32;
    double r = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586476925286766559 * u2;
    *n0 = (float)(r * cos(th));
    *n1 = (float)(r * sin(th));
}

float dsq_philox_uniform_at(uint64_t seed, uint64_t off, uint64_t i) {
    uint32_t x[4];
    dsq_philox_block(seed, off, i / 4, x);
    return dsq_philox_uniform(x[i % 4]);
}

float dsq_philox_normal_at(uint64_t seed, uint64_t off, uint64_t i) {
    uint32_t x[4];
    float n[4];
    dsq_philox_block(seed, off, i / 4, x);
    dsq_philox_box_muller(x[0], x[1], &n[0], &n[1]);
    dsq_philox_box_muller(x[2], x[3], &n[2], &n[3]);
    return n[i % 4];
}

/* The Philox4x32-10 core and the uniform / normal mappings of philox.h as
 * inline functions that compile as C for the host and as CUDA for the
 * device (DSQ_HD), so that both backends draw the very same numbers: the
 * CPU backend and lib/base/philox.c call these, kernels/ call them per thread.
 * The mapping itself is documented in philox.h. */
#ifndef DSQ_PHILOX_CORE_H
#define DSQ_PHILOX_CORE_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define DSQ_HD __host__ __device__
#else
#define DSQ_HD
#endif

#define DSQ_PHILOX_M0 0xD2511F53u
#define DSQ_PHILOX_M1 0xCD9E8D57u
#define DSQ_PHILOX_W0 0x9E3779B9u
#define DSQ_PHILOX_W1 0xBB67AE85u

/* Ten rounds on counter c (in place) under key (k0, k1). */
static inline DSQ_HD void dsq_philox_rounds(uint32_t c[4], uint32_t k0, uint32_t k1) {
    uint32_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
    for (int r = 0; r < 10; r++) {
        if (r > 0) { k0 += DSQ_PHILOX_W0; k1 += DSQ_PHILOX_W1; }
        uint64_t p0 = (uint64_t)DSQ_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)DSQ_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    c[0] = c0; c[1] = c1; c[2] = c2; c[3] = c3;
}

/* The four words of block g of stream (seed, off): counter
 * {lo(g), hi(g), lo(off), hi(off)}, key {lo(seed), hi(seed)}. */
static inline DSQ_HD void dsq_philox_block_inl(uint64_t seed, uint64_t off, uint64_t g,
                                               uint32_t out[4]) {
    out[0] = (uint32_t)g;
    out[1] = (uint32_t)(g >> 32);
    out[2] = (uint32_t)off;
    out[3] = (uint32_t)(off >> 32);
    dsq_philox_rounds(out, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Uniform float in [0,1) from one 32-bit word (exact 24-bit fraction). */
static inline DSQ_HD float dsq_philox_uniform(uint32_t x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

/* Box-Muller on words (a, b) in double precision, rounded once to float. */
static inline DSQ_HD void dsq_philox_box_muller_inl(uint32_t a, uint32_t b, float *n0,
                                                    float *n1) {
    const double two32 = 1.0 / 4294967296.0;
    double u1 = ((double)a + 1.0) * two32;
    double u2 = (double)b * two32;
    double r = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586476925286766559 * u2;
    *n0 = (float)(r * cos(th));
    *n1 = (float)(r * sin(th));
}

#endif

/* Philox4x32-10; the mapping to uniforms and normals is documented in
 * philox.h, the arithmetic lives in philox_core.h (shared with the CUDA
 * kernels). */
#include "philox.h"

void dsq_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    for (int i = 0; i < 4; i++) out[i] = ctr[i];
    dsq_philox_rounds(out, key[0], key[1]);
}

void dsq_philox_block(uint64_t seed, uint64_t off, uint64_t g, uint32_t out[4]) {
    dsq_philox_block_inl(seed, off, g, out);
}

void dsq_philox_box_muller(uint32_t a, uint32_t b, float *n0, float *n1) {
    dsq_philox_box_muller_inl(a, b, n0, n1);
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

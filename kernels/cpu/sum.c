/* CPU backend: bias broadcast and gradient, pointwise sums (add, axpy,
 * scale) and the sum of squares. */
#include "backend_cpu.h"

#include <stdlib.h>

#include "err.h"

void cpu_bias_add(dsq_backend *be, float *out, const float *bias, int N, int C) {
    (void)be;
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        float *o = out + (size_t)i * C;
        for (int j = 0; j < C; j++) o[j] += bias[j];
    }
}

/* Column blocks in parallel, rows in order within a block: deterministic. */
void cpu_bias_grad(dsq_backend *be, float *dbias, const float *dout, int N, int C) {
    (void)be;
    enum { BLK = 64 };
    int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for
    for (int bi = 0; bi < nblk; bi++) {
        int j0 = bi * BLK, j1 = j0 + BLK < C ? j0 + BLK : C;
        float acc[BLK] = {0};
        for (int i = 0; i < N; i++) {
            const float *d = dout + (size_t)i * C;
            for (int j = j0; j < j1; j++) acc[j - j0] += d[j];
        }
        for (int j = j0; j < j1; j++) dbias[j] += acc[j - j0];
    }
}

void cpu_add(dsq_backend *be, float *out, const float *a, const float *b, size_t n) {
    (void)be;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void cpu_axpy(dsq_backend *be, float *dst, float alpha, const float *src, size_t n) {
    (void)be;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) dst[i] += alpha * src[i];
}

void cpu_scale(dsq_backend *be, float *x, float s, size_t n) {
    (void)be;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

VEC_CLONES VEC_MATH static double sumsq_range(const float *x, size_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* Fixed chunks summed in order, so the result does not depend on the
 * thread count. */
void cpu_sumsq(dsq_backend *be, float *out, const float *x, size_t n) {
    (void)be;
    enum { CHUNK = 1 << 16 };
    size_t nch = (n + CHUNK - 1) / CHUNK;
    double *part = xcalloc(nch ? nch : 1, sizeof *part);
#pragma omp parallel for
    for (size_t c = 0; c < nch; c++)
        part[c] = sumsq_range(x + c * CHUNK, c + 1 < nch ? CHUNK : n - c * CHUNK);
    double s = 0;
    for (size_t c = 0; c < nch; c++) s += part[c];
    free(part);
    out[0] = (float)s;
}

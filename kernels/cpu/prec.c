/* CPU backend: bf16 / fp16 GEMM arithmetic (backend.h set_precision), by
 * rounding the operands to the 16-bit format before the fp32 sgemm.  The
 * product of two such numbers is exact in fp32 (8 + 8 or 11 + 11
 * significant bits), so this is what tensor cores compute up to the order
 * of the fp32 sums: slow, but it makes --precision testable without a GPU. */
#include "backend_cpu.h"

#include <stdint.h>
#include <string.h>

#include "err.h"

float dsq_round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;  /* inf, NaN */
    u += 0x7fffu + ((u >> 16) & 1u);  /* to nearest, ties to even; may carry into inf */
    u &= 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

float dsq_round_fp16(float x) { return (float)(_Float16)x; }

/* A copy of the floats an operand reads, rounded: op(X_i) of batch i is
 * X + i * stride, [rows, cols] with leading dimension ld, rows x cols =
 * (k x mn) when transposed, else (mn x k).  Same offsets as X, so the
 * caller passes the copy with the same ld and stride. */
static float *rounded(const float *x, int trans, int mn, int k, int ld, long long stride,
                      int batch, float (*rnd)(float)) {
    int rows = trans ? k : mn, cols = trans ? mn : k;
    size_t n = (size_t)(batch - 1) * (size_t)stride + (size_t)(rows - 1) * ld + (size_t)cols;
    float *r = xmalloc(n * sizeof *r);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (size_t i = 0; i < n; i++) r[i] = rnd(x[i]);
    return r;
}

static void gemm_rounded(float (*rnd)(float), dsq_backend *be, int trans_a, int trans_b, int m,
                         int n, int k, float alpha, const float *a, int lda, long long stride_a,
                         const float *b, int ldb, long long stride_b, float beta, float *c,
                         int ldc, long long stride_c, int batch) {
    if (m <= 0 || n <= 0 || k <= 0 || batch <= 0) {  /* nothing to round */
        cpu_gemm(be, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                 beta, c, ldc, stride_c, batch);
        return;
    }
    float *ra = rounded(a, trans_a, m, k, lda, stride_a, batch, rnd);
    float *rb = rounded(b, !trans_b, n, k, ldb, stride_b, batch, rnd);
    cpu_gemm(be, trans_a, trans_b, m, n, k, alpha, ra, lda, stride_a, rb, ldb, stride_b, beta, c,
             ldc, stride_c, batch);
    free(ra);
    free(rb);
}

static void cpu_gemm_bf16(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, long long stride_a,
                          const float *b, int ldb, long long stride_b, float beta, float *c,
                          int ldc, long long stride_c, int batch) {
    gemm_rounded(dsq_round_bf16, be, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                 stride_b, beta, c, ldc, stride_c, batch);
}

static void cpu_gemm_fp16(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, long long stride_a,
                          const float *b, int ldb, long long stride_b, float beta, float *c,
                          int ldc, long long stride_c, int batch) {
    gemm_rounded(dsq_round_fp16, be, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                 stride_b, beta, c, ldc, stride_c, batch);
}

/* The fp32 path stays the plain cpu_gemm: no cost when unused. */
void cpu_set_precision(dsq_backend *be, int prec) {
    be->gemm = prec == DSQ_PREC_BF16 ? cpu_gemm_bf16 : prec == DSQ_PREC_FP16 ? cpu_gemm_fp16
                                                                              : cpu_gemm;
}

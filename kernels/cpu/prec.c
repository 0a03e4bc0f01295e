/* CPU backend: bf16 / fp16 GEMM arithmetic (backend.h set_precision), by
 * rounding the operands to the 16-bit format before the fp32 sgemm.  The
 * product of two such numbers is exact in fp32 (8 + 8 or 11 + 11
 * significant bits), so this is what tensor cores compute up to the order
 * of the fp32 sums: slow, but it makes --precision testable without a GPU.
 * The roundings are also what attention, xent and linear_fixed_fwd apply
 * to the operands of their own sgemm calls (cpu_prec). */
#include "backend_cpu.h"

#include <stdint.h>
#include <string.h>

#include "err.h"

/* To nearest bfloat16, ties to even (may carry into inf); inf and NaN
 * unchanged. */
static inline VEC_MATH float round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;  /* inf, NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

float dsq_round_bf16(float x) { return round_bf16(x); }

float dsq_round_fp16(float x) { return (float)(_Float16)x; }

VEC_MATH void cpu_round(int prec, float *dst, const float *src, size_t n) {
    if (prec == DSQ_PREC_BF16) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) dst[i] = round_bf16(src[i]);
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = (float)(_Float16)src[i];
    }
}

void cpu_round_par(int prec, float *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (size_t b = 0; b < cpu_nblk(n); b++)
        cpu_round(prec, dst + b * CPU_BLK, src + b * CPU_BLK, cpu_blk_len(b, n));
}

void cpu_round_mat(int prec, float *dst, const float *src, int rows, int cols, int ld) {
    for (int i = 0; i < rows; i++)
        cpu_round(prec, dst + (size_t)i * cols, src + (size_t)i * ld, (size_t)cols);
}

/* A copy of the floats an operand reads, rounded: op(X_i) of batch i is
 * X + i * stride, [rows, cols] with leading dimension ld, rows x cols =
 * (k x mn) when transposed, else (mn x k).  Same offsets as X, so the
 * caller passes the copy with the same ld and stride. */
static float *rounded(const float *x, int trans, int mn, int k, int ld, long long stride,
                      int batch, int prec) {
    int rows = trans ? k : mn, cols = trans ? mn : k;
    size_t n = (size_t)(batch - 1) * (size_t)stride + (size_t)(rows - 1) * ld + (size_t)cols;
    float *r = xmalloc(n * sizeof *r);
    cpu_round_par(prec, r, x, n);
    return r;
}

static void gemm_rounded(int prec, dsq_backend *be, int trans_a, int trans_b, int m, int n,
                         int k, float alpha, const float *a, int lda, long long stride_a,
                         const float *b, int ldb, long long stride_b, float beta, float *c,
                         int ldc, long long stride_c, int batch) {
    if (m <= 0 || n <= 0 || k <= 0 || batch <= 0) {  /* nothing to round */
        cpu_gemm(be, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                 beta, c, ldc, stride_c, batch);
        return;
    }
    float *ra = rounded(a, trans_a, m, k, lda, stride_a, batch, prec);
    float *rb = rounded(b, !trans_b, n, k, ldb, stride_b, batch, prec);
    cpu_gemm(be, trans_a, trans_b, m, n, k, alpha, ra, lda, stride_a, rb, ldb, stride_b, beta, c,
             ldc, stride_c, batch);
    free(ra);
    free(rb);
}

static void cpu_gemm_bf16(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, long long stride_a,
                          const float *b, int ldb, long long stride_b, float beta, float *c,
                          int ldc, long long stride_c, int batch) {
    gemm_rounded(DSQ_PREC_BF16, be, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                 stride_b, beta, c, ldc, stride_c, batch);
}

static void cpu_gemm_fp16(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, long long stride_a,
                          const float *b, int ldb, long long stride_b, float beta, float *c,
                          int ldc, long long stride_c, int batch) {
    gemm_rounded(DSQ_PREC_FP16, be, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                 stride_b, beta, c, ldc, stride_c, batch);
}

/* The fp32 path stays the plain cpu_gemm: no cost when unused. */
void cpu_set_precision(dsq_backend *be, int prec) {
    ((cpu_state *)be->impl)->prec = prec;
    be->gemm = prec == DSQ_PREC_BF16 ? cpu_gemm_bf16 : prec == DSQ_PREC_FP16 ? cpu_gemm_fp16
                                                                              : cpu_gemm;
}

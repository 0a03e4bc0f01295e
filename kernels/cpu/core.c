/* The CPU backend: memory, scratch buffers, GEMM (OpenBLAS), and the table
 * that gathers the operations of the other files of kernels/cpu/. */
#include "backend_cpu.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "err.h"

static void *cpu_alloc(dsq_backend *be, size_t bytes) {
    (void)be;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) dsq_die(DSQ_EFAIL, "out of memory allocating %zu bytes", bytes);
    memset(p, 0, rounded);
    return p;
}

static void cpu_free(dsq_backend *be, void *p) { (void)be; free(p); }

static void cpu_memcpy(dsq_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

static void cpu_zero(dsq_backend *be, void *p, size_t bytes) {
    (void)be;
    if (bytes) memset(p, 0, bytes);
}

static void cpu_sync(dsq_backend *be) { (void)be; }

float *cpu_scratch(dsq_backend *be, int slot, size_t n) {
    cpu_state *st = be->impl;
    if (n > st->cap[slot]) {
        free(st->buf[slot]);
        st->buf[slot] = cpu_alloc(be, n * sizeof(float));
        st->cap[slot] = n;
    }
    return st->buf[slot];
}

static void cpu_destroy(dsq_backend *be) {
    cpu_state *st = be->impl;
    for (int i = 0; i < CPU_SCRATCH_SLOTS; i++) free(st->buf[i]);
    free(st);
    free(be);
}

static void sgemm1(int trans_a, int trans_b, int m, int n, int k, float alpha,
                   const float *a, int lda, const float *b, int ldb, float beta, float *c,
                   int ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
}

/* OpenBLAS runs single-threaded (set in dsq_backend_cpu) and the GEMM is
 * split over OpenMP threads here: Debian's pthread OpenBLAS spinning next
 * to OpenMP's own threads cost a factor 3 on small models.  Batches go one
 * per thread; a single product is cut into blocks of rows of C (or of
 * columns when C is short and wide).  Every element is computed by one
 * sgemm call over the whole k, so the split does not change results for a
 * given thread count. */
void cpu_gemm(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k,
              float alpha, const float *a, int lda, long long stride_a,
              const float *b, int ldb, long long stride_b,
              float beta, float *c, int ldc, long long stride_c, int batch) {
    (void)be;
    int nt = omp_get_max_threads();
    double work = (double)m * n * k * batch;
    if (nt <= 1 || work < 1e6) {
        for (int i = 0; i < batch; i++)
            sgemm1(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b,
                   ldb, beta, c + i * stride_c, ldc);
        return;
    }
    if (batch >= nt) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < batch; i++)
            sgemm1(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b,
                   ldb, beta, c + i * stride_c, ldc);
        return;
    }
    int by_rows = m >= n || m >= 64 * nt;
    int dim = by_rows ? m : n, nb = nt;
    while (nb > 1 && dim / nb < 16) nb--;
    for (int i = 0; i < batch; i++) {
        const float *ai = a + i * stride_a, *bi = b + i * stride_b;
        float *ci = c + i * stride_c;
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < nb; blk++) {
            int lo = (int)((long long)dim * blk / nb), hi = (int)((long long)dim * (blk + 1) / nb);
            if (hi <= lo) continue;
            if (by_rows)
                sgemm1(trans_a, trans_b, hi - lo, n, k, alpha,
                       trans_a ? ai + lo : ai + (long long)lo * lda, lda, bi, ldb, beta,
                       ci + (long long)lo * ldc, ldc);
            else
                sgemm1(trans_a, trans_b, m, hi - lo, k, alpha, ai, lda,
                       trans_b ? bi + (long long)lo * ldb : bi + lo, ldb, beta, ci + lo, ldc);
        }
    }
}

dsq_backend *dsq_backend_cpu(void) {
    openblas_set_num_threads(1);  /* threads come from OpenMP (cpu_gemm) */
    dsq_backend *be = xcalloc(1, sizeof *be);
    be->name = "cpu";
    be->impl = xcalloc(1, sizeof(cpu_state));
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_memcpy;
    be->download = cpu_memcpy;
    be->copy = cpu_memcpy;
    be->zero = cpu_zero;
    be->sync = cpu_sync;
    be->destroy = cpu_destroy;
    be->gemm = cpu_gemm;
    be->set_precision = cpu_set_precision;
    be->bias_add = cpu_bias_add;
    be->bias_grad = cpu_bias_grad;
    be->add = cpu_add;
    be->axpy = cpu_axpy;
    be->scale = cpu_scale;
    be->sumsq = cpu_sumsq;
    be->layernorm_fwd = cpu_layernorm_fwd;
    be->layernorm_bwd = cpu_layernorm_bwd;
    be->gelu_fwd = cpu_gelu_fwd;
    be->gelu_bwd = cpu_gelu_bwd;
    be->tanh_fwd = cpu_tanh_fwd;
    be->tanh_bwd = cpu_tanh_bwd;
    be->silu_fwd = cpu_silu_fwd;
    be->silu_bwd = cpu_silu_bwd;
    be->softmax_fwd = cpu_softmax_fwd;
    be->softmax_bwd = cpu_softmax_bwd;
    be->attention_fwd = cpu_attention_fwd;
    be->attention_bwd = cpu_attention_bwd;
    be->attention_masked_fwd = cpu_attention_masked_fwd;
    be->attention_rel_fwd = cpu_attention_rel_fwd;
    be->linear_fixed_fwd = cpu_linear_fixed_fwd;
    be->embedding_fwd = cpu_embedding_fwd;
    be->embedding_bwd = cpu_embedding_bwd;
    be->timestep_embedding = cpu_timestep_embedding;
    be->add_time_pos_fwd = cpu_add_time_pos_fwd;
    be->add_time_pos_bwd = cpu_add_time_pos_bwd;
    be->xent = cpu_xent;
    be->row_best = cpu_row_best;
    be->q_sample_fwd = cpu_q_sample_fwd;
    be->q_sample_bwd = cpu_q_sample_bwd;
    be->sqerr_fwd = cpu_sqerr_fwd;
    be->sqerr_bwd = cpu_sqerr_bwd;
    be->dropout_fwd = cpu_dropout_fwd;
    be->dropout_bwd = cpu_dropout_bwd;
    be->randn = cpu_randn;
    be->adamw = cpu_adamw;
    be->ema = cpu_ema;
    return be;
}

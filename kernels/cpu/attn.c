/* CPU backend: multi-head self-attention (training: the forward, and the
 * backward through the dropout and the softmax), and the masked attention
 * of the BERTScore encoder (lib/metrics/bert.c), plain or with DeBERTa's
 * relative-position terms.  Both compute each
 * (sequence, head) product by one single-threaded sgemm call, in a parallel
 * loop over the pairs.  The masked attention is inference only; its result
 * does not depend on the thread count (OpenBLAS's results depend on the
 * call's shape, which the operands alone fix), and its scores live in a
 * per-thread [L, L] scratch, so nothing of size B*nh*L*L is ever held. */
#include "backend_cpu.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"

/* An operand of the per-(sequence, head) attention products: sequence s,
 * head h starts at p + s * seq + h * head; rows ld apart. */
typedef struct {
    const float *p;
    int ld;
    size_t seq, head;
} attn_op;

static const float *attn_at(attn_op x, int s, int h) { return x.p + s * x.seq + h * x.head; }

/* C = A B (op'ed) + beta C for every sequence and head, as one parallel
 * loop of single-threaded sgemm calls: one sequence's heads are too small
 * a product to split over threads at small models (at 2 x 128, L = 64 the
 * per-sequence batched GEMM fell below cpu_gemm's split threshold and ran
 * on one thread), so the loop runs over all sequences x heads.  Under 16-bit arithmetic
 * (tmp != NULL) each thread first rounds its A to prec's format into its
 * own [m, k] of tmp; B is rounded already (the caller rounds the buffers
 * that several products read once, cpu_prec). */
static void attn_gemm(int ta, int tb, int m, int n, int k, attn_op a, attn_op b, float beta,
                      attn_op c, int B, int nh, int prec, float *tmp) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < B * nh; t++) {
        int s = t / nh, h = t % nh;
        const float *pa = attn_at(a, s, h);
        int lda = a.ld;
        if (tmp) {
            int rows = ta ? k : m, cols = ta ? m : k;
            float *ra = tmp + (size_t)omp_get_thread_num() * rows * cols;
            cpu_round_mat(prec, ra, pa, rows, cols, lda);
            pa = ra;
            lda = cols;
        }
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, 1.0f, pa, lda, attn_at(b, s, h), b.ld, beta,
                    (float *)attn_at(c, s, h), c.ld);
    }
}

/* Under 16-bit arithmetic: x[n] rounded once into scratch slot `slot`
 * (the operand of several products); else x itself. */
static const float *lowp_copy(dsq_backend *be, int prec, int slot, const float *x, size_t n) {
    if (prec == DSQ_PREC_FP32) return x;
    float *r = cpu_scratch(be, slot, n);
    cpu_round_par(prec, r, x, n);
    return r;
}

/* The per-thread [L, L] tiles attn_gemm rounds A into (NULL under fp32). */
static float *lowp_tiles(dsq_backend *be, int prec, int L) {
    if (prec == DSQ_PREC_FP32) return NULL;
    return cpu_scratch(be, CPU_SCRATCH_LOWP_T, (size_t)omp_get_max_threads() * L * L);
}

/* Head h of q/k/v starts at column h*hs of a row of qkv (row stride 3H);
 * att is [B, nh, L, L], out and dout [B, L, H].  Under 16-bit arithmetic
 * the products read qkv rounded once, and att (or attd) rounded per
 * (sequence, head); att and attd themselves stay fp32. */
void cpu_attention_fwd(dsq_backend *be, float *out, float *att, float *attd,
                       const float *qkv, int B, int L, int nh, int H,
                       float p, uint64_t seed, uint64_t off) {
    int hs = H / nh, prec = cpu_prec(be);
    float scale = 1.0f / sqrtf((float)hs);
    size_t LL = (size_t)L * L, row = (size_t)L * 3 * H;
    const float *x = lowp_copy(be, prec, CPU_SCRATCH_LOWP_A, qkv, (size_t)B * row);
    float *tmp = lowp_tiles(be, prec, L);
    attn_op q = {x, 3 * H, row, hs}, k = {x + H, 3 * H, row, hs},
            v = {x + 2 * H, 3 * H, row, hs};
    attn_gemm(0, 1, L, L, hs, q, k, 0.0f, (attn_op){att, L, nh * LL, LL}, B, nh, prec, NULL);
    cpu_softmax_fwd(be, att, att, B * nh * L, L, scale);
    const float *use = att;
    if (p > 0.0f) {
        cpu_dropout_fwd(be, attd, att, (size_t)B * nh * LL, p, seed, off);
        use = attd;
    }
    attn_gemm(0, 0, L, hs, L, (attn_op){use, L, nh * LL, LL}, v, 0.0f,
              (attn_op){out, H, (size_t)L * H, hs}, B, nh, prec, tmp);
}

/* Under 16-bit arithmetic the products read qkv and dout rounded once,
 * att (or attd) per (sequence, head), and d scores rounded in place in
 * datt (scratch) after the softmax's backward. */
void cpu_attention_bwd(dsq_backend *be, float *dqkv, float *datt, const float *dout,
                       const float *qkv, const float *att, const float *attd,
                       int B, int L, int nh, int H, float p, uint64_t seed, uint64_t off) {
    int hs = H / nh, prec = cpu_prec(be);
    float scale = 1.0f / sqrtf((float)hs);
    size_t LL = (size_t)L * L, row = (size_t)L * 3 * H, natt = (size_t)B * nh * LL;
    const float *x = lowp_copy(be, prec, CPU_SCRATCH_LOWP_A, qkv, (size_t)B * row);
    const float *gx = lowp_copy(be, prec, CPU_SCRATCH_LOWP_B, dout, (size_t)B * L * H);
    float *tmp = lowp_tiles(be, prec, L);
    attn_op q = {x, 3 * H, row, hs}, k = {x + H, 3 * H, row, hs},
            v = {x + 2 * H, 3 * H, row, hs}, g = {gx, H, (size_t)L * H, hs},
            dq = {dqkv, 3 * H, row, hs}, dk = {dqkv + H, 3 * H, row, hs},
            dv = {dqkv + 2 * H, 3 * H, row, hs}, da = {datt, L, nh * LL, LL},
            use = {p > 0.0f ? attd : att, L, nh * LL, LL};
    /* d attd = g v^T;  dv += attd^T g */
    attn_gemm(0, 1, L, L, hs, g, v, 0.0f, da, B, nh, prec, NULL);
    attn_gemm(1, 0, L, hs, L, use, g, 1.0f, dv, B, nh, prec, tmp);
    if (p > 0.0f) {
        /* Through the dropout, in place: datt = mask * datt / (1-p), the
         * forward's mask applied to the gradient (elementwise, so it may alias). */
        cpu_dropout_fwd(be, datt, datt, natt, p, seed, off);
    }
    /* Through the softmax, in place: datt becomes d scores (scale folded). */
#pragma omp parallel for
    for (size_t r = 0; r < (size_t)B * nh * L; r++)
        cpu_softmax_row_bwd(datt + r * L, 0, att + r * L, datt + r * L, L, scale);
    if (prec != DSQ_PREC_FP32) cpu_round_par(prec, datt, datt, natt);
    /* dq += ds k;  dk += ds^T q */
    attn_gemm(0, 0, L, hs, L, da, k, 1.0f, dq, B, nh, prec, NULL);
    attn_gemm(1, 0, L, hs, L, da, q, 1.0f, dk, B, nh, prec, NULL);
}

/* Softmax of s[j] / scale_div over the unmasked j of one row (in place);
 * masked entries become exactly 0, as exp(score + float_min) does in
 * BERT.  A row without any key is all zeros. */
static void masked_softmax_row(float *s, const float *mask, int L, float scale_div) {
    float mx = -INFINITY;
    for (int j = 0; j < L; j++) {
        if (mask[j] == 0.0f) continue;
        s[j] = s[j] / scale_div;  /* PyTorch divides by sqrt(head size) */
        if (s[j] > mx) mx = s[j];
    }
    if (mx == -INFINITY) {
        for (int j = 0; j < L; j++) s[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int j = 0; j < L; j++) {
        if (mask[j] == 0.0f) { s[j] = 0.0f; continue; }
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    for (int j = 0; j < L; j++) s[j] /= sum;
}

/* Under 16-bit arithmetic each task rounds its q, k and v (read by it
 * alone) and its probabilities. */
void cpu_attention_masked_fwd(dsq_backend *be, float *out, const float *qkv,
                              const float *mask, int B, int L, int nh, int H) {
    int hs = H / nh, prec = cpu_prec(be);
    float div = sqrtf((float)hs);
    long long tasks = (long long)B * nh;
#pragma omp parallel
    {
        float *s = xmalloc((size_t)L * L * sizeof *s);
        /* q, k, v of one head, rounded (16-bit arithmetic only) */
        float *r = prec != DSQ_PREC_FP32 ? xmalloc((size_t)3 * L * hs * sizeof *r) : NULL;
#pragma omp for schedule(dynamic, 1)
        for (long long t = 0; t < tasks; t++) {
            int b = (int)(t / nh), h = (int)(t % nh);
            const float *q = qkv + (size_t)b * L * 3 * H + (size_t)h * hs;
            const float *k = q + H, *v = q + 2 * H;
            const float *m = mask + (size_t)b * L;
            int ld = 3 * H;
            if (r) {
                size_t Lh = (size_t)L * hs;
                cpu_round_mat(prec, r, q, L, hs, ld);
                cpu_round_mat(prec, r + Lh, k, L, hs, ld);
                cpu_round_mat(prec, r + 2 * Lh, v, L, hs, ld);
                q = r, k = r + Lh, v = r + 2 * Lh, ld = hs;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hs, 1.0f, q, ld, k, ld,
                        0.0f, s, L);
            for (int i = 0; i < L; i++) masked_softmax_row(s + (size_t)i * L, m, L, div);
            if (r) cpu_round(prec, s, s, (size_t)L * L);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hs, L, 1.0f, s, L, v, ld,
                        0.0f, out + (size_t)b * L * H + (size_t)h * hs, H);
        }
        free(r);
        free(s);
    }
}

/* Per (sequence, head): scores q k^T, plus the c2p and p2c terms gathered
 * from q pk^T [L, 2S] and k pq^T [L, 2S] (three sgemm calls), then the
 * masked softmax and the product with v, as cpu_attention_masked_fwd. */
void cpu_attention_rel_fwd(dsq_backend *be, float *out, const float *qkv, const float *pk,
                           const float *pq, const float *mask, int B, int L, int nh, int H,
                           int S) {
    (void)be;
    int hs = H / nh, R = 2 * S;
    float div = sqrtf((float)hs * (float)(1 + (pk != NULL) + (pq != NULL)));
    long long tasks = (long long)B * nh;
#pragma omp parallel
    {
        float *s = xmalloc(((size_t)L * L + 2 * (size_t)L * R) * sizeof *s);
        float *qp = s + (size_t)L * L, *kp = qp + (size_t)L * R;
#pragma omp for schedule(dynamic, 1)
        for (long long t = 0; t < tasks; t++) {
            int b = (int)(t / nh), h = (int)(t % nh);
            const float *q = qkv + (size_t)b * L * 3 * H + (size_t)h * hs;
            const float *k = q + H, *v = q + 2 * H;
            const float *m = mask + (size_t)b * L;
            int ld = 3 * H;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hs, 1.0f, q, ld, k, ld,
                        0.0f, s, L);
            if (pk)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, R, hs, 1.0f, q, ld,
                            pk + (size_t)h * hs, H, 0.0f, qp, R);
            if (pq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, R, hs, 1.0f, k, ld,
                            pq + (size_t)h * hs, H, 0.0f, kp, R);
            for (int i = 0; i < L; i++) {
                float *row = s + (size_t)i * L;
                for (int j = 0; j < L; j++) {
                    int r = dsq_rel_row(i, j, S);
                    if (pk) row[j] += qp[(size_t)i * R + r];
                    if (pq) row[j] += kp[(size_t)j * R + r];
                }
                masked_softmax_row(row, m, L, div);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hs, L, 1.0f, s, L, v, ld,
                        0.0f, out + (size_t)b * L * H + (size_t)h * hs, H);
        }
        free(s);
    }
}

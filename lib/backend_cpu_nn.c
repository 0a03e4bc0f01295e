/* CPU backend: LayerNorm, pointwise nonlinearities, softmax, attention. */
#include "backend_cpu.h"

#include <cblas.h>
#include <math.h>

#include "philox.h"

/* One row: o = (x - mean) rstd w + b.  The sums are in double, as before,
 * but vectorised (their order changes, not their precision). */
VEC_CLONES VEC_MATH static void layernorm_row(float *o, float *mean, float *rstd, const float *x,
                                              const float *w, const float *b, int C,
                                              float eps) {
    double s = 0, v = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < C; j++) s += x[j];
    float m = (float)(s / C);
#pragma omp simd reduction(+ : v)
    for (int j = 0; j < C; j++) {
        double d = x[j] - m;
        v += d * d;
    }
    float rs = (float)(1.0 / sqrt(v / C + eps));
#pragma omp simd
    for (int j = 0; j < C; j++) o[j] = (x[j] - m) * rs * w[j] + b[j];
    *mean = m;
    *rstd = rs;
}

void cpu_layernorm_fwd(dsq_backend *be, float *out, float *mean, float *rstd,
                       const float *inp, const float *weight, const float *bias,
                       int N, int C, float eps) {
    (void)be;
#pragma omp parallel for
    for (int i = 0; i < N; i++)
        layernorm_row(out + (size_t)i * C, mean + i, rstd + i, inp + (size_t)i * C, weight,
                      bias, C, eps);
}

/* One row of dinp += (w g - mean(w g) - norm mean(w g norm)) rstd. */
VEC_CLONES VEC_MATH static void layernorm_row_bwd(float *dx, const float *x, const float *g,
                                                  const float *w, float m, float rs, int C) {
    double a = 0, b = 0;  /* sums of dnorm and of dnorm * norm */
#pragma omp simd reduction(+ : a, b)
    for (int j = 0; j < C; j++) {
        float dn = w[j] * g[j];
        a += dn;
        b += (double)dn * ((x[j] - m) * rs);
    }
    float ma = (float)(a / C), mb = (float)(b / C);
#pragma omp simd
    for (int j = 0; j < C; j++) {
        float norm = (x[j] - m) * rs;
        dx[j] += (w[j] * g[j] - ma - norm * mb) * rs;
    }
}

/* dinp per row in parallel; dweight/dbias by column blocks, rows in order. */
void cpu_layernorm_bwd(dsq_backend *be, float *dinp, float *dweight, float *dbias,
                       const float *dout, const float *inp, const float *weight,
                       const float *mean, const float *rstd, int N, int C) {
    (void)be;
    if (dinp) {
#pragma omp parallel for
        for (int i = 0; i < N; i++)
            layernorm_row_bwd(dinp + (size_t)i * C, inp + (size_t)i * C, dout + (size_t)i * C,
                              weight, mean[i], rstd[i], C);
    }
    if (dweight || dbias) {
        enum { BLK = 64 };
        int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for
        for (int bi = 0; bi < nblk; bi++) {
            int j0 = bi * BLK, j1 = j0 + BLK < C ? j0 + BLK : C;
            float aw[BLK] = {0}, ab[BLK] = {0};
            for (int i = 0; i < N; i++) {
                const float *x = inp + (size_t)i * C, *g = dout + (size_t)i * C;
                for (int j = j0; j < j1; j++) {
                    aw[j - j0] += (x[j] - mean[i]) * rstd[i] * g[j];
                    ab[j - j0] += g[j];
                }
            }
            for (int j = j0; j < j1; j++) {
                if (dweight) dweight[j] += aw[j - j0];
                if (dbias) dbias[j] += ab[j - j0];
            }
        }
    }
}

/* 0.5 x (1 + erf(x / sqrt 2)) with PyTorch's vectorised erf. */
VEC_CLONES VEC_MATH void cpu_gelu_as_torch(float *out, const float *inp, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float v = inp[i];
        out[i] = v * 0.5f * (1.0f + cpu_erf(v * 0.70710678118654752f));
    }
}

/* dinp += dout * (cdf(x) + x pdf(x)), as PyTorch's vectorised backward. */
VEC_CLONES VEC_MATH static void gelu_bwd_range(float *dinp, const float *inp,
                                               const float *dout, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], h = 0.5f * x * x;
        float cdf = 0.5f * (1.0f + cpu_erf(x * 0.70710678118654752f));
        float pdf = 0.3989422804014327f * cpu_exp_neg(h < 87.0f ? h : 87.0f);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

void cpu_gelu_fwd(dsq_backend *be, float *out, const float *inp, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < cpu_nblk(n); b++)
        cpu_gelu_as_torch(out + b * CPU_BLK, inp + b * CPU_BLK, cpu_blk_len(b, n));
}

void cpu_gelu_bwd(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < cpu_nblk(n); b++) {
        size_t o = b * CPU_BLK;
        gelu_bwd_range(dinp + o, inp + o, dout + o, cpu_blk_len(b, n));
    }
}

void cpu_tanh_fwd(dsq_backend *be, float *out, const float *inp, size_t n) {
    (void)be;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}

void cpu_tanh_bwd(dsq_backend *be, float *dinp, const float *out, const float *dout, size_t n) {
    (void)be;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

void cpu_silu_fwd(dsq_backend *be, float *out, const float *inp, size_t n) {
    (void)be;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) out[i] = inp[i] / (1.0f + expf(-inp[i]));
}

void cpu_silu_bwd(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    (void)be;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-inp[i]));
        dinp[i] += dout[i] * s * (1.0f + inp[i] * (1.0f - s));
    }
}

/* Row softmax of scale * x (o may alias x); sums in double, vectorised. */
VEC_CLONES VEC_MATH static void softmax_row(float *o, const float *x, int cols, float scale) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < cols; j++) mx = scale * x[j] > mx ? scale * x[j] : mx;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < cols; j++) {
        float e = cpu_exp_neg0(mx - scale * x[j]);
        o[j] = e;
        s += e;
    }
    float inv = (float)(1.0 / s);
#pragma omp simd
    for (int j = 0; j < cols; j++) o[j] *= inv;
}

/* d x_j = scale * y_j (g_j - sum_k y_k g_k); dx may alias g (row-local). */
VEC_CLONES VEC_MATH static void softmax_row_bwd(float *dx, int accumulate, const float *y,
                                                const float *g, int cols, float scale) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < cols; j++) s += (double)y[j] * g[j];
    float fs = (float)s;
#pragma omp simd
    for (int j = 0; j < cols; j++) {
        float d = scale * y[j] * (g[j] - fs);
        dx[j] = accumulate ? dx[j] + d : d;
    }
}

void cpu_softmax_fwd(dsq_backend *be, float *out, const float *inp, int rows, int cols,
                     float scale) {
    (void)be;
#pragma omp parallel for
    for (int i = 0; i < rows; i++)
        softmax_row(out + (size_t)i * cols, inp + (size_t)i * cols, cols, scale);
}

void cpu_softmax_bwd(dsq_backend *be, float *dinp, const float *out, const float *dout,
                     int rows, int cols, float scale) {
    (void)be;
#pragma omp parallel for
    for (int i = 0; i < rows; i++)
        softmax_row_bwd(dinp + (size_t)i * cols, 1, out + (size_t)i * cols,
                        dout + (size_t)i * cols, cols, scale);
}

/* An operand of the per-(sequence, head) attention products: sequence s,
 * head h starts at p + s * seq + h * head; rows ld apart. */
typedef struct {
    const float *p;
    int ld;
    size_t seq, head;
} attn_op;

static const float *attn_at(attn_op x, int s, int h) { return x.p + s * x.seq + h * x.head; }

/* C = A B (op'ed) + beta C for every sequence and head, as one parallel
 * loop of single-threaded sgemm calls: per sequence, the heads' batched
 * GEMM was below the size worth splitting at small models, so every
 * attention product ran on one thread. */
static void attn_gemm(int ta, int tb, int m, int n, int k, attn_op a, attn_op b, float beta,
                      attn_op c, int B, int nh) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < B * nh; t++) {
        int s = t / nh, h = t % nh;
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, 1.0f, attn_at(a, s, h), a.ld, attn_at(b, s, h), b.ld, beta,
                    (float *)attn_at(c, s, h), c.ld);
    }
}

/* Head h of q/k/v starts at column h*hs of a row of qkv (row stride 3H);
 * att is [B, nh, L, L], out and dout [B, L, H]. */
void cpu_attention_fwd(dsq_backend *be, float *out, float *att, float *attd,
                       const float *qkv, int B, int L, int nh, int H,
                       float p, uint64_t seed, uint64_t off) {
    int hs = H / nh;
    float scale = 1.0f / sqrtf((float)hs);
    size_t LL = (size_t)L * L, row = (size_t)L * 3 * H;
    attn_op q = {qkv, 3 * H, row, hs}, k = {qkv + H, 3 * H, row, hs},
            v = {qkv + 2 * H, 3 * H, row, hs};
    attn_gemm(0, 1, L, L, hs, q, k, 0.0f, (attn_op){att, L, nh * LL, LL}, B, nh);
    cpu_softmax_fwd(be, att, att, B * nh * L, L, scale);
    const float *use = att;
    if (p > 0.0f) {
        cpu_dropout_fwd(be, attd, att, (size_t)B * nh * LL, p, seed, off);
        use = attd;
    }
    attn_gemm(0, 0, L, hs, L, (attn_op){use, L, nh * LL, LL}, v, 0.0f,
              (attn_op){out, H, (size_t)L * H, hs}, B, nh);
}

void cpu_attention_bwd(dsq_backend *be, float *dqkv, float *datt, const float *dout,
                       const float *qkv, const float *att, const float *attd,
                       int B, int L, int nh, int H, float p, uint64_t seed, uint64_t off) {
    int hs = H / nh;
    float scale = 1.0f / sqrtf((float)hs);
    size_t LL = (size_t)L * L, row = (size_t)L * 3 * H, natt = (size_t)B * nh * LL;
    attn_op q = {qkv, 3 * H, row, hs}, k = {qkv + H, 3 * H, row, hs},
            v = {qkv + 2 * H, 3 * H, row, hs}, g = {dout, H, (size_t)L * H, hs},
            dq = {dqkv, 3 * H, row, hs}, dk = {dqkv + H, 3 * H, row, hs},
            dv = {dqkv + 2 * H, 3 * H, row, hs}, da = {datt, L, nh * LL, LL},
            use = {p > 0.0f ? attd : att, L, nh * LL, LL};
    /* d attd = g v^T;  dv += attd^T g */
    attn_gemm(0, 1, L, L, hs, g, v, 0.0f, da, B, nh);
    attn_gemm(1, 0, L, hs, L, use, g, 1.0f, dv, B, nh);
    if (p > 0.0f) {
        /* Through the dropout, in place: datt = mask * datt / (1-p), the
         * forward's mask applied to the gradient (elementwise, so it may alias). */
        cpu_dropout_fwd(be, datt, datt, natt, p, seed, off);
    }
    /* Through the softmax, in place: datt becomes d scores (scale folded). */
#pragma omp parallel for
    for (size_t r = 0; r < (size_t)B * nh * L; r++)
        softmax_row_bwd(datt + r * L, 0, att + r * L, datt + r * L, L, scale);
    /* dq += ds k;  dk += ds^T q */
    attn_gemm(0, 0, L, hs, L, da, k, 1.0f, dq, B, nh);
    attn_gemm(1, 0, L, hs, L, da, q, 1.0f, dk, B, nh);
}

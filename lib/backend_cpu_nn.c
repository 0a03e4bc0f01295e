/* CPU backend: LayerNorm, pointwise nonlinearities, softmax, attention. */
#include "backend_cpu.h"

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

/* Per batch element one strided-batched GEMM over the heads: head h of
 * q/k/v starts at column h*hs of a row of qkv (row stride 3H). */
void cpu_attention_fwd(dsq_backend *be, float *out, float *att, float *attd,
                       const float *qkv, int B, int L, int nh, int H,
                       float p, uint64_t seed, uint64_t off) {
    int hs = H / nh;
    float scale = 1.0f / sqrtf((float)hs);
    long long LL = (long long)L * L;
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (size_t)b * L * 3 * H, *k = q + H;
        float *a = att + (size_t)b * nh * LL;
        be->gemm(be, 0, 1, L, L, hs, 1.0f, q, 3 * H, hs, k, 3 * H, hs, 0.0f, a, L, LL, nh);
    }
    cpu_softmax_fwd(be, att, att, B * nh * L, L, scale);
    const float *use = att;
    if (p > 0.0f) {
        cpu_dropout_fwd(be, attd, att, (size_t)B * nh * LL, p, seed, off);
        use = attd;
    }
    for (int b = 0; b < B; b++) {
        const float *v = qkv + (size_t)b * L * 3 * H + 2 * H;
        be->gemm(be, 0, 0, L, hs, L, 1.0f, use + (size_t)b * nh * LL, L, LL, v, 3 * H, hs,
                 0.0f, out + (size_t)b * L * H, H, hs, nh);
    }
}

void cpu_attention_bwd(dsq_backend *be, float *dqkv, float *datt, const float *dout,
                       const float *qkv, const float *att, const float *attd,
                       int B, int L, int nh, int H, float p, uint64_t seed, uint64_t off) {
    int hs = H / nh;
    float scale = 1.0f / sqrtf((float)hs);
    long long LL = (long long)L * L;
    size_t natt = (size_t)B * nh * LL;
    const float *use = p > 0.0f ? attd : att;
    for (int b = 0; b < B; b++) {
        const float *v = qkv + (size_t)b * L * 3 * H + 2 * H;
        const float *g = dout + (size_t)b * L * H;
        float *dv = dqkv + (size_t)b * L * 3 * H + 2 * H;
        /* d attd = g v^T;  dv += attd^T g */
        be->gemm(be, 0, 1, L, L, hs, 1.0f, g, H, hs, v, 3 * H, hs, 0.0f,
                 datt + (size_t)b * nh * LL, L, LL, nh);
        be->gemm(be, 1, 0, L, hs, L, 1.0f, use + (size_t)b * nh * LL, L, LL, g, H, hs, 1.0f,
                 dv, 3 * H, hs, nh);
    }
    if (p > 0.0f) {
        /* Through the dropout, in place: datt = mask * datt / (1-p), the
         * forward's mask applied to the gradient (elementwise, so it may alias). */
        cpu_dropout_fwd(be, datt, datt, natt, p, seed, off);
    }
    /* Through the softmax, in place: datt becomes d scores (scale folded). */
#pragma omp parallel for
    for (size_t r = 0; r < (size_t)B * nh * L; r++)
        softmax_row_bwd(datt + r * L, 0, att + r * L, datt + r * L, L, scale);
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (size_t)b * L * 3 * H, *k = q + H;
        float *dq = dqkv + (size_t)b * L * 3 * H, *dk = dq + H;
        const float *ds = datt + (size_t)b * nh * LL;
        /* dq += ds k;  dk += ds^T q */
        be->gemm(be, 0, 0, L, hs, L, 1.0f, ds, L, LL, k, 3 * H, hs, 1.0f, dq, 3 * H, hs, nh);
        be->gemm(be, 1, 0, L, hs, L, 1.0f, ds, L, LL, q, 3 * H, hs, 1.0f, dk, 3 * H, hs, nh);
    }
}

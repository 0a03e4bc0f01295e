/* CPU backend: LayerNorm, pointwise nonlinearities, softmax, dropout, and
 * the fixed-block linear layer of inference (linear_fixed_fwd). */
#include "backend_cpu.h"

#include <cblas.h>
#include <math.h>

#include "err.h"
#include "philox.h"

/* One row: o = (x - mean) rstd w + b.  The sums are in double and
 * vectorised (the order of the additions is the vector lanes', the
 * precision double). */
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

/* 0.5 x (1 + erf(x / sqrt 2)) with PyTorch's vectorised erf (dsq_gelu). */
VEC_CLONES VEC_MATH void cpu_gelu_as_torch(float *out, const float *inp, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = dsq_gelu(inp[i]);
}

/* dinp += dout * (cdf(x) + x pdf(x)), as PyTorch's vectorised backward. */
VEC_CLONES VEC_MATH static void gelu_bwd_range(float *dinp, const float *inp,
                                               const float *dout, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * dsq_gelu_grad(inp[i]);
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
        float e = dsq_exp_neg0(mx - scale * x[j]);
        o[j] = e;
        s += e;
    }
    float inv = (float)(1.0 / s);
#pragma omp simd
    for (int j = 0; j < cols; j++) o[j] *= inv;
}

/* d x_j = scale * y_j (g_j - sum_k y_k g_k); dx may alias g (row-local). */
VEC_CLONES VEC_MATH void cpu_softmax_row_bwd(float *dx, int accumulate, const float *y,
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
        cpu_softmax_row_bwd(dinp + (size_t)i * cols, 1, out + (size_t)i * cols,
                            dout + (size_t)i * cols, cols, scale);
}

/* The Philox words of elements e0 .. e0+n-1 of stream (seed, off), e0 a
 * multiple of 4 (element e is word e % 4 of block e / 4): the numbers of
 * dsq_philox_block, for many blocks at once so that the rounds vectorise.
 * w has room for n rounded up to 4. */
VEC_CLONES VEC_MATH static void philox_words(uint32_t *w, size_t n, uint64_t seed,
                                             uint64_t off, uint64_t e0) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    size_t nb = (n + 3) / 4;
#pragma omp simd
    for (size_t i = 0; i < nb; i++) {
        uint64_t g = e0 / 4 + i;
        uint32_t c0 = (uint32_t)g, c1 = (uint32_t)(g >> 32), c2 = (uint32_t)off,
                 c3 = (uint32_t)(off >> 32), k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int r = 0; r < 10; r++) {
            uint64_t p0 = (uint64_t)M0 * c0, p1 = (uint64_t)M1 * c2;
            c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
            c1 = (uint32_t)p1;
            c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
            c3 = (uint32_t)p0;
            k0 += W0;
            k1 += W1;
        }
        w[4 * i] = c0;
        w[4 * i + 1] = c1;
        w[4 * i + 2] = c2;
        w[4 * i + 3] = c3;
    }
}

/* dst[i] (=, or += when accumulate) src[i] * keep where the uniform of
 * word w[i] is >= p.  The uniform is dsq_philox_uniform's, converted from a
 * signed int (the 24 bits fit), which SSE2 vectorises and unsigned not. */
VEC_CLONES VEC_MATH static void dropout_range(float *dst, const float *src, const uint32_t *w,
                                              size_t n, float p, float keep, int accumulate) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float u = (float)(int32_t)(w[i] >> 8) * (1.0f / 16777216.0f);
        float x = src[i] * keep, v = u >= p ? x : 0.0f;
        dst[i] = accumulate ? dst[i] + v : v;
    }
}

/* dst[i] (=, or += when accumulate) src[i] / (1-p) where the Philox draw
 * for element i keeps it: the one mask both directions share.  Runs of RUN
 * elements: their words, then the mask applied. */
static void dropout_apply(float *dst, const float *src, size_t n, float p, uint64_t seed,
                          uint64_t off, int accumulate) {
    enum { RUN = 1024 };
    float keep = 1.0f / (1.0f - p);
    size_t nr = (n + RUN - 1) / RUN;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < nr; r++) {
        uint32_t w[RUN];
        size_t e0 = r * RUN, len = n - e0 < RUN ? n - e0 : RUN;
        philox_words(w, len, seed, off, e0);
        dropout_range(dst + e0, src + e0, w, len, p, keep, accumulate);
    }
}

void cpu_dropout_fwd(dsq_backend *be, float *out, const float *inp, size_t n,
                     float p, uint64_t seed, uint64_t off) {
    (void)be;
    dropout_apply(out, inp, n, p, seed, off, 0);
}

void cpu_dropout_bwd(dsq_backend *be, float *dinp, const float *dout, size_t n,
                     float p, uint64_t seed, uint64_t off) {
    (void)be;
    dropout_apply(dinp, dout, n, p, seed, off, 1);
}

/* The BERTScore encoder's linear layer (lib/metrics/bert.c), whose result does
 * not depend on the thread count: the rows are cut into blocks fixed by N
 * alone, each computed by one single-threaded sgemm call (OpenBLAS's
 * results depend on the call's shape). */
/* Blocks of 128 rows of inp, one sgemm each; then bias and activation per
 * row while the block is in cache.  Under 16-bit arithmetic (cpu_prec)
 * the sgemm calls read inp and weight rounded once. */
void cpu_linear_fixed_fwd(dsq_backend *be, float *out, const float *inp,
                          const float *weight, const float *bias, int N, int C, int OC,
                          int act) {
    enum { ROWS = 128 };
    int nb = (N + ROWS - 1) / ROWS, prec = cpu_prec(be);
    float *rx = NULL, *rw = NULL;
    if (prec != DSQ_PREC_FP32 && N > 0) {
        rx = xmalloc((size_t)N * C * sizeof *rx);
        rw = xmalloc((size_t)OC * C * sizeof *rw);
        cpu_round_par(prec, rx, inp, (size_t)N * C);
        cpu_round_par(prec, rw, weight, (size_t)OC * C);
        inp = rx;
        weight = rw;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int blk = 0; blk < nb; blk++) {
        int r0 = blk * ROWS, m = N - r0 < ROWS ? N - r0 : ROWS;
        float *o = out + (size_t)r0 * OC;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, OC, C, 1.0f,
                    inp + (size_t)r0 * C, C, weight, C, 0.0f, o, OC);
        for (int i = 0; i < m; i++) {
            float *row = o + (size_t)i * OC;
            if (bias)
                for (int j = 0; j < OC; j++) row[j] += bias[j];
            if (act == 1) cpu_gelu_as_torch(row, row, (size_t)OC);
        }
    }
    free(rx);
    free(rw);
}

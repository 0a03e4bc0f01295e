/* CPU backend: embeddings, model inputs, randomness, optimiser updates. */
#include "backend_cpu.h"

#include <math.h>

#include "philox.h"

void cpu_embedding_fwd(dsq_backend *be, float *out, const int32_t *ids,
                       const float *table, int N, int C, int V) {
    (void)be; (void)V;
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        const float *row = table + (size_t)ids[i] * C;
        float *o = out + (size_t)i * C;
        for (int j = 0; j < C; j++) o[j] = row[j];
    }
}

/* Column blocks in parallel; each walks n in order: no races, and every
 * row of dtable sums its contributions in increasing n. */
void cpu_embedding_bwd(dsq_backend *be, float *dtable, const int32_t *ids,
                       const float *dout, int N, int C, int V) {
    (void)be; (void)V;
    enum { BLK = 32 };
    int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for
    for (int bi = 0; bi < nblk; bi++) {
        int j0 = bi * BLK, j1 = j0 + BLK < C ? j0 + BLK : C;
        for (int i = 0; i < N; i++) {
            float *d = dtable + (size_t)ids[i] * C;
            const float *g = dout + (size_t)i * C;
            for (int j = j0; j < j1; j++) d[j] += g[j];
        }
    }
}

/* float32 throughout, in the reference's order of operations:
 * (float)(-ln 10000) * j, divided by half, exp; then t * f, cos / sin. */
void cpu_timestep_embedding(dsq_backend *be, float *out, const float *t, int B, int dim) {
    (void)be;
    int half = dim / 2;
    const float neg_log = (float)(-log(10000.0));
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * dim;
        for (int j = 0; j < half; j++) {
            float f = expf(neg_log * (float)j / (float)half);
            float a = t[b] * f;
            o[j] = cosf(a);
            o[half + j] = sinf(a);
        }
        if (dim % 2) o[dim - 1] = 0.0f;
    }
}

void cpu_add_time_pos_fwd(dsq_backend *be, float *out, const float *x, const float *tv,
                          const float *pos, int B, int L, int C) {
    (void)be;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            size_t r = ((size_t)b * L + l) * C;
            for (int j = 0; j < C; j++)
                out[r + j] = pos[(size_t)l * C + j] + x[r + j] + tv[(size_t)b * C + j];
        }
}

void cpu_add_time_pos_bwd(dsq_backend *be, float *dx, float *dtv, float *dpos,
                          const float *dout, int B, int L, int C) {
    (void)be;
    size_t n = (size_t)B * L * C;
    if (dx) {
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) dx[i] += dout[i];
    }
    if (dtv) {
#pragma omp parallel for
        for (int b = 0; b < B; b++)
            for (int l = 0; l < L; l++)
                for (int j = 0; j < C; j++)
                    dtv[(size_t)b * C + j] += dout[((size_t)b * L + l) * C + j];
    }
    if (dpos) {
#pragma omp parallel for
        for (int l = 0; l < L; l++)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < C; j++)
                    dpos[(size_t)l * C + j] += dout[((size_t)b * L + l) * C + j];
    }
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

void cpu_randn(dsq_backend *be, float *out, size_t n, uint64_t seed, uint64_t off) {
    (void)be;
    size_t ng = (n + 3) / 4;
#pragma omp parallel for
    for (size_t g = 0; g < ng; g++) {
        uint32_t x[4];
        float v[4];
        dsq_philox_block(seed, off, g, x);
        dsq_philox_box_muller(x[0], x[1], &v[0], &v[1]);
        dsq_philox_box_muller(x[2], x[3], &v[2], &v[3]);
        for (size_t l = 0; l < 4 && g * 4 + l < n; l++) out[g * 4 + l] = v[l];
    }
}

/* AdamW on n elements; k = {decay, beta1, beta2, 1 - beta1, 1 - beta2,
 * sqrt(bias correction 2), eps, step size}.  Vectorised (it was scalar):
 * the same results, elementwise. */
VEC_CLONES VEC_MATH static void adamw_range(float *param, const float *grad, float *m,
                                            float *v, size_t n, const float *k) {
    float decay = k[0], beta1 = k[1], beta2 = k[2], a1 = k[3], a2 = k[4];
    float bc2_sqrt = k[5], eps = k[6], step_size = k[7];
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = m[i] * beta1 + a1 * g;
        float vi = v[i] * beta2 + a2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

/* torch.optim.AdamW (1.13, single-tensor): the scalar factors are Python
 * floats (double), applied as float32. */
void cpu_adamw(dsq_backend *be, float *param, const float *grad, float *m, float *v,
               size_t n, float lr, float beta1, float beta2, float eps, float wd, int step) {
    (void)be;
    double bc1 = 1.0 - pow((double)beta1, step);
    double bc2 = 1.0 - pow((double)beta2, step);
    const float k[8] = {(float)(1.0 - (double)lr * wd), beta1, beta2, (float)(1.0 - beta1),
                        (float)(1.0 - beta2), (float)sqrt(bc2), eps, (float)((double)lr / bc1)};
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < cpu_nblk(n); b++) {
        size_t o = b * CPU_BLK;
        adamw_range(param + o, grad + o, m + o, v + o, cpu_blk_len(b, n), k);
    }
}

void cpu_ema(dsq_backend *be, float *ema, const float *param, size_t n, float rate) {
    (void)be;
    float a = (float)(1.0 - (double)rate);
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) ema[i] = ema[i] * rate + a * param[i];
}

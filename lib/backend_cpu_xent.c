/* CPU backend: the fused, chunked vocabulary cross-entropy.  Per chunk of
 * rows: logits by GEMM, a row-parallel log-softmax in place (the scratch
 * becomes gscale * (softmax - onehot)), then the three gradient GEMMs.
 * Chunks run in order, so the result is deterministic. */
#include "backend_cpu.h"

#include <math.h>
#include <string.h>

#include "err.h"

/* e^x for x <= 0, vectorisable (the libm call is not, and the exponentials
 * of the [N, V] logits are most of this operation's non-GEMM time):
 * x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its
 * degree-6 Taylor polynomial (relative error < 2e-7), times 2^n built in
 * the exponent bits.  Below -87 the result is flushed to ~1e-38. */
static inline float xent_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = (float)(int)(x * 1.44269504f - 0.5f);  /* round(x / ln2), x <= 0 */
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f +
              r * (0.00833333377f + r * 0.00138888892f)))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* One row of logits x[V] against label y: returns the CE loss and, when
 * grad, overwrites x with gs * (softmax(x) - onehot(y)).  Compiled with
 * GCC's dynamic vectorizer cost model: the -O2 default ("very cheap")
 * leaves these reductions scalar, at 3x the time. */
__attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
static float xent_row(float *x, int V, int y, float gs, int grad) {
    float xy = x[y], mx = -INFINITY, s = 0.0f;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    if (grad) {
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < V; j++) {
            float ej = xent_expf(x[j] - mx);
            x[j] = ej;
            s += ej;
        }
        float k = gs / s;
#pragma omp simd
        for (int j = 0; j < V; j++) x[j] *= k;
        x[y] -= gs;
    } else {
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < V; j++) s += xent_expf(x[j] - mx);
    }
    return (float)((double)mx + log((double)s) - xy);
}

/* Default chunk: at most 4M logits (16 MB of scratch). */
#define XENT_SCRATCH_FLOATS ((size_t)1 << 22)

void cpu_xent(dsq_backend *be, float *loss, float *dz, float *dW, float *dbias,
              const float *z, const float *W, const float *bias, const int32_t *ids,
              const float *gscale, int N, int d, int V, int chunk) {
    if (N <= 0) return;
    if (chunk <= 0) {
        size_t c = XENT_SCRATCH_FLOATS / (size_t)V;
        chunk = c < 1 ? 1 : c > (size_t)N ? N : (int)c;
    }
    if (chunk > N) chunk = N;
    float *lg = xmalloc((size_t)chunk * V * sizeof *lg);  /* [chunk, V] */
    for (int r0 = 0; r0 < N; r0 += chunk) {
        int n = N - r0 < chunk ? N - r0 : chunk;
        const float *zc = z + (size_t)r0 * d;
        be->gemm(be, 0, 1, n, V, d, 1.0f, zc, d, 0, W, d, 0, 0.0f, lg, V, 0, 1);
        be->bias_add(be, lg, bias, n, V);
#pragma omp parallel for
        for (int i = 0; i < n; i++) {
            float l = xent_row(lg + (size_t)i * V, V, ids[r0 + i], gscale ? gscale[r0 + i] : 0.0f,
                               gscale != NULL);
            if (loss) loss[r0 + i] = l;
        }
        if (!gscale) continue;
        if (dz) be->gemm(be, 0, 0, n, d, V, 1.0f, lg, V, 0, W, d, 0, 1.0f,
                         dz + (size_t)r0 * d, d, 0, 1);
        if (dW) be->gemm(be, 1, 0, V, d, n, 1.0f, lg, V, 0, zc, d, 0, 1.0f, dW, d, 0, 1);
        if (dbias) be->bias_grad(be, dbias, lg, n, V);
    }
    free(lg);
}

/* CPU backend: the fused, chunked vocabulary cross-entropy.  Per chunk of
 * rows: logits by GEMM, a row-parallel log-softmax in place (the scratch
 * becomes gscale * (softmax - onehot)), then the three gradient GEMMs.
 * Chunks run in order, so the result is deterministic. */
#include "backend_cpu.h"

#include <math.h>

#include "err.h"

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
            float *x = lg + (size_t)i * V;
            int y = ids[r0 + i];
            float mx = -INFINITY;
            for (int j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
            double s = 0;
            for (int j = 0; j < V; j++) s += exp((double)x[j] - mx);
            double lse = mx + log(s);
            if (loss) loss[r0 + i] = (float)(lse - x[y]);
            if (gscale) {
                float gs = gscale[r0 + i];
                for (int j = 0; j < V; j++) x[j] = gs * (float)exp((double)x[j] - lse);
                x[y] -= gs;
            }
        }
        if (!gscale) continue;
        if (dz) be->gemm(be, 0, 0, n, d, V, 1.0f, lg, V, 0, W, d, 0, 1.0f,
                         dz + (size_t)r0 * d, d, 0, 1);
        if (dW) be->gemm(be, 1, 0, V, d, n, 1.0f, lg, V, 0, zc, d, 0, 1.0f, dW, d, 0, 1);
        if (dbias) be->bias_grad(be, dbias, lg, n, V);
    }
    free(lg);
}

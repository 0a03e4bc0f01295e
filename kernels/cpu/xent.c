/* CPU backend: the fused, chunked vocabulary cross-entropy.  Per chunk of
 * rows: logits by GEMM, then a row-parallel pass that adds the bias, takes
 * the log-softmax and, for the gradient, overwrites the scratch with
 * gscale * (softmax - onehot) while summing it into per-thread bias
 * gradients; then the two gradient GEMMs.  Chunks run in order and rows are
 * split over threads statically, so the result is deterministic for a
 * given thread count. */
#include "backend_cpu.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "err.h"

/* x[V] += bias; returns max x. */
VEC_CLONES VEC_MATH static float add_bias_max(float *x, const float *bias, int V) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < V; j++) {
        float v = x[j] + bias[j];
        x[j] = v;
        mx = v > mx ? v : mx;
    }
    return mx;
}

/* x[j] = e^(x[j] - mx); returns their sum. */
VEC_CLONES VEC_MATH static float exp_sum(float *x, float mx, int V) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < V; j++) {
        float e = dsq_exp_neg0(mx - x[j]);
        x[j] = e;
        s += e;
    }
    return s;
}

/* x[j] = k x[j], added into acc[j] (the bias gradient).  Products below
 * FLT_MIN become 0: subnormal ones (most of the row early in training,
 * where k ~ 1e-4 and many x ~ e^-87) took 3x the time of the whole pass. */
VEC_CLONES VEC_MATH static void scale_acc(float *x, float *acc, float k, int V) {
    float cut = 1.17549435e-38f / fabsf(k);  /* |k x| >= FLT_MIN for x > cut */
#pragma omp simd
    for (int j = 0; j < V; j++) {
        float g = x[j] > cut ? k * x[j] : 0.0f;
        x[j] = g;
        acc[j] += g;
    }
}

/* One row of logits x[V] (bias not yet added) against label y: returns the
 * CE loss and, when acc, overwrites x with gs * (softmax(x) - onehot(y))
 * and adds that to acc[V].  (Storing the exponentials in the sum's pass
 * and scaling them costs less than computing them again.) */
static float xent_row(float *x, const float *bias, int V, int y, float gs, float *acc) {
    float mx = add_bias_max(x, bias, V), xy = x[y];
    float s = exp_sum(x, mx, V);
    if (acc) {
        scale_acc(x, acc, gs / s, V);
        x[y] -= gs;
        acc[y] -= gs;
    }
    return (float)((double)mx + log((double)s) - xy);
}

/* dz[n,d] += g[n,V] W[V,d] and dW[V,d] += g^T z[n,d] at once, on an even
 * number nt of threads: half of them split dz by rows, half dW.  Split
 * over all threads, each dz block packed all of W again; the two products
 * cost the same, so the halves finish together. */
static void grad_gemms(float *dz, float *dW, const float *g, const float *W, const float *z,
                       int n, int d, int V, int nt) {
    int h = nt / 2;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int j = 0; j < nt; j++) {
        int b = j % h, rows = j < h ? n : V;
        int lo = (int)((long long)rows * b / h), hi = (int)((long long)rows * (b + 1) / h);
        if (hi <= lo) continue;
        if (j < h)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, d, V, 1.0f,
                        g + (size_t)lo * V, V, W, d, 1.0f, dz + (size_t)lo * d, d);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, d, n, 1.0f, g + lo, V,
                        z, d, 1.0f, dW + (size_t)lo * d, d);
    }
}

/* Default chunk: at most 16M logits (64 MB of scratch): at V = 30,522 that
 * is 549 rows, enough that the GEMMs amortise packing W and updating dW
 * (N = 4,096, 1 thread: 137 rows take 5% more time than 274, 274 1% more
 * than 549; 2 threads: 274 take 3% more; 1,024 gain nothing more). */
#define XENT_SCRATCH_FLOATS ((size_t)1 << 24)

/* Under 16-bit arithmetic the products read W rounded once, each chunk of
 * z rounded once (the logits and dW read it), and the chunk's gradient
 * rounded in place once its row pass (and the bias gradient, from the
 * unrounded values) is done. */
void cpu_xent(dsq_backend *be, float *loss, float *dz, float *dW, float *dbias,
              const float *z, const float *W, const float *bias, const int32_t *ids,
              const float *gscale, int N, int d, int V, int chunk) {
    if (N <= 0) return;
    if (chunk <= 0) {
        size_t c = XENT_SCRATCH_FLOATS / (size_t)V;
        chunk = c < 1 ? 1 : c > (size_t)N ? N : (int)c;
    }
    if (chunk > N) chunk = N;
    int nt = omp_get_max_threads(), prec = cpu_prec(be), lowp = prec != DSQ_PREC_FP32;
    float *lg = cpu_scratch(be, CPU_SCRATCH_XENT, (size_t)chunk * V);  /* [chunk, V] */
    /* per-thread bias gradients [nt, V], summed in thread order at the end */
    float *part = gscale ? cpu_scratch(be, CPU_SCRATCH_XENT_BIAS, (size_t)nt * V) : NULL;
    if (part) memset(part, 0, (size_t)nt * V * sizeof *part);
    const float *Wu = W;  /* W as the products read it */
    if (lowp) {
        float *r = cpu_scratch(be, CPU_SCRATCH_LOWP_A, (size_t)V * d);
        cpu_round_par(prec, r, W, (size_t)V * d);
        Wu = r;
    }
    for (int r0 = 0; r0 < N; r0 += chunk) {
        int n = N - r0 < chunk ? N - r0 : chunk;
        const float *zc = z + (size_t)r0 * d;
        if (lowp) {
            float *r = cpu_scratch(be, CPU_SCRATCH_LOWP_B, (size_t)n * d);
            cpu_round_par(prec, r, zc, (size_t)n * d);
            zc = r;
        }
        cpu_gemm(be, 0, 1, n, V, d, 1.0f, zc, d, 0, Wu, d, 0, 0.0f, lg, V, 0, 1);
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int i = 0; i < n; i++) {
            float *acc = part ? part + (size_t)omp_get_thread_num() * V : NULL;
            float *x = lg + (size_t)i * V;
            float l = xent_row(x, bias, V, ids[r0 + i], gscale ? gscale[r0 + i] : 0.0f, acc);
            if (loss) loss[r0 + i] = l;
            if (lowp && gscale) cpu_round(prec, x, x, (size_t)V);
        }
        if (!gscale) continue;
        if (dz && dW && nt % 2 == 0) {
            grad_gemms(dz + (size_t)r0 * d, dW, lg, Wu, zc, n, d, V, nt);
            continue;
        }
        if (dz) cpu_gemm(be, 0, 0, n, d, V, 1.0f, lg, V, 0, Wu, d, 0, 1.0f,
                         dz + (size_t)r0 * d, d, 0, 1);
        if (dW) cpu_gemm(be, 1, 0, V, d, n, 1.0f, lg, V, 0, zc, d, 0, 1.0f, dW, d, 0, 1);
    }
    if (part && dbias)
        for (int t = 0; t < nt; t++) be->axpy(be, dbias, 1.0f, part + (size_t)t * V, (size_t)V);
}

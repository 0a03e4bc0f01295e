// CUDA backend: the fused, chunked vocabulary cross-entropy
// (kernels/cpu/xent.c).  Per chunk of rows: logits by one GEMM into a
// [chunk, V] scratch, bias, one block per row turning them into the loss
// and gscale * (softmax - onehot) in place (the CPU's exponential,
// kernels/numerics.h), then the three gradient products.  The [N, V] logits never exist.
#include <math.h>

#include "backend_cuda_impl.h"
#include "numerics.h"

enum { XENT_THREADS = 512 };

// Row i of the chunk: lg[i, :] holds the logits.  loss = logsumexp - x_y
// (float sums as the CPU; the final combination in double).  With grad,
// lg[i, :] becomes gs * (softmax - onehot(y)).  An id outside [0, V)
// gives a NaN loss (the CPU would read out of bounds).
static __global__ void xent_row_kernel(float *lg, float *loss, const int32_t *__restrict__ ids,
                                       const float *__restrict__ gscale, int V, int grad) {
    __shared__ float sh[32];
    __shared__ float s_xy;
    int i = blockIdx.x;
    float *x = lg + (size_t)i * V;
    int y = ids[i];
    int valid = y >= 0 && y < V;
    if (threadIdx.x == 0) s_xy = valid ? x[y] : NAN;  // read before any write
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, x[j]);
    mx = cu_block_max(mx, sh);  // its barriers also publish s_xy
    float s = 0.0f;
    if (grad) {
        for (int j = threadIdx.x; j < V; j += blockDim.x) {
            float e = dsq_exp_neg0(mx - x[j]);
            x[j] = e;
            s += e;
        }
    } else {
        for (int j = threadIdx.x; j < V; j += blockDim.x) s += dsq_exp_neg0(mx - x[j]);
    }
    s = cu_block_sum(s, sh);
    if (grad) {
        float gs = gscale[i], k = gs / s;
        for (int j = threadIdx.x; j < V; j += blockDim.x) x[j] *= k;
        __syncthreads();
        if (threadIdx.x == 0 && valid) x[y] -= gs;
    }
    if (loss && threadIdx.x == 0) loss[i] = (float)((double)mx + log((double)s) - s_xy);
}

// Default chunk: at most 64M logits (256 MB of scratch) at a time.
#define XENT_SCRATCH_FLOATS ((size_t)1 << 26)

void cu_xent(dsq_backend *be, float *loss, float *dz, float *dW, float *dbias, const float *z,
             const float *W, const float *bias, const int32_t *ids, const float *gscale, int N,
             int d, int V, int chunk) {
    if (N <= 0) return;
    if (chunk <= 0) {
        size_t c = XENT_SCRATCH_FLOATS / (size_t)V;
        chunk = c < 1 ? 1 : c > (size_t)N ? N : (int)c;
    }
    if (chunk > N) chunk = N;
    float *lg = (float *)cu_ws(be, CU_WS_SCRATCH, (size_t)chunk * V * sizeof(float));
    for (int r0 = 0; r0 < N; r0 += chunk) {
        int n = N - r0 < chunk ? N - r0 : chunk;
        const float *zc = z + (size_t)r0 * d;
        cu_gemm(be, 0, 1, n, V, d, 1.0f, zc, d, 0, W, d, 0, 0.0f, lg, V, 0, 1);
        if (bias) cu_bias_add(be, lg, bias, n, V);
        xent_row_kernel<<<(unsigned)n, XENT_THREADS, 0, cu_stream(be)>>>(
            lg, loss ? loss + r0 : NULL, ids + r0, gscale ? gscale + r0 : NULL, V,
            gscale != NULL);
        CU_AFTER(be);
        if (!gscale) continue;
        if (dz) cu_gemm(be, 0, 0, n, d, V, 1.0f, lg, V, 0, W, d, 0, 1.0f, dz + (size_t)r0 * d, d,
                        0, 1);
        if (dW) cu_gemm(be, 1, 0, V, d, n, 1.0f, lg, V, 0, zc, d, 0, 1.0f, dW, d, 0, 1);
        if (dbias) cu_bias_grad(be, dbias, lg, n, V);
    }
}

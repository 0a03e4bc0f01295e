// CUDA backend: LayerNorm, pointwise nonlinearities, row softmax, dropout
// (the CPU's Philox streams, lib/base/philox_core.h) and the fixed-block
// linear layer with PyTorch's vectorised GELU, with the CPU backend's
// formulas (kernels/numerics.h: GELU, its erf and the exponential of the
// softmax) and accumulation precisions (kernels/cpu/nn.c): one warp per row
// for the row operations.
#include <math.h>

#include "backend_cuda_impl.h"
#include "numerics.h"
#include "philox_core.h"

enum { ROWS_PER_BLOCK = 8 };  // warps per block of the row kernels

static unsigned row_grid(int rows) {
    return (unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
}

// ---- LayerNorm --------------------------------------------------------------

// Sums in double as the CPU: mean, then the biased variance of (x - m)
// with the difference rounded to float first.
static __global__ void layernorm_fwd_kernel(float *out, float *__restrict__ mean,
                                            float *__restrict__ rstd, const float *inp,
                                            const float *__restrict__ weight,
                                            const float *__restrict__ bias, int N, int C,
                                            float eps) {
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    float *o = out + (size_t)row * C;
    double s = 0;
    for (int j = lane; j < C; j += 32) s += x[j];
    s = cu_warp_sum(s);
    float m = (float)(s / C);
    double v = 0;
    for (int j = lane; j < C; j += 32) {
        double d = x[j] - m;
        v += d * d;
    }
    v = cu_warp_sum(v);
    float rs = (float)(1.0 / sqrt(v / C + eps));
    for (int j = lane; j < C; j += 32) o[j] = (x[j] - m) * rs * weight[j] + bias[j];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = rs;
    }
}

void cu_layernorm_fwd(dsq_backend *be, float *out, float *mean, float *rstd, const float *inp,
                      const float *weight, const float *bias, int N, int C, float eps) {
    if (N <= 0) return;
    layernorm_fwd_kernel<<<row_grid(N), 32 * ROWS_PER_BLOCK, 0, cu_stream(be)>>>(
        out, mean, rstd, inp, weight, bias, N, C, eps);
    CU_AFTER(be);
}

static __global__ void layernorm_bwd_dinp_kernel(float *__restrict__ dinp,
                                                 const float *__restrict__ dout,
                                                 const float *__restrict__ inp,
                                                 const float *__restrict__ weight,
                                                 const float *__restrict__ mean,
                                                 const float *__restrict__ rstd, int N, int C) {
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C, *g = dout + (size_t)row * C;
    float *dx = dinp + (size_t)row * C;
    float m = mean[row], rs = rstd[row];
    double a = 0, b = 0;  // mean(dnorm), mean(dnorm * norm)
    for (int j = lane; j < C; j += 32) {
        float dn = weight[j] * g[j];
        a += dn;
        b += (double)dn * ((x[j] - m) * rs);
    }
    a = cu_warp_sum(a);
    b = cu_warp_sum(b);
    float ma = (float)(a / C), mb = (float)(b / C);
    for (int j = lane; j < C; j += 32) {
        float norm = (x[j] - m) * rs;
        dx[j] += (weight[j] * g[j] - ma - norm * mb) * rs;
    }
}

struct ln_dweight_term {  // (x - mean) * rstd * dout
    const float *x, *g, *mean, *rstd;
    int C;
    __device__ float operator()(int i, int j) const {
        size_t k = (size_t)i * C + j;
        return (x[k] - mean[i]) * rstd[i] * g[k];
    }
};

struct ln_dbias_term {
    const float *g;
    int C;
    __device__ float operator()(int i, int j) const { return g[(size_t)i * C + j]; }
};

void cu_layernorm_bwd(dsq_backend *be, float *dinp, float *dweight, float *dbias,
                      const float *dout, const float *inp, const float *weight,
                      const float *mean, const float *rstd, int N, int C) {
    if (N <= 0) return;
    if (dinp) {
        layernorm_bwd_dinp_kernel<<<row_grid(N), 32 * ROWS_PER_BLOCK, 0, cu_stream(be)>>>(
            dinp, dout, inp, weight, mean, rstd, N, C);
        CU_AFTER(be);
    }
    if (dweight) cu_colsum<float>(be, dweight, N, C, ln_dweight_term{inp, dout, mean, rstd, C});
    if (dbias) cu_colsum<float>(be, dbias, N, C, ln_dbias_term{dout, C});
}

// ---- pointwise nonlinearities (out may alias inp) ------------------------------

static __global__ void gelu_fwd_kernel(float *out, const float *inp, size_t n) {
    GRID_STRIDE(i, n) out[i] = dsq_gelu(inp[i]);
}

static __global__ void gelu_bwd_kernel(float *__restrict__ dinp, const float *__restrict__ inp,
                                       const float *__restrict__ dout, size_t n) {
    GRID_STRIDE(i, n) dinp[i] += dout[i] * dsq_gelu_grad(inp[i]);
}

static __global__ void tanh_fwd_kernel(float *out, const float *inp, size_t n) {
    GRID_STRIDE(i, n) out[i] = tanhf(inp[i]);
}

static __global__ void tanh_bwd_kernel(float *__restrict__ dinp, const float *__restrict__ out,
                                       const float *__restrict__ dout, size_t n) {
    GRID_STRIDE(i, n) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

static __global__ void silu_fwd_kernel(float *out, const float *inp, size_t n) {
    GRID_STRIDE(i, n) out[i] = inp[i] / (1.0f + expf(-inp[i]));
}

static __global__ void silu_bwd_kernel(float *__restrict__ dinp, const float *__restrict__ inp,
                                       const float *__restrict__ dout, size_t n) {
    GRID_STRIDE(i, n) {
        float s = 1.0f / (1.0f + expf(-inp[i]));
        dinp[i] += dout[i] * s * (1.0f + inp[i] * (1.0f - s));
    }
}

void cu_gelu_fwd(dsq_backend *be, float *out, const float *inp, size_t n) {
    if (!n) return;
    gelu_fwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(out, inp, n);
    CU_AFTER(be);
}

void cu_gelu_bwd(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    if (!n) return;
    gelu_bwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(dinp, inp, dout,
                                                                              n);
    CU_AFTER(be);
}

void cu_tanh_fwd(dsq_backend *be, float *out, const float *inp, size_t n) {
    if (!n) return;
    tanh_fwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(out, inp, n);
    CU_AFTER(be);
}

void cu_tanh_bwd(dsq_backend *be, float *dinp, const float *out, const float *dout, size_t n) {
    if (!n) return;
    tanh_bwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(dinp, out, dout,
                                                                              n);
    CU_AFTER(be);
}

void cu_silu_fwd(dsq_backend *be, float *out, const float *inp, size_t n) {
    if (!n) return;
    silu_fwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(out, inp, n);
    CU_AFTER(be);
}

void cu_silu_bwd(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    if (!n) return;
    silu_bwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(dinp, inp, dout,
                                                                              n);
    CU_AFTER(be);
}

// ---- row softmax ---------------------------------------------------------------

// out = softmax(scale * inp) per row; the exponentials' sum in double.
// Each lane reads and writes only its own elements, so out may alias inp.
static __global__ void softmax_fwd_kernel(float *out, const float *inp, int rows, int cols,
                                          float scale) {
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float *x = inp + (size_t)row * cols;
    float *o = out + (size_t)row * cols;
    float mx = -INFINITY;
    for (int j = lane; j < cols; j += 32) mx = fmaxf(mx, scale * x[j]);
    mx = cu_warp_max(mx);
    double s = 0;
    for (int j = lane; j < cols; j += 32) {
        float e = dsq_exp_neg0(mx - scale * x[j]);
        o[j] = e;
        s += e;
    }
    s = cu_warp_sum(s);
    float inv = (float)(1.0 / s);
    for (int j = lane; j < cols; j += 32) o[j] *= inv;
}

void cu_softmax_fwd(dsq_backend *be, float *out, const float *inp, int rows, int cols,
                    float scale) {
    if (rows <= 0 || cols <= 0) return;
    softmax_fwd_kernel<<<row_grid(rows), 32 * ROWS_PER_BLOCK, 0, cu_stream(be)>>>(
        out, inp, rows, cols, scale);
    CU_AFTER(be);
}

// d x_j = scale * y_j (g_j - sum_k y_k g_k), the sum in double; dx may
// alias g (each lane finishes reading before the reduction, then writes
// only its own elements).
static __global__ void softmax_bwd_kernel(float *dinp, const float *__restrict__ out,
                                          const float *dout, int rows, int cols, float scale,
                                          int accumulate) {
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float *y = out + (size_t)row * cols, *g = dout + (size_t)row * cols;
    float *dx = dinp + (size_t)row * cols;
    double s = 0;
    for (int j = lane; j < cols; j += 32) s += (double)y[j] * g[j];
    s = cu_warp_sum(s);
    float fs = (float)s;
    for (int j = lane; j < cols; j += 32) {
        float d = scale * y[j] * (g[j] - fs);
        dx[j] = accumulate ? dx[j] + d : d;
    }
}

void cu_softmax_bwd_rows(dsq_backend *be, float *dinp, const float *out, const float *dout,
                         int rows, int cols, float scale, int accumulate) {
    if (rows <= 0 || cols <= 0) return;
    softmax_bwd_kernel<<<row_grid(rows), 32 * ROWS_PER_BLOCK, 0, cu_stream(be)>>>(
        dinp, out, dout, rows, cols, scale, accumulate);
    CU_AFTER(be);
}

void cu_softmax_bwd(dsq_backend *be, float *dinp, const float *out, const float *dout,
                    int rows, int cols, float scale) {
    cu_softmax_bwd_rows(be, dinp, out, dout, rows, cols, scale, 1);
}

// ---- dropout ------------------------------------------------------------------

// dst[i] (=, or += when accumulate) src[i] * keep where element i of the
// uniform stream (seed, off) is >= p, else 0: one thread per Philox block
// of four elements.  dst may alias src.
static __global__ void dropout_kernel(float *dst, const float *src, size_t n, float p, float keep,
                                      uint64_t seed, uint64_t off, int accumulate) {
    size_t ng = (n + 3) / 4;
    GRID_STRIDE(g, ng) {
        uint32_t x[4];
        dsq_philox_block_inl(seed, off, g, x);
        for (int l = 0; l < 4; l++) {
            size_t i = g * 4 + l;
            if (i >= n) break;
            float v = dsq_philox_uniform(x[l]) >= p ? src[i] * keep : 0.0f;
            dst[i] = accumulate ? dst[i] + v : v;
        }
    }
}

static void dropout(dsq_backend *be, float *dst, const float *src, size_t n, float p,
                    uint64_t seed, uint64_t off, int accumulate) {
    if (!n) return;
    float keep = 1.0f / (1.0f - p);
    dropout_kernel<<<cu_grid((n + 3) / 4, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
        dst, src, n, p, keep, seed, off, accumulate);
    CU_AFTER(be);
}

void cu_dropout_fwd(dsq_backend *be, float *out, const float *inp, size_t n, float p,
                    uint64_t seed, uint64_t off) {
    dropout(be, out, inp, n, p, seed, off, 0);
}

void cu_dropout_bwd(dsq_backend *be, float *dinp, const float *dout, size_t n, float p,
                    uint64_t seed, uint64_t off) {
    dropout(be, dinp, dout, n, p, seed, off, 1);
}

// ---- fixed-block linear with PyTorch's GELU -------------------------------------

static __global__ void bias_act_kernel(float *out, const float *__restrict__ bias, size_t n, int OC,
                                       int act) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = out[i];
        if (bias) v += bias[i % (size_t)OC];
        if (act == 1) v = dsq_gelu(v);
        out[i] = v;
    }
}

// One GEMM: cuBLAS does not split by threads, so the result depends on
// the shapes only, as the operation requires.
void cu_linear_fixed_fwd(dsq_backend *be, float *out, const float *inp, const float *weight,
                         const float *bias, int N, int C, int OC, int act) {
    if (N <= 0 || OC <= 0) return;
    cu_gemm(be, 0, 1, N, OC, C, 1.0f, inp, C, 0, weight, C, 0, 0.0f, out, OC, 0, 1);
    if (!bias && act != 1) return;
    size_t n = (size_t)N * OC;
    bias_act_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(out, bias, n, OC,
                                                                              act);
    CU_AFTER(be);
}

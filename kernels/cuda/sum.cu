// CUDA backend: bias broadcast and gradient, pointwise arithmetic and the
// sum of squares, each in the CPU backend's order of float operations
// (kernels/cpu/sum.c).
#include <math.h>

#include "backend_cuda_impl.h"

// out[N,C] += bias[C]
static __global__ void bias_add_kernel(float *__restrict__ out, const float *__restrict__ bias,
                                       size_t n, int C) {
    GRID_STRIDE(i, n) out[i] += bias[i % (size_t)C];
}

void cu_bias_add(dsq_backend *be, float *out, const float *bias, int N, int C) {
    size_t n = (size_t)N * C;
    if (!n) return;
    bias_add_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(out, bias, n, C);
    CU_AFTER(be);
}

// Element (i, j) of a row-major [N, C] matrix, for cu_colsum.
struct cu_elem {
    const float *x;
    int C;
    __device__ float operator()(int i, int j) const { return x[(size_t)i * C + j]; }
};

// dbias[C] += column sums of dout[N,C]
void cu_bias_grad(dsq_backend *be, float *dbias, const float *dout, int N, int C) {
    cu_colsum<float>(be, dbias, N, C, cu_elem{dout, C});
}

// out = a + b (may alias)
static __global__ void add_kernel(float *out, const float *a, const float *b, size_t n) {
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

void cu_add(dsq_backend *be, float *out, const float *a, const float *b, size_t n) {
    if (!n) return;
    add_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(out, a, b, n);
    CU_AFTER(be);
}

// dst += alpha * src
static __global__ void axpy_kernel(float *dst, float alpha, const float *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] += alpha * src[i];
}

void cu_axpy(dsq_backend *be, float *dst, float alpha, const float *src, size_t n) {
    if (!n) return;
    axpy_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(dst, alpha, src, n);
    CU_AFTER(be);
}

static __global__ void scale_kernel(float *x, float s, size_t n) {
    GRID_STRIDE(i, n) x[i] *= s;
}

void cu_scale(dsq_backend *be, float *x, float s, size_t n) {
    if (!n) return;
    scale_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(x, s, n);
    CU_AFTER(be);
}

// Sum of squares in double: one block per chunk of SUMSQ_CHUNK elements
// (the CPU's chunk), then the chunk sums in order by one block.
enum { SUMSQ_CHUNK = 1 << 16 };

static __global__ void sumsq_part_kernel(double *part, const float *__restrict__ x, size_t n) {
    __shared__ double sh[32];
    size_t i0 = (size_t)blockIdx.x * SUMSQ_CHUNK;
    size_t i1 = i0 + SUMSQ_CHUNK < n ? i0 + SUMSQ_CHUNK : n;
    double s = 0;
    for (size_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) s += (double)x[i] * x[i];
    s = cu_block_sum(s, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

static __global__ void sumsq_finish_kernel(float *out, const double *part, size_t nch) {
    __shared__ double sh[32];
    // Each thread sums a contiguous run of chunk sums; the runs are then
    // combined in a fixed tree: deterministic.
    size_t per = (nch + blockDim.x - 1) / blockDim.x;
    size_t c0 = threadIdx.x * per, c1 = c0 + per < nch ? c0 + per : nch;
    double s = 0;
    for (size_t c = c0; c < c1; c++) s += part[c];
    s = cu_block_sum(s, sh);
    if (threadIdx.x == 0) out[0] = (float)s;
}

void cu_sumsq(dsq_backend *be, float *out, const float *x, size_t n) {
    size_t nch = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
    double *part = (double *)cu_ws(be, CU_WS_REDUCE, (nch ? nch : 1) * sizeof(double));
    if (nch)
        sumsq_part_kernel<<<(unsigned)nch, CU_THREADS, 0, cu_stream(be)>>>(part, x, n);
    sumsq_finish_kernel<<<1, CU_THREADS, 0, cu_stream(be)>>>(out, part, nch);
    CU_AFTER(be);
}

// Private to the CUDA backend (kernels/cuda/*.cu): its state, the helpers
// its files share (workspaces, launch checks, grid-stride loops,
// reductions, the head-batched GEMM), and the operations each file
// implements, gathered into the dsq_backend table by core.cu.  One file per
// family of operations, the same stems as the CPU backend's (kernels/cpu/).
// Model code uses include/dsq/backend.h and kernels/cuda/backend_cuda.h.
#ifndef DSQ_BACKEND_CUDA_IMPL_H
#define DSQ_BACKEND_CUDA_IMPL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "cuda_check.h"

extern "C" {
#include "backend.h"
}

// Scratch buffers of the backend, one per purpose so that an operation
// can hold several at once (xent's logits while bias_grad reduces).
enum {
    CU_WS_SCRATCH,  // big per-op scratch: xent logits, masked attention scores
    CU_WS_REDUCE,   // partial sums of the reductions
    CU_WS_PTRS,     // pointer arrays of the head-batched GEMMs
    CU_WS_N
};

typedef struct {
    int device;
    int sms;                 // multiprocessors
    int sync_each;           // DSQ_CUDA_SYNC=1: sync and check after each op
    int prec;                // DSQ_PREC_*: GEMM arithmetic (set_precision)
    cudaStream_t stream;     // every operation runs on it, in order
    cublasHandle_t blas;
    void *ws[CU_WS_N];
    size_t ws_bytes[CU_WS_N];
    void *nccl;              // ncclComm_t of comm_init (core.cu), or NULL
    int comm_rank, comm_size;
} cu_impl;

static inline cu_impl *cu(dsq_backend *be) { return (cu_impl *)be->impl; }
static inline cudaStream_t cu_stream(dsq_backend *be) { return cu(be)->stream; }

// Workspace `slot` of at least `bytes` bytes (grows; contents undefined).
void *cu_ws(dsq_backend *be, int slot, size_t bytes);

// After kernel launches: a launch error is fatal with file:line; with
// DSQ_CUDA_SYNC=1 the stream is also synchronised and checked.
void cu_after(dsq_backend *be, const char *file, int line);
#define CU_AFTER(be) cu_after((be), __FILE__, __LINE__)

// Threads per block of the simple kernels, and a grid for n items that
// grid-stride loops cover (never 0 blocks: callers return early on n == 0).
enum { CU_THREADS = 256 };
static inline unsigned cu_grid(size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    if (b > (1u << 20)) b = 1u << 20;
    return b ? (unsigned)b : 1u;
}

// In a kernel: for each i < n assigned to this thread by the grid-stride
// loop over the whole grid.
#define GRID_STRIDE(i, n)                                                      \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);     \
         i += (size_t)gridDim.x * blockDim.x)

// ---- warp and block reductions (fixed order: deterministic) ----------
template <typename T>
static __device__ __forceinline__ T cu_warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float cu_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result.  `sh` holds 32 T; contains __syncthreads.
template <typename T>
static __device__ __forceinline__ T cu_block_sum(T v, T *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = cu_warp_sum(v);
    __syncthreads();  // sh may still be read by a previous call
    if (lane == 0) sh[w] = v;
    __syncthreads();
    T s = lane < nw ? sh[lane] : (T)0;
    return cu_warp_sum(s);
}

static __device__ __forceinline__ float cu_block_max(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = cu_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float m = lane < nw ? sh[lane] : -INFINITY;
    return cu_warp_max(m);
}

// ---- column sums -------------------------------------------------------
// out[j] += sum over rows i < N of f(i, j), j < C, accumulated in Acc:
// blocks of 32 columns x `rows` rows (CU_COLSUM_ROWS, doubled while the
// grid would be too tall) write partial sums, a second kernel adds them in
// order.  The split depends on N and C only.
enum { CU_COLSUM_ROWS = 128 };

template <typename Acc, typename F>
static __global__ void cu_colsum_part_kernel(Acc *part, int N, int C, int rows, F f) {
    __shared__ Acc sh[8][32];
    int j = blockIdx.x * 32 + threadIdx.x;
    int r0 = blockIdx.y * rows;
    int r1 = r0 + rows < N ? r0 + rows : N;
    Acc acc = 0;
    if (j < C)
        for (int i = r0 + (int)threadIdx.y; i < r1; i += 8) acc += (Acc)f(i, j);
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && j < C) {
        Acc s = sh[0][threadIdx.x];
        for (int y = 1; y < 8; y++) s += sh[y][threadIdx.x];
        part[(size_t)blockIdx.y * C + j] = s;
    }
}

template <typename Acc>
static __global__ void cu_colsum_finish_kernel(float *out, const Acc *part, int nsplit, int C) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= C) return;
    Acc s = part[j];
    for (int k = 1; k < nsplit; k++) s += part[(size_t)k * C + j];
    out[j] += (float)s;
}

template <typename Acc, typename F>
static void cu_colsum(dsq_backend *be, float *out, int N, int C, F f) {
    if (N <= 0 || C <= 0) return;
    int rows = CU_COLSUM_ROWS;
    while ((N + rows - 1) / rows > 65535) rows *= 2;  // grid.y limit
    int nsplit = (N + rows - 1) / rows;
    Acc *part = (Acc *)cu_ws(be, CU_WS_REDUCE, (size_t)nsplit * C * sizeof(Acc));
    dim3 grid((unsigned)((C + 31) / 32), (unsigned)nsplit), block(32, 8);
    cu_colsum_part_kernel<Acc, F><<<grid, block, 0, cu_stream(be)>>>(part, N, C, rows, f);
    cu_colsum_finish_kernel<Acc><<<cu_grid((size_t)C, CU_THREADS), CU_THREADS, 0,
                                   cu_stream(be)>>>(out, part, nsplit, C);
    CU_AFTER(be);
}

// ---- GEMM ----------------------------------------------------------------
// backend.h's row-major strided-batched GEMM (core.cu).
void cu_gemm(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, long long stride_a, const float *b, int ldb,
             long long stride_b, float beta, float *c, int ldc, long long stride_c, int batch);

// The same over a two-level batch (sequence b < nb, head h < nh): operand
// X of product (b, h) starts at X + b * sXb + h * sXh.  One cuBLAS call
// (pointer arrays built on the device) instead of nb strided calls.
void cu_gemm_bh(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, long long sab, long long sah,
                const float *b, int ldb, long long sbb, long long sbh, float beta,
                float *c, int ldc, long long scb, long long sch, int nb, int nh);

// ---- operations, by file --------------------------------------------------
// sum.cu: bias, sums, pointwise arithmetic.
void cu_bias_add(dsq_backend *be, float *out, const float *bias, int N, int C);
void cu_bias_grad(dsq_backend *be, float *dbias, const float *dout, int N, int C);
void cu_add(dsq_backend *be, float *out, const float *a, const float *b, size_t n);
void cu_axpy(dsq_backend *be, float *dst, float alpha, const float *src, size_t n);
void cu_scale(dsq_backend *be, float *x, float s, size_t n);
void cu_sumsq(dsq_backend *be, float *out, const float *x, size_t n);

// nn.cu: LayerNorm, nonlinearities, softmax, dropout, fixed-block linear.
void cu_layernorm_fwd(dsq_backend *be, float *out, float *mean, float *rstd, const float *inp,
                      const float *weight, const float *bias, int N, int C, float eps);
void cu_layernorm_bwd(dsq_backend *be, float *dinp, float *dweight, float *dbias,
                      const float *dout, const float *inp, const float *weight,
                      const float *mean, const float *rstd, int N, int C);
void cu_gelu_fwd(dsq_backend *be, float *out, const float *inp, size_t n);
void cu_gelu_bwd(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n);
void cu_tanh_fwd(dsq_backend *be, float *out, const float *inp, size_t n);
void cu_tanh_bwd(dsq_backend *be, float *dinp, const float *out, const float *dout, size_t n);
void cu_silu_fwd(dsq_backend *be, float *out, const float *inp, size_t n);
void cu_silu_bwd(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n);
void cu_softmax_fwd(dsq_backend *be, float *out, const float *inp, int rows, int cols,
                    float scale);
void cu_softmax_bwd(dsq_backend *be, float *dinp, const float *out, const float *dout,
                    int rows, int cols, float scale);
// dinp[rows,cols] = (accumulate ? dinp + : ) softmax backward; dinp may
// alias dout (row-local), as attention's backward uses it.
void cu_softmax_bwd_rows(dsq_backend *be, float *dinp, const float *out, const float *dout,
                         int rows, int cols, float scale, int accumulate);
void cu_dropout_fwd(dsq_backend *be, float *out, const float *inp, size_t n, float p,
                    uint64_t seed, uint64_t off);
void cu_dropout_bwd(dsq_backend *be, float *dinp, const float *dout, size_t n, float p,
                    uint64_t seed, uint64_t off);
void cu_linear_fixed_fwd(dsq_backend *be, float *out, const float *inp, const float *weight,
                         const float *bias, int N, int C, int OC, int act);

// attn.cu: attention (training), masked attention with or without
// DeBERTa's relative terms (BERTScore inference).
void cu_attention_fwd(dsq_backend *be, float *out, float *att, float *attd, const float *qkv,
                      int B, int L, int nh, int H, float p, uint64_t seed, uint64_t off);
void cu_attention_bwd(dsq_backend *be, float *dqkv, float *datt, const float *dout,
                      const float *qkv, const float *att, const float *attd, int B, int L,
                      int nh, int H, float p, uint64_t seed, uint64_t off);
void cu_attention_masked_fwd(dsq_backend *be, float *out, const float *qkv, const float *mask,
                             int B, int L, int nh, int H);
void cu_attention_rel_fwd(dsq_backend *be, float *out, const float *qkv, const float *pk,
                          const float *pq, const float *mask, int B, int L, int nh, int H,
                          int S);

// xent.cu: fused chunked vocabulary cross-entropy.
void cu_xent(dsq_backend *be, float *loss, float *dz, float *dW, float *dbias, const float *z,
             const float *W, const float *bias, const int32_t *ids, const float *gscale, int N,
             int d, int V, int chunk);

// inputs.cu: embeddings and the model inputs.
void cu_embedding_fwd(dsq_backend *be, float *out, const int32_t *ids, const float *table,
                      int N, int C, int V);
void cu_embedding_bwd(dsq_backend *be, float *dtable, const int32_t *ids, const float *dout,
                      int N, int C, int V);
void cu_timestep_embedding(dsq_backend *be, float *out, const float *t, int B, int dim);
void cu_add_time_pos_fwd(dsq_backend *be, float *out, const float *x, const float *tv,
                         const float *pos, int B, int L, int C);
void cu_add_time_pos_bwd(dsq_backend *be, float *dx, float *dtv, float *dpos,
                         const float *dout, int B, int L, int C);

// optim.cu: AdamW and the EMA.
void cu_adamw(dsq_backend *be, float *param, const float *grad, float *m, float *v, size_t n,
              float lr, float beta1, float beta2, float eps, float wd, int step);
void cu_ema(dsq_backend *be, float *ema, const float *param, size_t n, float rate);

// prec.cu: set_precision, and the cuBLAS compute type of a 16-bit
// precision (DSQ_PREC_BF16 or DSQ_PREC_FP16) for cu_gemm and cu_gemm_bh.
void cu_set_precision(dsq_backend *be, int prec);
cublasComputeType_t cu_compute(int prec);

// round.cu: the running row-wise best of vocabulary scores.
void cu_row_best(dsq_backend *be, float *best, int32_t *idx, const float *scores,
                 const float *add, int N, int C, int col0, int sign);

// diff.cu: Gaussian noise, partial noising, per-sequence squared errors.
void cu_randn(dsq_backend *be, float *out, size_t n, uint64_t seed, uint64_t off);
void cu_q_sample_fwd(dsq_backend *be, float *xt, const float *x0, const float *eps,
                     const float *mean, const float *ca, const float *cb, const float *mask,
                     const float *dmask, int B, int L, int d);
void cu_q_sample_bwd(dsq_backend *be, float *dx0, float *dmean, const float *dxt,
                     const float *ca, const float *mask, const float *dmask, int B, int L,
                     int d);
void cu_sqerr_fwd(dsq_backend *be, float *loss, const float *x, const float *y, float sx,
                  int B, int n);
void cu_sqerr_bwd(dsq_backend *be, float *dx, float *dy, const float *gscale, const float *x,
                  const float *y, float sx, int B, int n);

#endif

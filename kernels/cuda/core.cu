// The CUDA backend: creation, memory, workspaces, GEMM (cuBLAS, row-major
// as backend.h defines it), and the table that gathers the operations of
// the other files of kernels/cuda/.
#include <stdlib.h>
#include <string.h>

#include "backend_cuda_impl.h"
#include "backend_cuda.h"
#include "cuda_device.h"

#ifdef DSQ_HAVE_NCCL
#include <nccl.h>
#include <unistd.h>
#endif

// ---- memory -------------------------------------------------------------

static void *cuda_alloc(dsq_backend *be, size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;  // cudaMalloc aligns to 256 bytes
    if (rounded == 0) rounded = 64;
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, rounded);
    if (err != cudaSuccess)
        dsq_die(DSQ_EFAIL, "CUDA: cannot allocate %zu bytes of device memory: %s", bytes,
                cudaGetErrorString(err));
    cudaCheck(cudaMemsetAsync(p, 0, rounded, cu_stream(be)));
    return p;
}

// The buffer may still be in use by queued work: wait for it first.
static void cuda_free(dsq_backend *be, void *p) {
    if (!p) return;
    cudaCheck(cudaStreamSynchronize(cu_stream(be)));
    cudaCheck(cudaFree(p));
}

// From pageable memory (all of dsq's host buffers) the copy has read the
// source when cudaMemcpyAsync returns, so the caller may reuse it at once;
// from pinned or managed memory it has not, and we wait.
static void cuda_upload(dsq_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cu_stream(be)));
    cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, src) != cudaSuccess) {
        cudaGetLastError();
        attr.type = cudaMemoryTypeHost;  // unknown: be safe
    }
    if (attr.type != cudaMemoryTypeUnregistered) cudaCheck(cudaStreamSynchronize(cu_stream(be)));
}

// Synchronous: everything issued before it has completed on return.
static void cuda_download(dsq_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cu_stream(be)));
    cudaCheck(cudaStreamSynchronize(cu_stream(be)));
}

// memmove semantics, as the CPU backend's copy: overlapping ranges go
// through scratch (cudaMemcpy does not allow overlap).
static void cuda_copy(dsq_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes || dst == src) return;
    const char *d = (const char *)dst, *s = (const char *)src;
    if (d < s + bytes && s < d + bytes) {
        void *tmp = cu_ws(be, CU_WS_SCRATCH, bytes);
        cudaCheck(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, cu_stream(be)));
        src = tmp;
    }
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu_stream(be)));
}

static void cuda_zero(dsq_backend *be, void *p, size_t bytes) {
    if (bytes) cudaCheck(cudaMemsetAsync(p, 0, bytes, cu_stream(be)));
}

static void cuda_sync(dsq_backend *be) { cudaCheck(cudaStreamSynchronize(cu_stream(be))); }

// ---- collectives: NCCL among the data-parallel ranks ------------------------
#ifdef DSQ_HAVE_NCCL
static int cuda_comm_id(dsq_backend *be, void *id, dsq_err *e) {
    (void)be;
    ncclUniqueId u;
    static_assert(sizeof u == DSQ_COMM_ID_BYTES, "ncclUniqueId is DSQ_COMM_ID_BYTES");
    ncclResult_t r = ncclGetUniqueId(&u);
    if (r != ncclSuccess)
        return dsq_err_set(e, DSQ_EFAIL, "NCCL: making the communicator's id: %s",
                           ncclGetErrorString(r));
    memcpy(id, &u, sizeof u);
    return 0;
}

static int cuda_comm_init(dsq_backend *be, const void *id, int rank, int size, dsq_err *e) {
    cu_impl *c = cu(be);
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    cudaCheck(cudaSetDevice(c->device));
    ncclComm_t comm;
    ncclResult_t r = ncclCommInitRank(&comm, size, u, rank);
    if (r != ncclSuccess)
        return dsq_err_set(e, DSQ_EFAIL, "NCCL: rank %d of %d (device %d): setting up the "
                           "communicator: %s (NCCL_DEBUG=WARN says more; DSQ_NCCL=0 sums "
                           "through host MPI instead)", rank, size, c->device,
                           ncclGetErrorString(r));
    c->nccl = comm;
    c->comm_rank = rank;
    c->comm_size = size;
    return 0;
}

// Stops this rank after a failed collective; the communicator is aborted
// first (its kernels would otherwise wait for the peers forever).
DSQ_NORETURN static void cu_comm_fail(cu_impl *c, ncclResult_t r) {
    ncclCommAbort((ncclComm_t)c->nccl);
    c->nccl = NULL;
    dsq_die(DSQ_EFAIL, "rank %d of %d: NCCL all-reduce of the gradients failed: %s%s",
            c->comm_rank, c->comm_size, ncclGetErrorString(r),
            r == ncclRemoteError ? " (another rank stopped, or the network between them failed)"
                                 : "");
}

// In place on the backend's stream, then waited for: the optimiser reads
// the sums next.  The wait polls NCCL's asynchronous error, so that a peer
// that died ends this rank too (ncclCommAbort) instead of leaving it
// waiting.
static void cuda_comm_sum(dsq_backend *be, float *x, size_t n) {
    cu_impl *c = cu(be);
    DSQ_CHECK(c->nccl);
    ncclComm_t comm = (ncclComm_t)c->nccl;
    if (!n) return;
    ncclResult_t r = ncclAllReduce(x, x, n, ncclFloat32, ncclSum, comm, c->stream);
    if (r != ncclSuccess) cu_comm_fail(c, r);
    for (;;) {
        ncclResult_t a = ncclSuccess;
        if ((r = ncclCommGetAsyncError(comm, &a)) != ncclSuccess) a = r;
        if (a != ncclSuccess && a != ncclInProgress) cu_comm_fail(c, a);
        cudaError_t q = cudaStreamQuery(c->stream);
        if (q == cudaSuccess) break;
        if (q != cudaErrorNotReady) cudaCheck(q);
        usleep(20);
    }
    CU_AFTER(be);
}

static void cu_comm_setup(dsq_backend *be) {
    if (!(be->comm_name = dsq_cuda_nccl())) return;
    be->comm_id = cuda_comm_id;
    be->comm_init = cuda_comm_init;
    be->comm_sum = cuda_comm_sum;
}

static void cu_comm_destroy(cu_impl *c) {
    if (c->nccl) ncclCommDestroy((ncclComm_t)c->nccl);
    c->nccl = NULL;
}
#else
static void cu_comm_setup(dsq_backend *be) { (void)be; }
static void cu_comm_destroy(cu_impl *c) { (void)c; }
#endif

static void cuda_destroy(dsq_backend *be) {
    cu_impl *c = cu(be);
    cudaCheck(cudaStreamSynchronize(c->stream));
    for (int i = 0; i < CU_WS_N; i++)
        if (c->ws[i]) cudaCheck(cudaFree(c->ws[i]));
    cu_comm_destroy(c);
    cublasCheck(cublasDestroy(c->blas));
    cudaCheck(cudaStreamDestroy(c->stream));
    free(c);
    free(be);
}

void *cu_ws(dsq_backend *be, int slot, size_t bytes) {
    cu_impl *c = cu(be);
    if (bytes <= c->ws_bytes[slot] && c->ws[slot]) return c->ws[slot];
    size_t want = bytes + bytes / 4 + 4096;  // some headroom against regrowth
    if (c->ws[slot]) {
        cudaCheck(cudaStreamSynchronize(c->stream));  // queued work may use it
        cudaCheck(cudaFree(c->ws[slot]));
        c->ws[slot] = NULL;
        c->ws_bytes[slot] = 0;
    }
    cudaError_t err = cudaMalloc(&c->ws[slot], want);
    if (err != cudaSuccess)
        dsq_die(DSQ_EFAIL, "CUDA: cannot allocate %zu bytes of workspace: %s", want,
                cudaGetErrorString(err));
    c->ws_bytes[slot] = want;
    return c->ws[slot];
}

void cu_after(dsq_backend *be, const char *file, int line) {
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess && cu(be)->sync_each) err = cudaStreamSynchronize(cu_stream(be));
    if (err != cudaSuccess) {
        fprintf(stderr, "CUDA error at %s:%d: %s\n", file, line, cudaGetErrorString(err));
        exit(1);
    }
}

// ---- GEMM ---------------------------------------------------------------
// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a
// row-major [r, c] matrix with leading dimension ld is a column-major
// [c, r] one with the same ld: so cuBLAS gets (B, A) swapped, m and n
// swapped, and the same transpose flags.

void cu_gemm(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, long long stride_a, const float *b, int ldb,
             long long stride_b, float beta, float *c, int ldc, long long stride_c, int batch) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    cublasHandle_t h = cu(be)->blas;
    cublasOperation_t ob = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t oa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    int prec = cu(be)->prec;
    if (prec != DSQ_PREC_FP32) {
        cublasComputeType_t ct = cu_compute(prec);
        if (batch == 1)
            cublasCheck(cublasGemmEx(h, ob, oa, n, m, k, &alpha, b, CUDA_R_32F, ldb, a,
                                     CUDA_R_32F, lda, &beta, c, CUDA_R_32F, ldc, ct,
                                     CUBLAS_GEMM_DEFAULT));
        else
            cublasCheck(cublasGemmStridedBatchedEx(h, ob, oa, n, m, k, &alpha, b, CUDA_R_32F, ldb,
                                                   stride_b, a, CUDA_R_32F, lda, stride_a, &beta,
                                                   c, CUDA_R_32F, ldc, stride_c, batch, ct,
                                                   CUBLAS_GEMM_DEFAULT));
    } else if (batch == 1)
        cublasCheck(cublasSgemm(h, ob, oa, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
    else
        cublasCheck(cublasSgemmStridedBatched(h, ob, oa, n, m, k, &alpha, b, ldb, stride_b, a,
                                              lda, stride_a, &beta, c, ldc, stride_c, batch));
    CU_AFTER(be);
}

static void cuda_gemm(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k,
                      float alpha, const float *a, int lda, long long stride_a, const float *b,
                      int ldb, long long stride_b, float beta, float *c, int ldc,
                      long long stride_c, int batch) {
    cu_gemm(be, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c,
            ldc, stride_c, batch);
}

typedef struct {
    const float *a, *b;
    float *c;
    long long sab, sah, sbb, sbh, scb, sch;
} cu_bh_args;

static __global__ void bh_ptrs_kernel(const float **pa, const float **pb, float **pc, cu_bh_args g,
                                      int nb, int nh) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nb * nh) return;
    long long b = i / nh, h = i % nh;
    pa[i] = g.a + b * g.sab + h * g.sah;
    pb[i] = g.b + b * g.sbb + h * g.sbh;
    pc[i] = g.c + b * g.scb + h * g.sch;
}

void cu_gemm_bh(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, long long sab, long long sah,
                const float *b, int ldb, long long sbb, long long sbh, float beta,
                float *c, int ldc, long long scb, long long sch, int nb, int nh) {
    int count = nb * nh;
    if (m <= 0 || n <= 0 || count <= 0) return;
    void **p = (void **)cu_ws(be, CU_WS_PTRS, 3 * (size_t)count * sizeof(void *));
    const float **pa = (const float **)p, **pb = (const float **)(p + count);
    float **pc = (float **)(p + 2 * (size_t)count);
    cu_bh_args g = {a, b, c, sab, sah, sbb, sbh, scb, sch};
    bh_ptrs_kernel<<<cu_grid((size_t)count, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
        pa, pb, pc, g, nb, nh);
    CU_AFTER(be);
    cublasOperation_t ob = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t oa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (cu(be)->prec != DSQ_PREC_FP32)
        cublasCheck(cublasGemmBatchedEx(cu(be)->blas, ob, oa, n, m, k, &alpha,
                                        (const void *const *)pb, CUDA_R_32F, ldb,
                                        (const void *const *)pa, CUDA_R_32F, lda, &beta,
                                        (void *const *)pc, CUDA_R_32F, ldc, count,
                                        cu_compute(cu(be)->prec), CUBLAS_GEMM_DEFAULT));
    else
        cublasCheck(cublasSgemmBatched(cu(be)->blas, ob, oa, n, m, k, &alpha, pb, ldb, pa, lda,
                                       &beta, pc, ldc, count));
    CU_AFTER(be);
}

// ---- creation -----------------------------------------------------------------

extern "C" int dsq_cuda_available(void) { return dsq_cuda_device_count(NULL, 0) > 0; }

extern "C" dsq_backend *dsq_backend_cuda(int device, dsq_err *e) {
    char why[256];
    int n = dsq_cuda_device_count(why, sizeof why);
    if (n <= 0) {
        dsq_err_set(e, DSQ_EFAIL, "CUDA backend: no usable CUDA device (%s)", why);
        return NULL;
    }
    if (device < 0 || device >= n) {
        dsq_err_set(e, DSQ_EFAIL, "CUDA backend: no device %d (%d device%s)", device, n,
                    n == 1 ? "" : "s");
        return NULL;
    }
    cudaError_t err = cudaSetDevice(device);
    cudaDeviceProp prop;
    if (err == cudaSuccess) err = cudaGetDeviceProperties(&prop, device);
    if (err != cudaSuccess) {
        cudaGetLastError();
        dsq_err_set(e, DSQ_EFAIL, "CUDA backend: device %d: %s", device,
                    cudaGetErrorString(err));
        return NULL;
    }
    cu_impl *c = (cu_impl *)xcalloc(1, sizeof *c);
    c->device = device;
    c->sms = prop.multiProcessorCount;
    const char *s = getenv("DSQ_CUDA_SYNC");
    c->sync_each = s && *s && strcmp(s, "0") != 0;
    err = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
        cudaGetLastError();
        dsq_err_set(e, DSQ_EFAIL, "CUDA backend: device %d: creating a stream: %s", device,
                    cudaGetErrorString(err));
        free(c);
        return NULL;
    }
    cublasStatus_t st = cublasCreate(&c->blas);
    // fp32 as the CPU computes it: no TF32 tensor-core rounding of inputs.
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetStream(c->blas, c->stream);
    if (st != CUBLAS_STATUS_SUCCESS) {
        dsq_err_set(e, DSQ_EFAIL, "CUDA backend: device %d: cuBLAS set-up: %s", device,
                    cublasGetStatusString(st));
        cudaStreamDestroy(c->stream);
        free(c);
        return NULL;
    }
    dsq_backend *be = (dsq_backend *)xcalloc(1, sizeof *be);
    be->name = "cuda";
    be->impl = c;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->copy = cuda_copy;
    be->zero = cuda_zero;
    be->sync = cuda_sync;
    be->destroy = cuda_destroy;
    cu_comm_setup(be);
    be->gemm = cuda_gemm;
    be->set_precision = cu_set_precision;
    be->bias_add = cu_bias_add;
    be->bias_grad = cu_bias_grad;
    be->add = cu_add;
    be->axpy = cu_axpy;
    be->scale = cu_scale;
    be->sumsq = cu_sumsq;
    be->layernorm_fwd = cu_layernorm_fwd;
    be->layernorm_bwd = cu_layernorm_bwd;
    be->gelu_fwd = cu_gelu_fwd;
    be->gelu_bwd = cu_gelu_bwd;
    be->tanh_fwd = cu_tanh_fwd;
    be->tanh_bwd = cu_tanh_bwd;
    be->silu_fwd = cu_silu_fwd;
    be->silu_bwd = cu_silu_bwd;
    be->softmax_fwd = cu_softmax_fwd;
    be->softmax_bwd = cu_softmax_bwd;
    be->attention_fwd = cu_attention_fwd;
    be->attention_bwd = cu_attention_bwd;
    be->attention_masked_fwd = cu_attention_masked_fwd;
    be->attention_rel_fwd = cu_attention_rel_fwd;
    be->linear_fixed_fwd = cu_linear_fixed_fwd;
    be->embedding_fwd = cu_embedding_fwd;
    be->embedding_bwd = cu_embedding_bwd;
    be->timestep_embedding = cu_timestep_embedding;
    be->add_time_pos_fwd = cu_add_time_pos_fwd;
    be->add_time_pos_bwd = cu_add_time_pos_bwd;
    be->xent = cu_xent;
    be->row_best = cu_row_best;
    be->q_sample_fwd = cu_q_sample_fwd;
    be->q_sample_bwd = cu_q_sample_bwd;
    be->sqerr_fwd = cu_sqerr_fwd;
    be->sqerr_bwd = cu_sqerr_bwd;
    be->dropout_fwd = cu_dropout_fwd;
    be->dropout_bwd = cu_dropout_bwd;
    be->randn = cu_randn;
    be->adamw = cu_adamw;
    be->ema = cu_ema;
    return be;
}

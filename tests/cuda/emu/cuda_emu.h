// A host emulation of the part of CUDA that kernels/ uses, so that the CUDA
// backend's own code (kernels, launch shapes, reductions, the row-major to
// column-major cuBLAS mapping) runs and is checked on a machine without a
// GPU (tests/cuda/emu/run.sh: check_ops against the emulated backend).
//
// Each block runs its threads as fibers (ucontext) in one OS thread; a
// fiber yields at __syncthreads and at warp operations (__shfl_xor_sync,
// __ballot_sync), which complete once every live thread of the block /
// lane of the warp has arrived.  __shared__ variables become static locals
// (blocks run one after another).  Device memory is host memory, filled
// with NaN bytes on allocation where CUDA leaves it undefined.  cuBLAS
// calls are checked as cuBLAS checks them and computed by column-major
// cblas_sgemm.  What it cannot show: races, timing, real device limits
// beyond the launch-shape checks here, libdevice's rounding.
#ifndef DSQ_CUDA_EMU_H
#define DSQ_CUDA_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tuple>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct emu_uint3 {
    unsigned x, y, z;
};

// ---- the grid being run ----
extern dim3 emu_grid, emu_block;
extern emu_uint3 emu_bidx;
extern emu_uint3 *emu_tidx;     // the running fiber's threadIdx
extern void *emu_dynamic_smem;  // extern __shared__ arrays
#define threadIdx (*emu_tidx)
#define blockIdx emu_bidx
#define blockDim emu_block
#define gridDim emu_grid

void __syncthreads();
void emu_warp_exchange(const void *mine, void *all32, size_t size);  // all lanes' values
unsigned __ballot_sync(unsigned mask, int pred);
int emu_lane();

template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lanemask) {
    (void)mask;
    T all[32];
    emu_warp_exchange(&v, all, sizeof(T));
    return all[emu_lane() ^ lanemask];
}

static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

// ---- kernel launch: name<<<grid, block, smem, stream>>>(args) is rewritten
// by run.sh into emu_launch(name, grid, block, smem, stream, args) ----
struct emu_body {
    virtual void run() = 0;
    virtual ~emu_body() {}
};
void emu_run_grid(dim3 grid, dim3 block, size_t smem, emu_body *body);

template <typename F>
struct emu_body_of : emu_body {
    F f;
    explicit emu_body_of(F g) : f(g) {}
    void run() override { f(); }
};

template <typename... P, typename... A>
void emu_launch(void (*k)(P...), dim3 grid, dim3 block, size_t smem, void *stream, A... args) {
    (void)stream;
    std::tuple<P...> t(args...);
    auto call = [&]() { std::apply(k, t); };
    emu_body_of<decltype(call)> body(call);
    emu_run_grid(grid, block, smem, &body);
}

// ---- runtime API ----
typedef enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorNotReady = 600,
    cudaErrorLaunchFailure = 719,
} cudaError_t;
typedef void *cudaStream_t;
typedef enum {
    cudaMemcpyHostToHost,
    cudaMemcpyHostToDevice,
    cudaMemcpyDeviceToHost,
    cudaMemcpyDeviceToDevice,
} cudaMemcpyKind;
enum cudaMemoryType {
    cudaMemoryTypeUnregistered = 0,
    cudaMemoryTypeHost = 1,
    cudaMemoryTypeDevice = 2,
    cudaMemoryTypeManaged = 3,
};
struct cudaPointerAttributes {
    enum cudaMemoryType type;
};
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int major, minor, multiProcessorCount;
};
#define cudaStreamNonBlocking 1u

const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind k,
                            cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamQuery(cudaStream_t s);  // cudaSuccess: work runs at its call
// Device memory readable and writable from the host between these (the
// NCCL stand-in, which reads and writes it as a collective would).
void emu_device_open();
void emu_device_close();
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *a, const void *p);
template <typename T>
cudaError_t cudaMalloc(T **p, size_t bytes) {
    return cudaMalloc((void **)p, bytes);
}

// ---- cuBLAS ----
typedef void *cublasHandle_t;
typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_INVALID_VALUE = 7,
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0 } cublasMath_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType;
typedef enum {
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
} cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;

const char *cublasGetStatusString(cublasStatus_t s);
cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m);
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *A, int lda,
                           const float *B, int ldb, const float *beta, float *C, int ldc);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda,
                                         long long sa, const float *B, int ldb, long long sb,
                                         const float *beta, float *C, int ldc, long long sc,
                                         int batch);
cublasStatus_t cublasSgemmBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                  int m, int n, int k, const float *alpha,
                                  const float *const A[], int lda, const float *const B[],
                                  int ldb, const float *beta, float *const C[], int ldc,
                                  int batch);
// The mixed-precision entry points, for fp32 A, B, C only (what the backend
// uses): the FAST_16BF / FAST_16F compute types round op(A) and op(B) to
// bfloat16 / half (to nearest, ties to even), then as cublasSgemm.
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const void *alpha, const void *A, cudaDataType at,
                            int lda, const void *B, cudaDataType bt, int ldb, const void *beta,
                            void *C, cudaDataType ct, int ldc, cublasComputeType_t comp,
                            cublasGemmAlgo_t algo);
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta,
                                          cublasOperation_t tb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType at,
                                          int lda, long long sa, const void *B, cudaDataType bt,
                                          int ldb, long long sb, const void *beta, void *C,
                                          cudaDataType ct, int ldc, long long sc, int batch,
                                          cublasComputeType_t comp, cublasGemmAlgo_t algo);
cublasStatus_t cublasGemmBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                   int m, int n, int k, const void *alpha,
                                   const void *const A[], cudaDataType at, int lda,
                                   const void *const B[], cudaDataType bt, int ldb,
                                   const void *beta, void *const C[], cudaDataType ct, int ldc,
                                   int batch, cublasComputeType_t comp, cublasGemmAlgo_t algo);

#endif

// The host emulation of CUDA declared in cuda_emu.h: the block scheduler
// (fibers, barriers, warp exchanges), the runtime calls and cuBLAS SGEMMs.
//
// "Device" memory is mapped with no access rights except while a kernel,
// a cuBLAS call or a copy / memset runs, so any HOST dereference of a
// device buffer (in the backend's host code or in the model code above
// it) stops the program with a message and a backtrace.
#include "cuda_emu.h"

#include <cblas.h>
#include <execinfo.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <vector>

namespace {

struct device_alloc {
    char *p;
    size_t len;
};
std::vector<device_alloc> live;
int device_open;

void set_access(int prot) {
    for (const device_alloc &a : live)
        if (mprotect(a.p, a.len, prot)) {
            perror("cuda_emu: mprotect");
            abort();
        }
}

// Device memory is accessible for the lifetime of one of these.
struct device_scope {
    device_scope() {
        if (!device_open++) set_access(PROT_READ | PROT_WRITE);
    }
    ~device_scope() {
        if (!--device_open) set_access(PROT_NONE);
    }
};

void on_segv(int sig, siginfo_t *si, void *) {
    const char *a = (const char *)si->si_addr;
    int dev = 0;
    for (const device_alloc &d : live) dev |= a >= d.p && a < d.p + d.len;
    char msg[160];
    int n = snprintf(msg, sizeof msg, "cuda_emu: %s at %p%s; backtrace:\n",
                     sig == SIGSEGV ? "segmentation fault" : "bus error", (void *)a,
                     dev ? ": HOST ACCESS TO DEVICE MEMORY" : "");
    if (write(2, msg, (size_t)n) < 0) _exit(3);
    void *bt[64];
    int k = backtrace(bt, 64);
    backtrace_symbols_fd(bt, k, 2);
    _exit(3);
}

struct segv_installer {
    segv_installer() {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
    }
} install_segv;

}  // namespace

dim3 emu_grid, emu_block;
emu_uint3 emu_bidx;
emu_uint3 *emu_tidx;
void *emu_dynamic_smem;

namespace {

enum { RUNNABLE, AT_SYNC, AT_WARP, DONE };
enum { STACK_BYTES = 256 << 10 };

struct fiber {
    ucontext_t ctx;
    emu_uint3 tid;
    int state;
    int linear;
    char *stack;
};

ucontext_t sched_ctx;
std::vector<fiber> fibers;
fiber *cur;
emu_body *body;
std::vector<unsigned char> warp_buf;  // [warps][32][8]
std::vector<unsigned char> smem;

void fiber_main() {
    body->run();
    cur->state = DONE;
    swapcontext(&cur->ctx, &sched_ctx);
}

void yield(int state) {
    cur->state = state;
    swapcontext(&cur->ctx, &sched_ctx);
}

void die(const char *what) {
    fprintf(stderr, "cuda_emu: %s (block %u,%u,%u)\n", what, emu_bidx.x, emu_bidx.y, emu_bidx.z);
    abort();
}

}  // namespace

void __syncthreads() { yield(AT_SYNC); }

int emu_lane() { return cur->linear & 31; }

void emu_warp_exchange(const void *mine, void *all32, size_t size) {
    if (size > 8) die("warp exchange of more than 8 bytes");
    int w = cur->linear >> 5, lane = cur->linear & 31;
    unsigned char *slot = &warp_buf[((size_t)w * 32) * 8];
    memcpy(slot + lane * 8, mine, size);
    yield(AT_WARP);  // every live lane has written
    for (int l = 0; l < 32; l++) memcpy((char *)all32 + l * size, slot + l * 8, size);
    yield(AT_WARP);  // every live lane has read before the next exchange writes
}

unsigned __ballot_sync(unsigned mask, int pred) {
    (void)mask;
    int p[32], mine = pred != 0;
    emu_warp_exchange(&mine, p, sizeof(int));
    unsigned b = 0;
    for (int l = 0; l < 32; l++)
        if (p[l]) b |= 1u << l;
    return b;
}

void emu_run_grid(dim3 grid, dim3 block, size_t smem_bytes, emu_body *b) {
    size_t nt = (size_t)block.x * block.y * block.z;
    if (nt == 0 || nt > 1024) die("block of 0 or more than 1024 threads");
    if (block.z > 64) die("block.z > 64");
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) die("empty grid");
    if (grid.y > 65535 || grid.z > 65535) die("grid.y or grid.z > 65535");
    if (smem_bytes > 48 * 1024) die("more than 48 KB of dynamic shared memory");
    if (nt % 32) die("block not a whole number of warps (the backend never launches one)");
    device_scope scope;
    emu_grid = grid;
    emu_block = block;
    body = b;
    if (fibers.size() < nt) {
        size_t old = fibers.size();
        fibers.resize(nt);
        for (size_t i = old; i < nt; i++) fibers[i].stack = (char *)malloc(STACK_BYTES);
    }
    warp_buf.assign(nt / 32 * 32 * 8, 0);
    smem.assign(smem_bytes + 16, 0xff);  // undefined contents: NaN bytes
    emu_dynamic_smem = smem.data();
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                emu_bidx = {bx, by, bz};
                for (size_t i = 0; i < nt; i++) {
                    fiber &f = fibers[i];
                    f.linear = (int)i;
                    f.tid = {(unsigned)(i % block.x), (unsigned)(i / block.x % block.y),
                             (unsigned)(i / ((size_t)block.x * block.y))};
                    f.state = RUNNABLE;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = f.stack;
                    f.ctx.uc_stack.ss_size = STACK_BYTES;
                    f.ctx.uc_link = NULL;
                    makecontext(&f.ctx, fiber_main, 0);
                }
                size_t live = nt;
                while (live) {
                    int ran = 0;
                    for (size_t i = 0; i < nt; i++) {
                        fiber &f = fibers[i];
                        if (f.state != RUNNABLE) continue;
                        cur = &f;
                        emu_tidx = &f.tid;
                        swapcontext(&sched_ctx, &f.ctx);
                        ran = 1;
                        if (f.state == DONE) live--;
                    }
                    // warps whose live lanes all wait at an exchange go on
                    int released = 0;
                    for (size_t w = 0; w < nt / 32; w++) {
                        int waiting = 0, alive = 0;
                        for (size_t l = 0; l < 32; l++) {
                            int s = fibers[w * 32 + l].state;
                            alive += s != DONE;
                            waiting += s == AT_WARP;
                        }
                        if (waiting && waiting != alive) {
                            int other = 0;  // lanes elsewhere: at a block barrier = divergence
                            for (size_t l = 0; l < 32; l++)
                                other += fibers[w * 32 + l].state == AT_SYNC;
                            if (other) die("warp exchange with lanes at __syncthreads");
                        }
                        if (waiting && waiting == alive) {
                            for (size_t l = 0; l < 32; l++)
                                if (fibers[w * 32 + l].state == AT_WARP)
                                    fibers[w * 32 + l].state = RUNNABLE;
                            released = 1;
                        }
                    }
                    size_t at_sync = 0;
                    for (size_t i = 0; i < nt; i++) at_sync += fibers[i].state == AT_SYNC;
                    if (live && at_sync == live) {
                        for (size_t i = 0; i < nt; i++)
                            if (fibers[i].state == AT_SYNC) fibers[i].state = RUNNABLE;
                        released = 1;
                    }
                    if (live && !ran && !released) die("deadlock: threads wait forever");
                }
            }
}

// ---- runtime ----------------------------------------------------------------

const char *cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "host emulation of CUDA (tests/cuda/emu)");
    p->totalGlobalMem = (size_t)1 << 34;
    p->major = 9;
    p->multiProcessorCount = 132;
    return d == 0 ? cudaSuccess : cudaErrorInvalidValue;
}
cudaError_t cudaMalloc(void **p, size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (bytes + page - 1) / page * page;
    if (!len) len = page;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return cudaErrorMemoryAllocation;
    memset(m, 0xff, len);  // cudaMalloc leaves memory undefined: NaN bytes
    if (!device_open) mprotect(m, len, PROT_NONE);
    live.push_back({(char *)m, len});
    *p = m;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    for (size_t i = 0; i < live.size(); i++)
        if (live[i].p == p) {
            munmap(live[i].p, live[i].len);
            live.erase(live.begin() + (long)i);
            return cudaSuccess;
        }
    return p ? cudaErrorInvalidValue : cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t) {
    device_scope scope;
    memset(p, v, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind,
                            cudaStream_t) {
    const char *d = (const char *)dst, *s = (const char *)src;
    if (d < s + bytes && s < d + bytes && d != s) return cudaErrorInvalidValue;  // no overlap
    device_scope scope;
    memcpy(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
void emu_device_open() {
    if (!device_open++) set_access(PROT_READ | PROT_WRITE);
}
void emu_device_close() {
    if (!--device_open) set_access(PROT_NONE);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    static int token;
    *s = &token;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *a, const void *) {
    a->type = cudaMemoryTypeUnregistered;
    return cudaSuccess;
}

// ---- cuBLAS (column-major, checked as cuBLAS checks) ----------------------------

const char *cublasGetStatusString(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}
cublasStatus_t cublasCreate(cublasHandle_t *h) {
    static int token;
    *h = &token;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }

static int max1(int a) { return a > 1 ? a : 1; }

static cublasStatus_t gemm1(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            float alpha, const float *A, int lda, const float *B, int ldb,
                            float beta, float *C, int ldc) {
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < max1(ta == CUBLAS_OP_N ? m : k) || ldb < max1(tb == CUBLAS_OP_N ? k : n) ||
        ldc < max1(m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    device_scope scope;
    if (beta == 0.0f)  // cuBLAS does not read C then: NaNs there must not matter
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) C[(size_t)j * ldc + i] = 0.0f;
    cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, alpha, A, lda, B, ldb,
                beta, C, ldc);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *A, int lda,
                           const float *B, int ldb, const float *beta, float *C, int ldc) {
    return gemm1(ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda,
                                         long long sa, const float *B, int ldb, long long sb,
                                         const float *beta, float *C, int ldc, long long sc,
                                         int batch) {
    if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < batch; i++) {
        cublasStatus_t s = gemm1(ta, tb, m, n, k, *alpha, A + i * sa, lda, B + i * sb, ldb,
                                 *beta, C + i * sc, ldc);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemmBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb,
                                  int m, int n, int k, const float *alpha,
                                  const float *const A[], int lda, const float *const B[],
                                  int ldb, const float *beta, float *const C[], int ldc,
                                  int batch) {
    if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    device_scope scope;  // the pointer arrays are device memory
    for (int i = 0; i < batch; i++) {
        cublasStatus_t s = gemm1(ta, tb, m, n, k, *alpha, A[i], lda, B[i], ldb, *beta, C[i], ldc);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

// ---- mixed precision: rounded copies of the operands, then gemm1 ----------------

static float round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}
static float round_fp16(float x) { return (float)(_Float16)x; }

// The column-major operand X (rows x cols used, leading dimension ld) as a
// host copy with the same layout, rounded for the compute type.
static std::vector<float> rounded(const float *x, int rows, int cols, int ld,
                                  cublasComputeType_t comp) {
    std::vector<float> r;
    if (rows <= 0 || cols <= 0) return r;
    size_t n = (size_t)(cols - 1) * ld + rows;
    device_scope scope;
    r.assign(x, x + n);
    if (comp != CUBLAS_COMPUTE_32F)
        for (float &v : r) v = comp == CUBLAS_COMPUTE_32F_FAST_16BF ? round_bf16(v) : round_fp16(v);
    return r;
}

static cublasStatus_t gemm_ex1(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                               float alpha, const float *A, int lda, const float *B, int ldb,
                               float beta, float *C, int ldc, cublasComputeType_t comp) {
    if (comp != CUBLAS_COMPUTE_32F && comp != CUBLAS_COMPUTE_32F_FAST_16BF &&
        comp != CUBLAS_COMPUTE_32F_FAST_16F)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    std::vector<float> ra = rounded(A, ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, lda,
                                    comp);
    std::vector<float> rb = rounded(B, tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, ldb,
                                    comp);
    return gemm1(ta, tb, m, n, k, alpha, ra.empty() ? A : ra.data(), lda,
                 rb.empty() ? B : rb.data(), ldb, beta, C, ldc);
}

static int all_f32(cudaDataType a, cudaDataType b, cudaDataType c) {
    return a == CUDA_R_32F && b == CUDA_R_32F && c == CUDA_R_32F;
}

cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const void *alpha, const void *A, cudaDataType at,
                            int lda, const void *B, cudaDataType bt, int ldb, const void *beta,
                            void *C, cudaDataType ct, int ldc, cublasComputeType_t comp,
                            cublasGemmAlgo_t) {
    if (!all_f32(at, bt, ct)) return CUBLAS_STATUS_INVALID_VALUE;
    return gemm_ex1(ta, tb, m, n, k, *(const float *)alpha, (const float *)A, lda,
                    (const float *)B, ldb, *(const float *)beta, (float *)C, ldc, comp);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t ta,
                                          cublasOperation_t tb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType at,
                                          int lda, long long sa, const void *B, cudaDataType bt,
                                          int ldb, long long sb, const void *beta, void *C,
                                          cudaDataType ct, int ldc, long long sc, int batch,
                                          cublasComputeType_t comp, cublasGemmAlgo_t) {
    if (!all_f32(at, bt, ct) || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < batch; i++) {
        cublasStatus_t s = gemm_ex1(ta, tb, m, n, k, *(const float *)alpha,
                                    (const float *)A + i * sa, lda, (const float *)B + i * sb,
                                    ldb, *(const float *)beta, (float *)C + i * sc, ldc, comp);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmBatchedEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb,
                                   int m, int n, int k, const void *alpha,
                                   const void *const A[], cudaDataType at, int lda,
                                   const void *const B[], cudaDataType bt, int ldb,
                                   const void *beta, void *const C[], cudaDataType ct, int ldc,
                                   int batch, cublasComputeType_t comp, cublasGemmAlgo_t) {
    if (!all_f32(at, bt, ct) || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    device_scope scope;  // the pointer arrays are device memory
    for (int i = 0; i < batch; i++) {
        cublasStatus_t s = gemm_ex1(ta, tb, m, n, k, *(const float *)alpha, (const float *)A[i],
                                    lda, (const float *)B[i], ldb, *(const float *)beta,
                                    (float *)C[i], ldc, comp);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* The CUDA backend's entry points in a build without it (no nvcc, or no
 * cuBLAS beside nvcc): they say so.  (With DSQ_HAVE_CUDA_BACKEND the real
 * ones live in kernels/cuda/core.cu.) */
#include "backend_cuda.h"

#ifndef DSQ_HAVE_CUDA_BACKEND
int dsq_cuda_available(void) { return 0; }

dsq_backend *dsq_backend_cuda(int device, dsq_err *e) {
#ifdef DSQ_HAVE_CUDA
    const char *why = "cuBLAS was not found beside nvcc at build time";
#else
    const char *why = "no nvcc at build time, or NO_CUDA=1";
#endif
    dsq_err_set(e, DSQ_EFAIL, "CUDA backend (device %d): this dsq was built without it (%s)",
                device, why);
    return NULL;
}
#else
typedef int dsq_backend_cuda_none_unused;  /* ISO C: no empty translation unit */
#endif

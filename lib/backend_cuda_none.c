/* The CUDA backend's entry points in a build without nvcc: they say so.
 * (With DSQ_HAVE_CUDA the real ones live in kernels/backend_cuda.cu.) */
#include "backend_cuda.h"

#ifndef DSQ_HAVE_CUDA
int dsq_cuda_available(void) { return 0; }

dsq_backend *dsq_backend_cuda(int device, dsq_err *e) {
    dsq_err_set(e, DSQ_EFAIL, "CUDA backend (device %d): this dsq was built without CUDA "
                "(no nvcc at build time, or NO_CUDA=1)", device);
    return NULL;
}
#else
typedef int dsq_backend_cuda_none_unused;  /* ISO C: no empty translation unit */
#endif

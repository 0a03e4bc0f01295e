/* Error-check macros for the CUDA side: every failing call names the file
 * and line. Used by every kernels/ source. */
#ifndef DSQ_CUDA_CHECK_H
#define DSQ_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define cudaCheck(call)                                                        \
    do {                                                                       \
        cudaError_t err_ = (call);                                             \
        if (err_ != cudaSuccess) {                                             \
            fprintf(stderr, "CUDA error at %s:%d: %s (%s)\n", __FILE__,       \
                    __LINE__, cudaGetErrorString(err_), #call);               \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#endif

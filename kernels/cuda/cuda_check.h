/* Error-check macros for the CUDA side: every failing call names the file
 * and line. Used by every kernels/cuda/ source. cublasCheck and ncclCheck need
 * <cublas_v2.h> / <nccl.h> included by the file that uses them. */
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

#define cublasCheck(call)                                                      \
    do {                                                                       \
        cublasStatus_t st_ = (call);                                           \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                    \
            fprintf(stderr, "cuBLAS error at %s:%d: %s (%s)\n", __FILE__,     \
                    __LINE__, cublasGetStatusString(st_), #call);             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define ncclCheck(call)                                                        \
    do {                                                                       \
        ncclResult_t nr_ = (call);                                             \
        if (nr_ != ncclSuccess) {                                              \
            fprintf(stderr, "NCCL error at %s:%d: %s (%s)\n", __FILE__,       \
                    __LINE__, ncclGetErrorString(nr_), #call);                \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#endif

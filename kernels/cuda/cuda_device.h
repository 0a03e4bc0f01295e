/* CUDA device discovery (kernels/cuda/device.cu), present when the library
 * was built with nvcc (DSQ_HAVE_CUDA), with or without the CUDA backend. */
#ifndef DSQ_CUDA_DEVICE_H
#define DSQ_CUDA_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 when there is no driver or no GPU (the
 * reason is written to why[0..why_len) when why is non-NULL). */
int dsq_cuda_device_count(char *why, size_t why_len);

/* Name, memory and compute capability of device `dev`, one line. */
int dsq_cuda_device_describe(int dev, char *out, size_t out_len);

/* "nccl 2.28.9", the NCCL the backend was built with (its header's
 * version: no call into libnccl, so that the tools that do not train need
 * no libnccl), or NULL: built without NCCL. */
const char *dsq_cuda_nccl(void);

#ifdef __cplusplus
}
#endif

#endif

// Device discovery for the CUDA backend. A machine without a GPU or
// driver is a normal case (0 devices), not an error.
#include "cuda_check.h"
#include "cuda_device.h"

#ifdef DSQ_HAVE_NCCL
#include <nccl.h>
#endif

extern "C" int dsq_cuda_device_count(char *why, size_t why_len) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        if (why && why_len) snprintf(why, why_len, "%s", cudaGetErrorString(err));
        cudaGetLastError();  // clear the sticky error for later calls
        return 0;
    }
    if (why && why_len) snprintf(why, why_len, "ok");
    return count;
}

extern "C" int dsq_cuda_device_describe(int dev, char *out, size_t out_len) {
    cudaDeviceProp prop;
    cudaError_t err = cudaGetDeviceProperties(&prop, dev);
    if (err != cudaSuccess) {
        snprintf(out, out_len, "device %d: %s", dev, cudaGetErrorString(err));
        return -1;
    }
    snprintf(out, out_len, "cuda:%d %s, %.1f GiB, sm_%d%d", dev, prop.name,
             prop.totalGlobalMem / 1073741824.0, prop.major, prop.minor);
    return 0;
}

#ifdef DSQ_HAVE_NCCL
#define DSQ_STR_(x) #x
#define DSQ_STR(x) DSQ_STR_(x)
extern "C" const char *dsq_cuda_nccl(void) {
    return "nccl " DSQ_STR(NCCL_MAJOR) "." DSQ_STR(NCCL_MINOR) "." DSQ_STR(NCCL_PATCH);
}
#else
extern "C" const char *dsq_cuda_nccl(void) { return NULL; }
#endif

// CUDA backend: the arithmetic of matrix products (backend.h
// set_precision).  bf16 / fp16 keep every buffer fp32: cu_gemm hands cuBLAS
// a compute type with which tensor cores down-convert the operands and
// accumulate in fp32; fp32 is cuBLAS's SGEMM without TF32.
#include "backend_cuda_impl.h"

// bf16 / fp16: fp32 buffers, tensor cores down-converting the operands
// and accumulating in fp32 (the compute types for 32-bit inputs).
cublasComputeType_t cu_compute(int prec) {
    return prec == DSQ_PREC_BF16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F_FAST_16F;
}

void cu_set_precision(dsq_backend *be, int prec) { cu(be)->prec = prec; }

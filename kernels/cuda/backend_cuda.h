/* The CUDA backend: the operations of backend.h on one GPU, fp32
 * throughout (cuBLAS SGEMM without TF32, the kernels of kernels/cuda/
 * for the rest), matching the CPU backend's formulas, reductions in the same
 * precision, and the same Philox streams (dropout masks and normals are
 * the CPU's numbers).  Reductions have a fixed order, so results do not
 * change from run to run; they may differ from the CPU's in the last bits.
 *
 * Every build has these functions: without nvcc (or NO_CUDA=1, or without
 * cuBLAS beside nvcc) they come from kernels/cuda/none.c and report
 * that the library was built without the CUDA backend.  One device per process: operations run on the device the
 * backend was created for, on one stream of its own.
 *
 * DSQ_CUDA_SYNC=1 in the environment synchronises and checks for errors
 * after every operation (slow; names the failing operation's file:line). */
#ifndef DSQ_BACKEND_CUDA_H
#define DSQ_BACKEND_CUDA_H

#include "backend.h"
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the library was built with CUDA and at least one device is
 * usable, else 0. */
int dsq_cuda_available(void);

/* A backend on CUDA device `device` (0-based).  NULL with e set
 * (DSQ_EFAIL) when the library was built without CUDA, there is no such
 * device or driver, or the CUDA / cuBLAS set-up fails.  Free with
 * be->destroy(be) once its buffers are freed. */
dsq_backend *dsq_backend_cuda(int device, dsq_err *e);

#ifdef __cplusplus
}
#endif

#endif

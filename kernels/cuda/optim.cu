// CUDA backend: the optimiser updates, AdamW and the EMA of the parameters,
// with the CPU backend's per-element formulas (kernels/numerics.h).
#include <math.h>

#include "backend_cuda_impl.h"
#include "numerics.h"

// torch.optim.AdamW step (kernels/numerics.h); the scalar factors come
// from the host as the CPU backend rounds them.
static __global__ void adamw_kernel(float *__restrict__ param, const float *__restrict__ grad,
                                    float *__restrict__ m, float *__restrict__ v, size_t n,
                                    dsq_adamw_k k) {
    GRID_STRIDE(i, n) dsq_adamw_elem(&param[i], &m[i], &v[i], grad[i], k);
}

void cu_adamw(dsq_backend *be, float *param, const float *grad, float *m, float *v, size_t n,
              float lr, float beta1, float beta2, float eps, float wd, int step) {
    if (!n) return;
    dsq_adamw_k k = dsq_adamw_factors(lr, beta1, beta2, eps, wd, step);
    adamw_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(param, grad, m, v, n,
                                                                           k);
    CU_AFTER(be);
}

static __global__ void ema_kernel(float *__restrict__ ema, const float *__restrict__ param,
                                  size_t n, float rate, float a) {
    GRID_STRIDE(i, n) ema[i] = dsq_ema_elem(ema[i], param[i], rate, a);
}

void cu_ema(dsq_backend *be, float *ema, const float *param, size_t n, float rate) {
    if (!n) return;
    float a = dsq_ema_a(rate);
    ema_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(ema, param, n, rate, a);
    CU_AFTER(be);
}

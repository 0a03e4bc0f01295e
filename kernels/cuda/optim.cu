// CUDA backend: the optimiser updates, AdamW and the EMA of the parameters,
// in the CPU backend's order of float operations (kernels/cpu/optim.c).
#include <math.h>

#include "backend_cuda_impl.h"

// torch.optim.AdamW step; the scalar factors come from the host as the
// CPU backend rounds them.
static __global__ void adamw_kernel(float *__restrict__ param, const float *__restrict__ grad,
                                    float *__restrict__ m, float *__restrict__ v, size_t n,
                                    float beta1, float beta2, float eps, float decay,
                                    float step_size, float bc2_sqrt, float a1, float a2) {
    GRID_STRIDE(i, n) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = m[i] * beta1 + a1 * g;
        float vi = v[i] * beta2 + a2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

void cu_adamw(dsq_backend *be, float *param, const float *grad, float *m, float *v, size_t n,
              float lr, float beta1, float beta2, float eps, float wd, int step) {
    if (!n) return;
    double bc1 = 1.0 - pow((double)beta1, step);
    double bc2 = 1.0 - pow((double)beta2, step);
    float decay = (float)(1.0 - (double)lr * wd);
    float step_size = (float)((double)lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float a1 = (float)(1.0 - beta1), a2 = (float)(1.0 - beta2);
    adamw_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
        param, grad, m, v, n, beta1, beta2, eps, decay, step_size, bc2_sqrt, a1, a2);
    CU_AFTER(be);
}

static __global__ void ema_kernel(float *__restrict__ ema, const float *__restrict__ param,
                                  size_t n, float rate, float a) {
    GRID_STRIDE(i, n) ema[i] = ema[i] * rate + a * param[i];
}

void cu_ema(dsq_backend *be, float *ema, const float *param, size_t n, float rate) {
    if (!n) return;
    float a = (float)(1.0 - (double)rate);
    ema_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(ema, param, n, rate, a);
    CU_AFTER(be);
}

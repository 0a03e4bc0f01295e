/* CPU backend: the optimiser updates, AdamW and the EMA of the parameters. */
#include "backend_cpu.h"

#include <math.h>

/* AdamW on n elements; k = {decay, beta1, beta2, 1 - beta1, 1 - beta2,
 * sqrt(bias correction 2), eps, step size}.  Vectorised (it was scalar):
 * the same results, elementwise. */
VEC_CLONES VEC_MATH static void adamw_range(float *param, const float *grad, float *m,
                                            float *v, size_t n, const float *k) {
    float decay = k[0], beta1 = k[1], beta2 = k[2], a1 = k[3], a2 = k[4];
    float bc2_sqrt = k[5], eps = k[6], step_size = k[7];
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
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

/* torch.optim.AdamW (1.13, single-tensor): the scalar factors are Python
 * floats (double), applied as float32. */
void cpu_adamw(dsq_backend *be, float *param, const float *grad, float *m, float *v,
               size_t n, float lr, float beta1, float beta2, float eps, float wd, int step) {
    (void)be;
    double bc1 = 1.0 - pow((double)beta1, step);
    double bc2 = 1.0 - pow((double)beta2, step);
    const float k[8] = {(float)(1.0 - (double)lr * wd), beta1, beta2, (float)(1.0 - beta1),
                        (float)(1.0 - beta2), (float)sqrt(bc2), eps, (float)((double)lr / bc1)};
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < cpu_nblk(n); b++) {
        size_t o = b * CPU_BLK;
        adamw_range(param + o, grad + o, m + o, v + o, cpu_blk_len(b, n), k);
    }
}

void cpu_ema(dsq_backend *be, float *ema, const float *param, size_t n, float rate) {
    (void)be;
    float a = (float)(1.0 - (double)rate);
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) ema[i] = ema[i] * rate + a * param[i];
}

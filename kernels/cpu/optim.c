/* CPU backend: the optimiser updates, AdamW and the EMA of the parameters. */
#include "backend_cpu.h"

#include <math.h>

/* AdamW on n elements (numerics.h), vectorised. */
VEC_CLONES VEC_MATH static void adamw_range(float *param, const float *grad, float *m,
                                            float *v, size_t n, dsq_adamw_k k) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) dsq_adamw_elem(&param[i], &m[i], &v[i], grad[i], k);
}

/* torch.optim.AdamW (1.13, single-tensor): dsq_adamw_factors. */
void cpu_adamw(dsq_backend *be, float *param, const float *grad, float *m, float *v,
               size_t n, float lr, float beta1, float beta2, float eps, float wd, int step) {
    (void)be;
    const dsq_adamw_k k = dsq_adamw_factors(lr, beta1, beta2, eps, wd, step);
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < cpu_nblk(n); b++) {
        size_t o = b * CPU_BLK;
        adamw_range(param + o, grad + o, m + o, v + o, cpu_blk_len(b, n), k);
    }
}

void cpu_ema(dsq_backend *be, float *ema, const float *param, size_t n, float rate) {
    (void)be;
    float a = dsq_ema_a(rate);
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) ema[i] = dsq_ema_elem(ema[i], param[i], rate, a);
}

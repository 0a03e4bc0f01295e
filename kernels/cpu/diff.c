/* CPU backend: the Gaussian noise of diffusion (randn), partial noising
 * q(x_t | x_0) with the v2 mean embedding and denoising mask, and
 * per-sequence squared errors (the mse and tT terms). */
#include "backend_cpu.h"

#include "philox.h"

void cpu_randn(dsq_backend *be, float *out, size_t n, uint64_t seed, uint64_t off) {
    (void)be;
    size_t ng = (n + 3) / 4;
#pragma omp parallel for
    for (size_t g = 0; g < ng; g++) {
        uint32_t x[4];
        float v[4];
        dsq_philox_block(seed, off, g, x);
        dsq_philox_box_muller(x[0], x[1], &v[0], &v[1]);
        dsq_philox_box_muller(x[2], x[3], &v[2], &v[3]);
        for (size_t l = 0; l < 4 && g * 4 + l < n; l++) out[g * 4 + l] = v[l];
    }
}

/* Operation order follows the reference's expression, so float32 results
 * round the same way: (ca*(x0 - m) + cb*eps) + m. */
void cpu_q_sample_fwd(dsq_backend *be, float *xt, const float *x0, const float *eps,
                      const float *mean, const float *ca, const float *cb,
                      const float *mask, const float *dmask, int B, int L, int d) {
    (void)be;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            size_t r = (size_t)b * L + l, o = r * d;
            const float *x = x0 + o, *n = eps + o;
            float *y = xt + o;
            if (mask[r] == 0.0f) {
                for (int j = 0; j < d; j++) y[j] = x[j];
            } else if (dmask && dmask[r] != 0.0f) {
                for (int j = 0; j < d; j++) y[j] = mean[j];
            } else if (mean) {
                for (int j = 0; j < d; j++) y[j] = ca[b] * (x[j] - mean[j]) + cb[b] * n[j] + mean[j];
            } else {
                for (int j = 0; j < d; j++) y[j] = ca[b] * x[j] + cb[b] * n[j];
            }
        }
}

/* dx0 rows are independent; dmean sums over positions in order (one
 * thread per column), so it is deterministic. */
void cpu_q_sample_bwd(dsq_backend *be, float *dx0, float *dmean, const float *dxt,
                      const float *ca, const float *mask, const float *dmask,
                      int B, int L, int d) {
    (void)be;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            size_t r = (size_t)b * L + l, o = r * d;
            if (dmask && mask[r] != 0.0f && dmask[r] != 0.0f) continue;
            float c = mask[r] == 0.0f ? 1.0f : ca[b];
            for (int j = 0; j < d; j++) dx0[o + j] += c * dxt[o + j];
        }
    if (!dmean) return;
#pragma omp parallel for
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int b = 0; b < B; b++)
            for (int l = 0; l < L; l++) {
                size_t r = (size_t)b * L + l;
                if (mask[r] == 0.0f) continue;
                float c = dmask && dmask[r] != 0.0f ? 1.0f : 1.0f - ca[b];
                s += (double)c * dxt[r * d + j];
            }
        dmean[j] += (float)s;
    }
}

void cpu_sqerr_fwd(dsq_backend *be, float *loss, const float *x, const float *y,
                   float sx, int B, int n) {
    (void)be;
#pragma omp parallel for
    for (int b = 0; b < B; b++) {
        const float *xr = x + (size_t)b * n, *yr = y ? y + (size_t)b * n : NULL;
        double s = 0;
        for (int i = 0; i < n; i++) {
            float r = sx * xr[i] - (yr ? yr[i] : 0.0f);
            s += (double)r * r;
        }
        loss[b] = (float)(s / n);
    }
}

void cpu_sqerr_bwd(dsq_backend *be, float *dx, float *dy, const float *gscale,
                   const float *x, const float *y, float sx, int B, int n) {
    (void)be;
#pragma omp parallel for
    for (int b = 0; b < B; b++) {
        const float *xr = x + (size_t)b * n, *yr = y ? y + (size_t)b * n : NULL;
        float k = 2.0f * gscale[b] / (float)n;
        for (int i = 0; i < n; i++) {
            float g = k * (sx * xr[i] - (yr ? yr[i] : 0.0f));
            if (dx) dx[(size_t)b * n + i] += sx * g;
            if (dy) dy[(size_t)b * n + i] -= g;
        }
    }
}

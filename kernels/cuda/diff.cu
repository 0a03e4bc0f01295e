// CUDA backend: partial noising q(x_t | x_0) with the v2 mean embedding
// and denoising mask, per-sequence squared errors, and the Gaussian noise
// (the CPU's Philox streams, lib/base/philox_core.h), in the CPU's order of
// operations (kernels/cpu/diff.c).
#include "backend_cuda_impl.h"
#include "philox_core.h"

// One thread per element of [B, L, d]; position r = b*L + l.
static __global__ void q_sample_fwd_kernel(
    float *__restrict__ xt, const float *__restrict__ x0, const float *__restrict__ eps,
    const float *__restrict__ mean, const float *__restrict__ ca, const float *__restrict__ cb,
    const float *__restrict__ mask, const float *__restrict__ dmask, int L, int d, size_t n) {
    GRID_STRIDE(i, n) {
        size_t r = i / (size_t)d, j = i % (size_t)d, b = r / (size_t)L;
        float y;
        if (mask[r] == 0.0f) y = x0[i];
        else if (dmask && dmask[r] != 0.0f) y = mean[j];
        else if (mean) y = ca[b] * (x0[i] - mean[j]) + cb[b] * eps[i] + mean[j];
        else y = ca[b] * x0[i] + cb[b] * eps[i];
        xt[i] = y;
    }
}

void cu_q_sample_fwd(dsq_backend *be, float *xt, const float *x0, const float *eps,
                     const float *mean, const float *ca, const float *cb, const float *mask,
                     const float *dmask, int B, int L, int d) {
    size_t n = (size_t)B * L * d;
    if (!n) return;
    q_sample_fwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
        xt, x0, eps, mean, ca, cb, mask, dmask, L, d, n);
    CU_AFTER(be);
}

static __global__ void q_sample_bwd_dx0_kernel(
    float *__restrict__ dx0, const float *__restrict__ dxt, const float *__restrict__ ca,
    const float *__restrict__ mask, const float *__restrict__ dmask, int L, int d, size_t n) {
    GRID_STRIDE(i, n) {
        size_t r = i / (size_t)d, b = r / (size_t)L;
        if (dmask && mask[r] != 0.0f && dmask[r] != 0.0f) continue;
        float c = mask[r] == 0.0f ? 1.0f : ca[b];
        dx0[i] += c * dxt[i];
    }
}

// d mean[j] contributions of position r: (1 - ca) on noised target
// positions, 1 on replaced ones, none on the source; summed in double.
struct q_dmean_term {
    const float *dxt, *ca, *mask, *dmask;
    int L, d;
    __device__ double operator()(int r, int j) const {
        if (mask[r] == 0.0f) return 0.0;
        float c = dmask && dmask[r] != 0.0f ? 1.0f : 1.0f - ca[r / L];
        return (double)c * dxt[(size_t)r * d + j];
    }
};

void cu_q_sample_bwd(dsq_backend *be, float *dx0, float *dmean, const float *dxt,
                     const float *ca, const float *mask, const float *dmask, int B, int L,
                     int d) {
    size_t n = (size_t)B * L * d;
    if (!n) return;
    q_sample_bwd_dx0_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
        dx0, dxt, ca, mask, dmask, L, d, n);
    CU_AFTER(be);
    if (dmean) cu_colsum<double>(be, dmean, B * L, d, q_dmean_term{dxt, ca, mask, dmask, L, d});
}

// loss[b] = mean over the n entries of row b of (sx x - y)^2 (y NULL: 0),
// summed in double: one block per row.
static __global__ void sqerr_fwd_kernel(float *loss, const float *__restrict__ x,
                                        const float *__restrict__ y, float sx, int n) {
    __shared__ double sh[32];
    int b = blockIdx.x;
    const float *xr = x + (size_t)b * n, *yr = y ? y + (size_t)b * n : NULL;
    double s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float r = sx * xr[i] - (yr ? yr[i] : 0.0f);
        s += (double)r * r;
    }
    s = cu_block_sum(s, sh);
    if (threadIdx.x == 0) loss[b] = (float)(s / n);
}

void cu_sqerr_fwd(dsq_backend *be, float *loss, const float *x, const float *y, float sx,
                  int B, int n) {
    if (B <= 0) return;
    sqerr_fwd_kernel<<<(unsigned)B, CU_THREADS, 0, cu_stream(be)>>>(loss, x, y, sx, n);
    CU_AFTER(be);
}

static __global__ void sqerr_bwd_kernel(float *__restrict__ dx, float *__restrict__ dy,
                                        const float *__restrict__ gscale,
                                        const float *__restrict__ x, const float *__restrict__ y,
                                        float sx, int n, size_t total) {
    GRID_STRIDE(i, total) {
        size_t b = i / (size_t)n;
        float k = 2.0f * gscale[b] / (float)n;
        float g = k * (sx * x[i] - (y ? y[i] : 0.0f));
        if (dx) dx[i] += sx * g;
        if (dy) dy[i] -= g;
    }
}

void cu_sqerr_bwd(dsq_backend *be, float *dx, float *dy, const float *gscale, const float *x,
                  const float *y, float sx, int B, int n) {
    size_t total = (size_t)B * n;
    if (!total || (!dx && !dy)) return;
    sqerr_bwd_kernel<<<cu_grid(total, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
        dx, dy, gscale, x, y, sx, n, total);
    CU_AFTER(be);
}

// ---- Gaussian noise ---------------------------------------------------------------

// Two Box-Muller pairs per Philox block, in double as the CPU.
static __global__ void randn_kernel(float *out, size_t n, uint64_t seed, uint64_t off) {
    size_t ng = (n + 3) / 4;
    GRID_STRIDE(g, ng) {
        uint32_t x[4];
        float v[4];
        dsq_philox_block_inl(seed, off, g, x);
        dsq_philox_box_muller_inl(x[0], x[1], &v[0], &v[1]);
        dsq_philox_box_muller_inl(x[2], x[3], &v[2], &v[3]);
        for (int l = 0; l < 4; l++) {
            size_t i = g * 4 + l;
            if (i >= n) break;
            out[i] = v[l];
        }
    }
}

void cu_randn(dsq_backend *be, float *out, size_t n, uint64_t seed, uint64_t off) {
    if (!n) return;
    randn_kernel<<<cu_grid((n + 3) / 4, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(out, n, seed,
                                                                                     off);
    CU_AFTER(be);
}

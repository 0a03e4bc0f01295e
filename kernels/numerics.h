/* The elementwise formulas both backends compute, written once: inline
 * functions that compile as C for the CPU backend (kernels/cpu/) and as
 * CUDA host/device code for the CUDA backend (kernels/cuda/), as
 * lib/base/philox_core.h does for the random numbers.  Only operations
 * that IEEE rounds exactly (+ - * /, sqrtf, conversions; no FMA:
 * kernels/cuda/ builds with --fmad=false), so that a CPU loop and a GPU
 * thread round alike and agree bit for bit.
 *
 * On the CPU these are called per element inside `omp simd` loops of
 * VEC_MATH functions (kernels/cpu/backend_cpu.h); DSQ_VEC_MATH gives them
 * the same optimisation attributes, without which GCC would not inline
 * them there and the loops would stay scalar. */
#ifndef DSQ_NUMERICS_H
#define DSQ_NUMERICS_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define DSQ_VEC_MATH
#define DSQ_NUM static inline __host__ __device__
#else
/* Float math that may be if-converted and vectorised (GCC 12 needs
 * no-trapping-math for the selects, and the dynamic cost model for loops
 * of unknown trip count).  Results do not change: nothing is reordered. */
#define DSQ_VEC_MATH \
    __attribute__((optimize("no-trapping-math", "tree-vectorize", "vect-cost-model=dynamic")))
#define DSQ_NUM static inline
#endif

/* ---- the exponential ---------------------------------------------------- */

/* exp(-y) for 0 <= y <= 87 (Cephes expf: -y = n ln2 + r, |r| <= ln2/2, a
 * degree-6 polynomial, 2^n by the exponent bits); within 2 ulp of expf.
 * The +/- 1.5 * 2^23 rounds to the nearest integer without floorf (no
 * SSE4.1 needed).  Used where exponentials dominate: GELU, softmax, the
 * vocabulary cross-entropy. */
DSQ_NUM DSQ_VEC_MATH float dsq_exp_neg(float y) {
    float x = -y;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
#ifdef __CUDA_ARCH__
    return p * __int_as_float(((int32_t)n + 127) * (1 << 23));
#else
    union { int32_t i; float f; } sc = {((int32_t)n + 127) * (1 << 23)};
    return p * sc.f;
#endif
}

/* e^-y for y >= 0, and 0 (not a subnormal, nor e^-87) where y >= 87. */
DSQ_NUM DSQ_VEC_MATH float dsq_exp_neg0(float y) {
    float e = dsq_exp_neg(y < 87.0f ? y : 87.0f);
    return y < 87.0f ? e : 0.0f;
}

/* ---- erf and GELU --------------------------------------------------------- */

/* erf(a) as PyTorch's vectorised CPU kernels compute it (A&S 7.1.26:
 * erf(a) = sign(a) (1 - t (p1 + t (p2 + ...)) exp(-a^2)), t = 1/(1 + p|a|),
 * |error| < 1.5e-7), so GELU matches theirs more closely than erff does. */
DSQ_NUM DSQ_VEC_MATH float dsq_erf(float a) {
    float aa = a < 0.0f ? -a : a, a2 = a * a;
    a2 = a2 < 87.0f ? a2 : 87.0f;
    float t = 1.0f / (0.3275911f * aa + 1.0f);
    float r = (((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
              0.254829592f;
    float e = 1.0f - r * t * dsq_exp_neg(a2);
    return a < 0.0f ? -e : e;
}

/* Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), with dsq_erf: PyTorch's
 * vectorised CPU forward. */
DSQ_NUM DSQ_VEC_MATH float dsq_gelu(float x) {
    return x * 0.5f * (1.0f + dsq_erf(x * 0.70710678118654752f));
}

/* Its derivative cdf(x) + x pdf(x), as PyTorch's vectorised backward. */
DSQ_NUM DSQ_VEC_MATH float dsq_gelu_grad(float x) {
    float h = 0.5f * x * x;
    float cdf = 0.5f * (1.0f + dsq_erf(x * 0.70710678118654752f));
    float pdf = 0.3989422804014327f * dsq_exp_neg(h < 87.0f ? h : 87.0f);
    return cdf + x * pdf;
}

/* ---- the optimiser ---------------------------------------------------------- */

/* The scalar factors of one AdamW step (torch.optim.AdamW 1.13,
 * single-tensor: Python floats, i.e. double, applied as float32). */
typedef struct {
    float decay;       /* 1 - lr * weight decay */
    float beta1, beta2;
    float a1, a2;      /* 1 - beta1, 1 - beta2 */
    float bc2_sqrt;    /* sqrt(1 - beta2^step) */
    float eps;
    float step_size;   /* lr / (1 - beta1^step) */
} dsq_adamw_k;

/* Host only (pow and sqrt in double). */
static inline dsq_adamw_k dsq_adamw_factors(float lr, float beta1, float beta2, float eps,
                                            float wd, int step) {
    double bc1 = 1.0 - pow((double)beta1, step);
    double bc2 = 1.0 - pow((double)beta2, step);
    dsq_adamw_k k = {(float)(1.0 - (double)lr * wd), beta1, beta2, (float)(1.0 - beta1),
                     (float)(1.0 - beta2), (float)sqrt(bc2), eps, (float)((double)lr / bc1)};
    return k;
}

/* One element of the AdamW update: parameter p, moments m and v, gradient
 * g, in place. */
DSQ_NUM DSQ_VEC_MATH void dsq_adamw_elem(float *p, float *m, float *v, float g, dsq_adamw_k k) {
    float pd = *p * k.decay;
    float mi = *m * k.beta1 + k.a1 * g;
    float vi = *v * k.beta2 + k.a2 * g * g;
    float denom = sqrtf(vi) / k.bc2_sqrt + k.eps;
    *p = pd - k.step_size * (mi / denom);
    *m = mi;
    *v = vi;
}

/* The EMA of a parameter: e * rate + (1 - rate) * p, with a = 1 - rate
 * from dsq_ema_a (in double, then float).  No DSQ_VEC_MATH: its CPU loop
 * is a plain OpenMP loop. */
static inline float dsq_ema_a(float rate) { return (float)(1.0 - (double)rate); }
DSQ_NUM float dsq_ema_elem(float e, float p, float rate, float a) { return e * rate + a * p; }

/* ---- DeBERTa's relative positions -------------------------------------- */

/* The row of the 2S projected relative embeddings that query i and key j
 * use: clamp(i - j + S, 0, 2S - 1) (DeBERTa v1's c2p_pos; its p2c_pos,
 * gathered from the key side and transposed, gives the same row). */
DSQ_NUM int dsq_rel_row(int i, int j, int S) {
    int r = i - j + S;
    return r < 0 ? 0 : r > 2 * S - 1 ? 2 * S - 1 : r;
}

#endif

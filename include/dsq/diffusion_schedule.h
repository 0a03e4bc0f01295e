/* Noise schedules of the forward process (doc/model-and-training.md §3)
 * and the float64 quantities the reference derives from them
 * (GaussianDiffusion.__init__).  Host-side; the training and sampling
 * code round what they need to float32 when they use it, as the
 * reference's _extract_into_tensor does. */
#ifndef DSQ_DIFFUSION_SCHEDULE_H
#define DSQ_DIFFUSION_SCHEDULE_H

#include "err.h"

/* Accepted names, NULL-terminated: sqrt linear cosine trunc_cos trunc_lin
 * pw_lin warmup-decay. */
extern const char *const dsq_schedule_names[];

/* betas[0..T-1] of schedule `name`.  DSQ_EUSAGE for an unknown name or T < 2
 * (pw_lin needs T >= 11). */
int dsq_schedule_betas(const char *name, int T, double *betas, dsq_err *e);

/* numpy.linspace(start, stop, num) bit for bit: start + i * step with
 * step = (stop - start) / (num - 1), the last element exactly stop. */
void dsq_linspace(double start, double stop, int num, double *out);

typedef struct {
    int T;
    /* each [T], float64, names as in the reference */
    double *betas;
    double *alphas_cumprod, *alphas_cumprod_prev, *alphas_cumprod_next;
    double *sqrt_alphas_cumprod, *sqrt_one_minus_alphas_cumprod;
    double *log_one_minus_alphas_cumprod;
    double *sqrt_recip_alphas_cumprod, *sqrt_recipm1_alphas_cumprod;
    double *posterior_variance, *posterior_log_variance_clipped;
    double *posterior_mean_coef1, *posterior_mean_coef2;
} dsq_schedule;

int dsq_schedule_init(dsq_schedule *s, const char *name, int T, dsq_err *e);
void dsq_schedule_free(dsq_schedule *s);

#endif

/* Beta schedules and derived arrays, in the reference's float64 order of
 * operations (numpy: cumprod is a running product, linspace as below). */
#include "diffusion_schedule.h"

#include <math.h>
#include <string.h>

const char *const dsq_schedule_names[] = {
    "sqrt", "linear", "cosine", "trunc_cos", "trunc_lin", "pw_lin", "warmup-decay", NULL,
};

void dsq_linspace(double start, double stop, int num, double *out) {
    if (num <= 0) return;
    if (num == 1) { out[0] = start; return; }
    double step = (stop - start) / (double)(num - 1);
    for (int i = 0; i < num; i++) out[i] = (double)i * step + start;
    out[num - 1] = stop;
}

static double ab_sqrt(double t) { return 1.0 - sqrt(t + 0.0001); }
static double ab_cosine(double t) {
    double c = cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
}
static double ab_trunc_cos(double t) {
    double c = cos((t + 0.1) / 1.1 * M_PI / 2);
    return c * c;
}

/* betas_for_alpha_bar: beta_i = min(1 - a((i+1)/T) / a(i/T), 0.999). */
static void for_alpha_bar(int T, double (*a)(double), double *b) {
    for (int i = 0; i < T; i++) {
        double t1 = (double)i / T, t2 = (double)(i + 1) / T;
        b[i] = fmin(1.0 - a(t2) / a(t1), 0.999);
    }
}

int dsq_schedule_betas(const char *name, int T, double *b, dsq_err *e) {
    if (T < 2)
        return dsq_err_set(e, DSQ_EUSAGE, "noise schedule: %d diffusion steps (need >= 2)", T);
    double scale = 1000.0 / T;
    if (!strcmp(name, "sqrt")) {
        for_alpha_bar(T, ab_sqrt, b);
    } else if (!strcmp(name, "linear")) {
        dsq_linspace(scale * 0.0001, scale * 0.02, T, b);
    } else if (!strcmp(name, "cosine")) {
        for_alpha_bar(T, ab_cosine, b);
    } else if (!strcmp(name, "trunc_cos")) {
        /* betas_for_alpha_bar_left: the first beta from a(0) alone. */
        b[0] = fmin(1.0 - ab_trunc_cos(0.0), 0.999);
        for (int i = 0; i < T - 1; i++) {
            double t1 = (double)i / T, t2 = (double)(i + 1) / T;
            b[i + 1] = fmin(1.0 - ab_trunc_cos(t2) / ab_trunc_cos(t1), 0.999);
        }
    } else if (!strcmp(name, "trunc_lin")) {
        dsq_linspace(scale * 0.0001 + 0.01, scale * 0.02 + 0.01, T, b);
    } else if (!strcmp(name, "pw_lin")) {
        if (T < 11)
            return dsq_err_set(e, DSQ_EUSAGE, "noise schedule pw_lin: %d diffusion steps "
                               "(need >= 11)", T);
        dsq_linspace(scale * 0.0001 + 0.01, scale * 0.0001, 10, b);
        dsq_linspace(scale * 0.0001, scale * 0.02, T - 10, b + 10);
    } else if (!strcmp(name, "warmup-decay")) {
        for_alpha_bar(T, ab_sqrt, b);
        int w = T / 10 > 1 ? T / 10 : 1;
        dsq_linspace(b[T - w], 1e-4, w, b + T - w);
    } else {
        return dsq_err_set(e, DSQ_EUSAGE, "unknown noise schedule '%s' (sqrt, linear, cosine, "
                           "trunc_cos, trunc_lin, pw_lin, warmup-decay)", name);
    }
    return 0;
}

int dsq_schedule_init(dsq_schedule *s, const char *name, int T, dsq_err *e) {
    memset(s, 0, sizeof *s);
    double *b = xmalloc((size_t)T > 0 ? (size_t)T * sizeof *b : 1);
    int rc = dsq_schedule_betas(name, T, b, e);
    if (rc) { free(b); return rc; }
    s->T = T;
    s->betas = b;
    double **arrays[] = {&s->alphas_cumprod, &s->alphas_cumprod_prev, &s->alphas_cumprod_next,
                         &s->sqrt_alphas_cumprod, &s->sqrt_one_minus_alphas_cumprod,
                         &s->log_one_minus_alphas_cumprod, &s->sqrt_recip_alphas_cumprod,
                         &s->sqrt_recipm1_alphas_cumprod, &s->posterior_variance,
                         &s->posterior_log_variance_clipped, &s->posterior_mean_coef1,
                         &s->posterior_mean_coef2};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++)
        *arrays[k] = xmalloc((size_t)T * sizeof(double));
    double *ac = s->alphas_cumprod;
    for (int i = 0; i < T; i++) ac[i] = (i ? ac[i - 1] : 1.0) * (1.0 - b[i]);
    for (int i = 0; i < T; i++) {
        s->alphas_cumprod_prev[i] = i ? ac[i - 1] : 1.0;
        s->alphas_cumprod_next[i] = i + 1 < T ? ac[i + 1] : 0.0;
        s->sqrt_alphas_cumprod[i] = sqrt(ac[i]);
        s->sqrt_one_minus_alphas_cumprod[i] = sqrt(1.0 - ac[i]);
        s->log_one_minus_alphas_cumprod[i] = log(1.0 - ac[i]);
        s->sqrt_recip_alphas_cumprod[i] = sqrt(1.0 / ac[i]);
        s->sqrt_recipm1_alphas_cumprod[i] = sqrt(1.0 / ac[i] - 1);
        double prev = s->alphas_cumprod_prev[i];
        s->posterior_variance[i] = b[i] * (1.0 - prev) / (1.0 - ac[i]);
        s->posterior_mean_coef1[i] = b[i] * sqrt(prev) / (1.0 - ac[i]);
        s->posterior_mean_coef2[i] = (1.0 - prev) * sqrt(1.0 - b[i]) / (1.0 - ac[i]);
    }
    /* log clipped: the variance is 0 at step 0; use step 1's there. */
    for (int i = 0; i < T; i++)
        s->posterior_log_variance_clipped[i] = log(s->posterior_variance[i ? i : 1]);
    return 0;
}

void dsq_schedule_free(dsq_schedule *s) {
    double *arrays[] = {s->betas, s->alphas_cumprod, s->alphas_cumprod_prev,
                        s->alphas_cumprod_next, s->sqrt_alphas_cumprod,
                        s->sqrt_one_minus_alphas_cumprod, s->log_one_minus_alphas_cumprod,
                        s->sqrt_recip_alphas_cumprod, s->sqrt_recipm1_alphas_cumprod,
                        s->posterior_variance, s->posterior_log_variance_clipped,
                        s->posterior_mean_coef1, s->posterior_mean_coef2};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) free(arrays[k]);
    memset(s, 0, sizeof *s);
}

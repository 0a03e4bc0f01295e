/* Step plans of the samplers (doc/sampling.md §2-§4): which model times
 * are visited and each update's coefficients, computed in float64 from
 * the schedule and rounded once to float32. */
#include "sample.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {"ddpm", "ddim-gap", "ddim", "dpm++", "dpm++v2"};

int dsq_sampler_parse(const char *name, dsq_sampler_kind *k) {
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i])) {
            *k = (dsq_sampler_kind)i;
            return 0;
        }
    return -1;
}

const char *dsq_sampler_name(dsq_sampler_kind k) {
    return (unsigned)k < 5 ? names[k] : "?";
}

void dsq_sample_opts_default(dsq_sample_opts *o) {
    memset(o, 0, sizeof *o);
    o->kind = DSQ_SAMPLER_DDPM;
    o->round = 1;
    o->clamp_first = 1;
    o->order = 2;
    o->seed = 101;
}

void dsq_sample_spaced_timesteps(int T, int S, int *kept) {
    /* space_timesteps(T, [S]): cur_idx accumulates the float stride and
     * Python's round() (half to even, nearbyint's default mode) picks. */
    double stride = S <= 1 ? 1.0 : (double)(T - 1) / (S - 1), cur = 0;
    for (int i = 0; i < S; i++) {
        kept[i] = (int)nearbyint(cur);
        cur += stride;
    }
}

/* GaussianDiffusion's arrays for the betas of the kept timesteps
 * (SpacedDiffusion: beta'_j = 1 - abar[kept_j] / abar[kept_{j-1}]). */
typedef struct {
    double *beta, *ac, *acp;  /* [S] each */
} spaced;

static void spaced_make(spaced *sp, const dsq_schedule *sch, const int *kept, int S) {
    sp->beta = xmalloc(3 * (size_t)S * sizeof(double));
    sp->ac = sp->beta + S;
    sp->acp = sp->ac + S;
    double last = 1.0;
    for (int j = 0; j < S; j++) {
        double a = sch->alphas_cumprod[kept[j]];
        sp->beta[j] = 1.0 - a / last;
        last = a;
    }
    double c = 1.0;  /* the new diffusion's own cumprod, as it recomputes it */
    for (int j = 0; j < S; j++) {
        sp->acp[j] = c;
        c *= 1.0 - sp->beta[j];
        sp->ac[j] = c;
    }
}

static int round_here(const dsq_sample_opts *o, int i) {
    if (!o->round) return 0;
    return o->clamp_first ? i >= o->clamp_step : i <= o->clamp_step;
}

/* DDPM posterior step at j of a diffusion with betas beta, cumprods ac /
 * acp; "fixed large" log-variance log([sigma2_1, beta_1, ..., beta_{S-1}]). */
static void ddpm_coefs(dsq_sample_step *st, const double *beta, const double *ac,
                       const double *acp, int S, int j, float denoise_rate) {
    double b = beta[j], a = ac[j], ap = acp[j];
    st->c1 = (float)(b * sqrt(ap) / (1.0 - a));
    st->c2 = (float)((1.0 - ap) * sqrt(1.0 - b) / (1.0 - a));
    double logvar;
    if (j == 0)
        logvar = S > 1 ? log(beta[1] * (1.0 - acp[1]) / (1.0 - ac[1])) : log(b);
    else
        logvar = log(b);
    /* th.exp(0.5 * log_variance) on the float32 log-variance */
    st->sd = j > 0 ? (float)exp(0.5 * (double)(float)logvar) : 0.0f;
    st->pden = j > 0 ? st->sd * denoise_rate : 0.0f;
}

static void ddim_coefs(dsq_sample_step *st, double a, double ap) {
    st->ra = (float)sqrt(1.0 / a);
    st->rm1 = (float)sqrt(1.0 / a - 1.0);
    float apf = (float)ap;  /* th.sqrt on the float32 alpha_bar_prev */
    st->sp = sqrtf(apf);
    st->sq = sqrtf(1.0f - apf);
}

/* ---- DPM-Solver++ continuous-time view (doc/sampling.md §4) ------------- */

typedef struct {
    int T;
    double *la;  /* log alpha at t_n = (n+1)/T */
} vp_sched;

static double vp_log_alpha(const vp_sched *v, double t) {
    int T = v->T;
    /* segment n..n+1 containing t (end segments extrapolate) */
    int n = (int)floor(t * T) - 1;
    if (n < 0) n = 0;
    if (n > T - 2) n = T - 2;
    double t0 = (double)(n + 1) / T, t1 = (double)(n + 2) / T;
    return v->la[n] + (t - t0) * (v->la[n + 1] - v->la[n]) / (t1 - t0);
}

static double vp_sigma(double la) { return sqrt(1.0 - exp(2.0 * la)); }
static double vp_lambda(double la) { return la - log(vp_sigma(la)); }

static int dpm_plan(dsq_sample_plan *p, const dsq_schedule *sch, const dsq_sample_opts *o,
                    int N, dsq_err *e) {
    int T = sch->T;
    if (o->order != 1 && o->order != 2)
        return dsq_err_set(e, DSQ_EUSAGE, "--order must be 1 or 2 (got %d)", o->order);
    if (N < o->order)
        return dsq_err_set(e, DSQ_EUSAGE, "%s needs --steps >= order (%d)",
                           dsq_sampler_name(o->kind), o->order);
    vp_sched v = {T, xmalloc((size_t)T * sizeof(double))};
    double acc = 0;
    for (int n = 0; n < T; n++) {
        acc += log(1.0 - sch->betas[n]);
        v.la[n] = 0.5 * acc;
    }
    double *tk = xmalloc((size_t)(N + 1) * sizeof *tk);
    dsq_linspace(1.0, 1.0 / T, N + 1, tk);
    p->n = N + 1;
    p->calls = N;
    p->step = xcalloc((size_t)p->n, sizeof *p->step);
    int v2 = o->kind == DSQ_SAMPLER_DPMPP_V2;
    for (int k = 0; k <= N; k++) {
        dsq_sample_step *st = &p->step[k];
        st->index = -1;
        /* textbook discrete wrapper: (t - 1/T)·1000 = n·1000/T, the training
         * input; the v2 script feeds 1000·t */
        st->tmodel = k < N ? (float)(v2 ? 1000.0 * tk[k] : 1000.0 * (tk[k] - 1.0 / T)) : 0.0f;
        if (k == 0) continue;
        double la_k = vp_log_alpha(&v, tk[k]), la_p = vp_log_alpha(&v, tk[k - 1]);
        double lam_k = vp_lambda(la_k), lam_p = vp_lambda(la_p);
        double h = lam_k - lam_p, phi = expm1(-h), alpha = exp(la_k);
        int ord = o->order;
        if (k == 1) ord = 1;
        else if (N < 10 && ord > N + 1 - k) ord = N + 1 - k;  /* lower_order_final */
        st->ratio = (float)(vp_sigma(la_k) / vp_sigma(la_p));
        st->cm = (float)(-alpha * phi);
        if (ord == 2) {
            double lam_pp = vp_lambda(vp_log_alpha(&v, tk[k - 2]));
            double r = (lam_p - lam_pp) / h;
            st->cd = (float)(-0.5 * alpha * phi / r);
        }
    }
    free(tk);
    free(v.la);
    return 0;
}

int dsq_sample_plan_make(dsq_sample_plan *p, const dsq_schedule *sch, const dsq_sample_opts *o,
                         dsq_err *e) {
    memset(p, 0, sizeof *p);
    p->kind = o->kind;
    int T = sch->T, S = o->steps;
    if (o->kind == DSQ_SAMPLER_DPMPP || o->kind == DSQ_SAMPLER_DPMPP_V2)
        return dpm_plan(p, sch, o, S ? S : 10, e);
    if (S == 0) {
        if (o->kind != DSQ_SAMPLER_DDPM)
            return dsq_err_set(e, DSQ_EUSAGE, "%s needs --steps S", dsq_sampler_name(o->kind));
        S = T;
    }
    if (S < 1 || S > T)
        return dsq_err_set(e, DSQ_EUSAGE, "--steps %d: must be in 1..%d (the model's T)", S, T);

    if (o->kind == DSQ_SAMPLER_DDIM_GAP) {
        /* indices T-1, T-1-gap, ... >= 0 of the UN-respaced diffusion; the
         * update lowers the noise by one step only: the quirk of
         * doc/sampling.md §3 */
        int gap = T / S;
        p->n = p->calls = (T + gap - 1) / gap;
        p->step = xcalloc((size_t)p->n, sizeof *p->step);
        for (int k = 0; k < p->n; k++) {
            int i = T - 1 - k * gap;
            dsq_sample_step *st = &p->step[k];
            st->index = i;
            st->tmodel = dsq_model_rescale_t(i, T);
            st->round = o->round;  /* denoised_fn at every step */
            ddim_coefs(st, sch->alphas_cumprod[i], sch->alphas_cumprod_prev[i]);
        }
        return 0;
    }

    int *kept = xmalloc((size_t)S * sizeof *kept);
    dsq_sample_spaced_timesteps(T, S, kept);
    spaced sp;
    if (S == T) {  /* the full chain uses the schedule's arrays as they are */
        sp.beta = NULL;
    } else {
        spaced_make(&sp, sch, kept, S);
    }
    const double *beta = sp.beta ? sp.beta : sch->betas;
    const double *ac = sp.beta ? sp.ac : sch->alphas_cumprod;
    const double *acp = sp.beta ? sp.acp : sch->alphas_cumprod_prev;
    p->n = p->calls = S;
    p->step = xcalloc((size_t)S, sizeof *p->step);
    for (int k = 0; k < S; k++) {
        int j = S - 1 - k;
        dsq_sample_step *st = &p->step[k];
        st->index = kept[j];
        st->tmodel = dsq_model_rescale_t(kept[j], T);  /* model fed the original step */
        st->round = round_here(o, kept[j]);
        if (o->kind == DSQ_SAMPLER_DDPM)
            ddpm_coefs(st, beta, ac, acp, S, j, o->denoise_rate);
        else
            ddim_coefs(st, ac[j], acp[j]);
    }
    free(sp.beta);
    free(kept);
    return 0;
}

void dsq_sample_plan_free(dsq_sample_plan *p) {
    free(p->step);
    p->step = NULL;
    p->n = p->calls = 0;
}

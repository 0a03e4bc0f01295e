/* Schedule samplers: uniform, loss-second-moment (lossaware), fixstep. */
#include "schedule_sampler.h"

#include <math.h>
#include <string.h>

#include "philox.h"

int dsq_tsampler_init(dsq_tsampler *s, const char *name, int T, dsq_err *e) {
    memset(s, 0, sizeof *s);
    if (T < 1) return dsq_err_set(e, DSQ_EUSAGE, "schedule sampler: %d diffusion steps", T);
    if (!strcmp(name, "uniform")) s->kind = DSQ_TSAMPLER_UNIFORM;
    else if (!strcmp(name, "lossaware")) s->kind = DSQ_TSAMPLER_LOSSAWARE;
    else if (!strcmp(name, "fixstep")) s->kind = DSQ_TSAMPLER_FIXSTEP;
    else
        return dsq_err_set(e, DSQ_EUSAGE, "unknown schedule sampler '%s' (uniform, "
                           "lossaware, fixstep)", name);
    s->T = T;
    s->history = xcalloc((size_t)T * DSQ_LOSSAWARE_HISTORY, sizeof *s->history);
    s->counts = xcalloc((size_t)T, sizeof *s->counts);
    s->w = xcalloc((size_t)T, sizeof *s->w);
    s->cdf = xcalloc((size_t)T, sizeof *s->cdf);
    return 0;
}

void dsq_tsampler_free(dsq_tsampler *s) {
    free(s->history);
    free(s->counts);
    free(s->w);
    free(s->cdf);
    memset(s, 0, sizeof *s);
}

int dsq_tsampler_warmed_up(const dsq_tsampler *s) {
    if (s->kind != DSQ_TSAMPLER_LOSSAWARE) return 1;
    for (int t = 0; t < s->T; t++)
        if (s->counts[t] < DSQ_LOSSAWARE_HISTORY) return 0;
    return 1;
}

void dsq_tsampler_weights(const dsq_tsampler *s, double *w) {
    int T = s->T;
    if (s->kind == DSQ_TSAMPLER_FIXSTEP) {
        /* np.concatenate([ones(T//2), zeros(T//2) + 0.5]); an odd T leaves
         * the reference one short, here the last step gets 0.5 too */
        for (int t = 0; t < T; t++) w[t] = t < T / 2 ? 1.0 : 0.5;
        return;
    }
    if (s->kind == DSQ_TSAMPLER_UNIFORM || !dsq_tsampler_warmed_up(s)) {
        for (int t = 0; t < T; t++) w[t] = 1.0;
        return;
    }
    double sum = 0;
    for (int t = 0; t < T; t++) {
        const double *h = s->history + (size_t)t * DSQ_LOSSAWARE_HISTORY;
        double m = 0;
        for (int k = 0; k < DSQ_LOSSAWARE_HISTORY; k++) m += h[k] * h[k];
        w[t] = sqrt(m / DSQ_LOSSAWARE_HISTORY);
        sum += w[t];
    }
    for (int t = 0; t < T; t++) {
        w[t] /= sum;
        w[t] *= 1 - DSQ_LOSSAWARE_UNIFORM_PROB;
        w[t] += DSQ_LOSSAWARE_UNIFORM_PROB / T;
    }
}

/* 53-bit uniform double in [0, 1) from block i's first two words. */
static double uniform53(uint64_t seed, uint64_t off, uint64_t i) {
    uint32_t x[4];
    dsq_philox_block(seed, off, i, x);
    uint64_t v = ((uint64_t)x[0] << 21) ^ (x[1] >> 11);
    return (double)(v & ((1ull << 53) - 1)) * 0x1p-53;
}

void dsq_tsampler_sample(dsq_tsampler *s, int n, uint64_t seed, uint64_t off, int *t,
                        float *wt) {
    int T = s->T;
    dsq_tsampler_weights(s, s->w);
    double sum = 0;
    for (int k = 0; k < T; k++) sum += s->w[k];
    double acc = 0;
    for (int k = 0; k < T; k++) {
        s->w[k] /= sum;  /* p */
        acc += s->w[k];
        s->cdf[k] = acc;
    }
    for (int k = 0; k < T; k++) s->cdf[k] /= acc;
    for (int i = 0; i < n; i++) {
        double u = uniform53(seed, off, (uint64_t)i);
        int lo = 0, hi = T - 1;  /* first k with u < cdf[k] */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (u < s->cdf[mid]) hi = mid;
            else lo = mid + 1;
        }
        t[i] = lo;
        wt[i] = (float)(1.0 / (T * s->w[lo]));
    }
}

void dsq_tsampler_update(dsq_tsampler *s, const int *t, const double *loss, int n) {
    if (s->kind != DSQ_TSAMPLER_LOSSAWARE) return;
    for (int i = 0; i < n; i++) {
        double *h = s->history + (size_t)t[i] * DSQ_LOSSAWARE_HISTORY;
        int32_t *c = &s->counts[t[i]];
        if (*c == DSQ_LOSSAWARE_HISTORY) {
            memmove(h, h + 1, (DSQ_LOSSAWARE_HISTORY - 1) * sizeof *h);
            h[DSQ_LOSSAWARE_HISTORY - 1] = loss[i];
        } else {
            h[(*c)++] = loss[i];
        }
    }
}

/* Running a sampler's plan on a batch (doc/sampling.md §1-§4). */
#include "sample.h"

#include <math.h>
#include <string.h>

#include "philox.h"

/* Host loops go parallel only above this many floats: an OpenMP region
 * costs more than a small loop, badly so on a loaded machine. */
#define PAR_MIN (1 << 15)

struct dsq_sampler {
    dsq_model *m;
    const dsq_schedule *sch;
    dsq_sample_opts o;
    dsq_sample_plan plan;
    dsq_backend *be;
    int Bmax, L, d, V;
    float *dx, *dt;               /* device: state [Bmax, L, d], times [Bmax] */
    float *dout;                  /* device [Bmax, L, d]: f(x) when the forward is split */
    int fb;                       /* rows per model forward (activation budget) */
    /* host */
    float *x, *x0, *m1, *m2;      /* [Bmax, L, d] state, x̂0, last two predictions */
    float *e0;                    /* [Bmax, L, d] source embeddings E[ids] */
    float *z, *zr;                /* [Bmax, L, d] draws and top-p redraws */
    float *u;                     /* [Bmax, L] uniforms */
    float *E, *enorm, *mean;      /* [V, d], [V], [d] (mean: NULL unless v2) */
    float *denorm;                /* device [V]: enorm for the rounding search */
    int32_t *tok;                 /* [Bmax, L] */
    dsq_vocab_search vs;
    dsq_draw_fn draw;
    void *draw_ctx;
    uint64_t seed;
    dsq_trace_fn trace;
    void *trace_ctx;
    dsq_progress_fn progress;
    void *progress_ctx;
    int stopped;
};

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t dsq_sample_example_key(uint64_t seed, int64_t index) {
    return splitmix64(splitmix64(seed) ^ (uint64_t)index);
}

void dsq_sample_philox_draw(void *ctx, const dsq_draw *d, float *out, size_t n) {
    uint64_t key = dsq_sample_example_key(*(const uint64_t *)ctx, d->index);
    uint64_t off = (uint64_t)d->purpose << 56 | (uint64_t)(uint32_t)d->redraw << 32 |
                   (uint32_t)d->step;
    for (size_t g = 0; g * 4 < n; g++) {
        uint32_t w[4];
        float v[4];
        dsq_philox_block(key, off, g, w);
        if (d->purpose == DSQ_DRAW_DENOISE) {
            for (int l = 0; l < 4; l++) v[l] = dsq_philox_uniform(w[l]);
        } else {
            dsq_philox_box_muller(w[0], w[1], &v[0], &v[1]);
            dsq_philox_box_muller(w[2], w[3], &v[2], &v[3]);
        }
        for (size_t l = 0; l < 4 && g * 4 + l < n; l++) out[g * 4 + l] = v[l];
    }
}

int dsq_sampler_create(dsq_sampler **out, dsq_model *m, const dsq_schedule *sch,
                       const dsq_sample_opts *o, int B_max, int L, dsq_err *e) {
    *out = NULL;
    if (o->mean_start && !m->cfg.mean_embed)
        return dsq_err_set(e, DSQ_EUSAGE, "a mean-embedding start needs a model with mean_embed");
    if (o->denoise_rate > 0 && !m->cfg.mean_embed)
        return dsq_err_set(e, DSQ_EUSAGE, "denoise noise needs a model with mean_embed");
    if (o->top_p < 0) return dsq_err_set(e, DSQ_EUSAGE, "--top-p must be >= 0");
    /* Decoding keeps two layers' activations and no gradients; the
     * forward runs on slices of fb rows whose activations fit the budget.
     * Rows are independent, so the result does not depend on fb. */
    int rc = dsq_model_reserve_inference(m, 1, L, e);
    if (rc) return rc;
    size_t budget = o->act_budget ? o->act_budget : (size_t)1 << 30;
    size_t per_row = m->n_acts * sizeof(float) / (size_t)m->B;
    int fb = per_row ? (int)(budget / per_row) : B_max;
    if (fb < 1) fb = 1;
    if (fb > B_max) fb = B_max;
    if ((rc = dsq_model_reserve_inference(m, fb, L, e))) return rc;
    dsq_sampler *s = xcalloc(1, sizeof *s);
    s->fb = fb;
    if ((rc = dsq_sample_plan_make(&s->plan, sch, o, e))) {
        free(s);
        return rc;
    }
    s->m = m;
    s->sch = sch;
    s->o = *o;
    s->be = m->be;
    s->Bmax = B_max;
    s->L = L;
    s->d = m->cfg.d;
    s->V = m->cfg.vocab;
    size_t nx = (size_t)B_max * L * s->d, V = (size_t)s->V, d = (size_t)s->d;
    s->dx = s->be->alloc(s->be, nx * sizeof(float));
    s->dt = s->be->alloc(s->be, (size_t)B_max * sizeof(float));
    s->dout = fb < B_max ? s->be->alloc(s->be, nx * sizeof(float)) : NULL;
    s->x = xmalloc(7 * nx * sizeof(float));
    s->x0 = s->x + nx;
    s->m1 = s->x0 + nx;
    s->m2 = s->m1 + nx;
    s->e0 = s->m2 + nx;
    s->z = s->e0 + nx;
    s->zr = s->z + nx;
    s->u = xmalloc((size_t)B_max * L * sizeof(float));
    s->E = xmalloc((V * d + V + d) * sizeof(float));
    s->enorm = s->E + V * d;
    s->be->download(s->be, s->E, m->p.wemb, V * d * sizeof(float));
    for (size_t v = 0; v < V; v++) {
        float acc = 0;  /* (E**2).sum(-1) in float32 */
        for (size_t k = 0; k < d; k++) acc += s->E[v * d + k] * s->E[v * d + k];
        s->enorm[v] = acc;
    }
    s->denorm = s->be->alloc(s->be, V * sizeof(float));
    s->be->upload(s->be, s->denorm, s->enorm, V * sizeof(float));
    if (m->cfg.mean_embed) {
        s->mean = s->enorm + V;
        s->be->download(s->be, s->mean, m->p.mean_emb, d * sizeof(float));
    }
    s->tok = xmalloc((size_t)B_max * L * sizeof(int32_t));
    /* Score blocks: 8 MB on the CPU (cache-sized), 256 MB on a GPU
     * (GEMMs big enough to fill it). */
    int cpu = !strcmp(s->be->name, "cpu"), rmax = cpu ? 512 : 8192, cmax = cpu ? 4096 : 8192;
    int rows = B_max * L < rmax ? B_max * L : rmax;
    dsq_vocab_search_init(&s->vs, s->be, rows, s->V < cmax ? s->V : cmax);
    s->seed = o->seed;
    s->draw = dsq_sample_philox_draw;
    s->draw_ctx = &s->seed;
    *out = s;
    return 0;
}

void dsq_sampler_free(dsq_sampler *s) {
    if (!s) return;
    s->be->free(s->be, s->dx);
    s->be->free(s->be, s->dt);
    s->be->free(s->be, s->denorm);
    if (s->dout) s->be->free(s->be, s->dout);
    dsq_vocab_search_free(&s->vs);
    free(s->x);
    free(s->u);
    free(s->E);
    free(s->tok);
    dsq_sample_plan_free(&s->plan);
    free(s);
}

const dsq_sample_plan *dsq_sampler_plan(const dsq_sampler *s) { return &s->plan; }

void dsq_sampler_set_draw(dsq_sampler *s, dsq_draw_fn fn, void *ctx) {
    s->draw = fn ? fn : dsq_sample_philox_draw;
    s->draw_ctx = fn ? ctx : &s->seed;
}

void dsq_sampler_set_trace(dsq_sampler *s, dsq_trace_fn fn, void *ctx) {
    s->trace = fn;
    s->trace_ctx = ctx;
}

void dsq_sampler_set_progress(dsq_sampler *s, dsq_progress_fn fn, void *ctx) {
    s->progress = fn;
    s->progress_ctx = ctx;
}

/* x = where(mask == 0, E[ids], x): anchor the source. */
static void anchor(dsq_sampler *s, float *x, const uint8_t *mask, int B) {
    size_t d = (size_t)s->d;
#pragma omp parallel for schedule(static) if ((long)B * s->L * s->d > PAR_MIN)
    for (long p = 0; p < (long)B * s->L; p++)
        if (!mask[p]) memcpy(x + p * d, s->e0 + p * d, d * sizeof(float));
}

/* Normal draws of every row into z; step noise with top-p redraws, at
 * most DSQ_TOP_P_ROUNDS (the start noise is plain, as the reference's
 * randn_like). */
static void draw_normal(dsq_sampler *s, int purpose, int step, const int64_t *index, int B) {
    size_t n = (size_t)s->L * s->d;
    float tp = purpose == DSQ_DRAW_STEP ? s->o.top_p : 0.0f;
#pragma omp parallel for schedule(dynamic, 1) if ((size_t)B * n > PAR_MIN)
    for (int b = 0; b < B; b++) {
        dsq_draw dr = {purpose, step, 0, b, index[b]};
        float *z = s->z + b * n, *zr = s->zr + b * n;
        s->draw(s->draw_ctx, &dr, z, n);
        if (tp <= 0) continue;
        for (;;) {
            size_t bad = 0;
            for (size_t j = 0; j < n; j++) bad += fabsf(z[j]) > tp;
            if (!bad) break;
            if (dr.redraw == DSQ_TOP_P_ROUNDS) {  /* the bound (sample.h) */
                for (size_t j = 0; j < n; j++) z[j] = fminf(tp, fmaxf(-tp, z[j]));
                break;
            }
            dr.redraw++;
            s->draw(s->draw_ctx, &dr, zr, n);
            for (size_t j = 0; j < n; j++)
                if (fabsf(z[j]) > tp) z[j] = zr[j];
        }
    }
}

/* f(x, tmodel) on the device, fb rows per forward; returns the output
 * (device [B, L, d]). */
static const float *model_call(dsq_sampler *s, const float *x, float tmodel, int B) {
    dsq_backend *be = s->be;
    size_t row = (size_t)s->L * s->d;
    float t[B];
    for (int b = 0; b < B; b++) t[b] = tmodel;
    be->upload(be, s->dx, x, (size_t)B * row * sizeof(float));
    be->upload(be, s->dt, t, (size_t)B * sizeof(float));
    if (B <= s->fb) return dsq_model_forward(s->m, s->dx, s->dt, B, s->L);
    for (int b0 = 0; b0 < B; b0 += s->fb) {
        int nb = B - b0 < s->fb ? B - b0 : s->fb;
        const float *out = dsq_model_forward(s->m, s->dx + b0 * row, s->dt + b0, nb, s->L);
        be->copy(be, s->dout + b0 * row, out, (size_t)nb * row * sizeof(float));
    }
    return s->dout;
}

/* x̂0 = round(out) or out, then clip. */
static void predict_x0(dsq_sampler *s, const float *out, int do_round, int B) {
    size_t N = (size_t)B * s->L, d = (size_t)s->d;
    if (do_round) {
        dsq_vocab_nearest(&s->vs, s->tok, out, s->m->p.wemb, s->denorm, (int)N, (int)d, s->V);
#pragma omp parallel for schedule(static) if (N * d > PAR_MIN)
        for (long p = 0; p < (long)N; p++)
            memcpy(s->x0 + p * d, s->E + (size_t)s->tok[p] * d, d * sizeof(float));
    } else {
        s->be->download(s->be, s->x0, out, N * d * sizeof(float));
    }
    if (s->o.clip_denoised)
        for (size_t i = 0; i < N * d; i++) s->x0[i] = fminf(1.0f, fmaxf(-1.0f, s->x0[i]));
}

static void trace(dsq_sampler *s, int k, int B) {
    if (s->trace) s->trace(s->trace_ctx, k, s->x, B, s->L, s->d);
}

/* Returns non-zero when the caller asked to stop. */
static int progress(dsq_sampler *s, int done) {
    if (s->progress && s->progress(s->progress_ctx, done, s->plan.calls)) s->stopped = 1;
    return s->stopped;
}

static void run_chain(dsq_sampler *s, const uint8_t *mask, const int64_t *index, int B) {
    size_t n = (size_t)s->L * s->d, nx = (size_t)B * n, d = (size_t)s->d;
    for (int k = 0; k < s->plan.n; k++) {
        const dsq_sample_step *st = &s->plan.step[k];
        predict_x0(s, model_call(s, s->x, st->tmodel, B), st->round, B);
        float *x = s->x, *x0 = s->x0;
        if (s->plan.kind == DSQ_SAMPLER_DDPM) {
            float c1 = st->c1, c2 = st->c2, sd = st->sd;
            if (sd > 0) {
                draw_normal(s, DSQ_DRAW_STEP, k, index, B);
                const float *z = s->z;
#pragma omp parallel for schedule(static) if (nx > PAR_MIN)
                for (size_t i = 0; i < nx; i++) x[i] = (c1 * x0[i] + c2 * x[i]) + sd * z[i];
            } else {
#pragma omp parallel for schedule(static) if (nx > PAR_MIN)
                for (size_t i = 0; i < nx; i++) x[i] = c1 * x0[i] + c2 * x[i];
            }
            if (st->pden > 0 && s->mean) {
                for (int b = 0; b < B; b++) {
                    dsq_draw dr = {DSQ_DRAW_DENOISE, k, 0, b, index[b]};
                    s->draw(s->draw_ctx, &dr, s->u + (size_t)b * s->L, (size_t)s->L);
                }
                for (size_t p = 0; p < (size_t)B * s->L; p++)
                    if (s->u[p] < st->pden) memcpy(x + p * d, s->mean, d * sizeof(float));
            }
        } else {  /* ddim, ddim-gap: eta = 0 */
            float ra = st->ra, rm1 = st->rm1, sp = st->sp, sq = st->sq;
#pragma omp parallel for schedule(static) if (nx > PAR_MIN)
            for (size_t i = 0; i < nx; i++) {
                float eps = (ra * x[i] - x0[i]) / rm1;
                x[i] = x0[i] * sp + sq * eps;
            }
        }
        anchor(s, x, mask, B);
        trace(s, k, B);
        if (progress(s, k + 1)) return;
    }
}

static void run_dpm(dsq_sampler *s, const uint8_t *mask, int B) {
    size_t nx = (size_t)B * s->L * s->d;
    int v2 = s->plan.kind == DSQ_SAMPLER_DPMPP_V2, N = s->plan.n - 1;
    float *x = s->x, *m1 = s->m1, *m2 = s->m2;
    /* m1 = D(x, t_0); v2 also moves x there */
    s->be->download(s->be, m1, model_call(s, x, s->plan.step[0].tmodel, B), nx * sizeof(float));
    if (v2) {
        anchor(s, m1, mask, B);
        memcpy(x, m1, nx * sizeof(float));
    }
    if (progress(s, 1)) return;
    for (int k = 1; k <= N; k++) {
        const dsq_sample_step *st = &s->plan.step[k];
        float ratio = st->ratio, cm = st->cm, cd = st->cd;
#pragma omp parallel for schedule(static) if (nx > PAR_MIN)
        for (size_t i = 0; i < nx; i++) {
            float v = ratio * x[i] + cm * m1[i];
            if (cd != 0) v += cd * (m1[i] - m2[i]);
            x[i] = v;
        }
        anchor(s, x, mask, B);
        trace(s, k, B);
        if (k == N) break;
        float *t = m2;  /* m2 <- m1, m1 <- D(x, t_k) */
        m2 = m1;
        m1 = t;
        s->be->download(s->be, m1, model_call(s, x, st->tmodel, B), nx * sizeof(float));
        if (v2) {
            anchor(s, m1, mask, B);
            memcpy(x, m1, nx * sizeof(float));
        }
        if (progress(s, k + 1)) return;
    }
}

int dsq_sampler_run(dsq_sampler *s, const int32_t *ids, const uint8_t *mask,
                    const int64_t *index, int B, int32_t *tokens, dsq_err *e) {
    if (B < 1 || B > s->Bmax)
        return dsq_err_set(e, DSQ_EFAIL, "sampler batch %d outside 1..%d", B, s->Bmax);
    size_t n = (size_t)s->L * s->d, d = (size_t)s->d;
    for (size_t p = 0; p < (size_t)B * s->L; p++) {
        if (ids[p] < 0 || ids[p] >= s->V)
            return dsq_err_set(e, DSQ_EDATA, "id %d outside the model's vocabulary (%d)",
                               (int)ids[p], s->V);
        memcpy(s->e0 + p * d, s->E + (size_t)ids[p] * d, d * sizeof(float));
    }
    /* start: x = P(z); a v2 ddpm chain adds m on the target */
    draw_normal(s, DSQ_DRAW_START, 0, index, B);
    memcpy(s->x, s->z, (size_t)B * n * sizeof(float));
    if (s->o.mean_start && s->mean && s->plan.kind == DSQ_SAMPLER_DDPM)
        for (size_t p = 0; p < (size_t)B * s->L; p++)
            if (mask[p])
                for (size_t k = 0; k < d; k++) s->x[p * d + k] += s->mean[k];
    anchor(s, s->x, mask, B);
    if (s->plan.kind == DSQ_SAMPLER_DPMPP || s->plan.kind == DSQ_SAMPLER_DPMPP_V2)
        run_dpm(s, mask, B);
    else
        run_chain(s, mask, index, B);
    if (s->stopped) {
        s->stopped = 0;
        return dsq_err_set(e, DSQ_EFAIL, "interrupted");
    }
    /* tokens = argmax logits(x) */
    s->be->upload(s->be, s->dx, s->x, (size_t)B * n * sizeof(float));
    dsq_vocab_argmax(&s->vs, tokens, s->dx, s->m->p.wemb, s->m->p.lm_bias, B * s->L, s->d,
                     s->V);
    return 0;
}

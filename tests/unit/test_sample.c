/* Samplers: parity with the PyTorch re-statement (tests/oracles/
 * sampler_ref.py) on tests/fixtures/sample/sampler.safetensors (T = 20,
 * every sampler, draws injected from the fixture: every state within
 * rel. 1e-4, identical tokens), the step plans, the chunked vocabulary
 * searches against brute force, and per-example randomness (a row's output
 * does not depend on its batch). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "diffusion_schedule.h"
#include "model.h"
#include "safetensors.h"
#include "sample.h"

static dsq_backend *be;
static const char *fixture_path = "tests/fixtures/sample/sampler.safetensors";

static double rel_err(const float *got, const float *want, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)got[i] - want[i]));
        m = fmax(m, fabs((double)want[i]));
    }
    return e / fmax(m, 1e-30);
}

/* ---- the fixture ------------------------------------------------------- */

typedef struct {
    dsq_record r;
    json_t *cfg;
    int B, L, d, T, R;
    dsq_model m;
    dsq_schedule sch;
    const float *start, *step, *denoise;
} fixture;

static int cfg_int(json_t *j, const char *k) { return (int)json_integer_value(json_object_get(j, k)); }

static const dsq_tensor *need(fixture *f, const char *name) {
    const dsq_tensor *t = dsq_record_find(&f->r, name);
    EXPECT(t != NULL, "fixture lacks %s", name);
    return t;
}

static int fixture_load(fixture *f) {
    dsq_err e = {0};
    memset(f, 0, sizeof *f);
    dsq_record_init(&f->r);
    if (dsq_st_read_file(fixture_path, &f->r, &e)) {
        EXPECT(0, "%s", e.msg);
        return -1;
    }
    f->cfg = json_loads(dsq_record_meta(&f->r, "config"), 0, NULL);
    json_t *j = f->cfg;
    dsq_model_config c;
    dsq_model_config_default(&c, cfg_int(j, "vocab"), cfg_int(j, "d"));
    c.dt = cfg_int(j, "dt");
    c.H = cfg_int(j, "H");
    c.nh = cfg_int(j, "nh");
    c.I = cfg_int(j, "I");
    c.n_layers = cfg_int(j, "n_layers");
    c.max_pos = cfg_int(j, "max_pos");
    c.mean_embed = json_is_true(json_object_get(j, "mean_embed"));
    f->B = cfg_int(j, "B");
    f->L = cfg_int(j, "L");
    f->d = c.d;
    f->T = cfg_int(j, "T");
    f->R = cfg_int(j, "R");
    if (dsq_model_create(&f->m, &c, be, &e)) {
        EXPECT(0, "model: %s", e.msg);
        return -1;
    }
    float *host = xcalloc(f->m.n_params, sizeof *host);
    char nm[128];
    for (int i = 0; i < f->m.n_tensors; i++) {
        const dsq_param_info *p = &f->m.info[i];
        snprintf(nm, sizeof nm, "param.%s", p->name);
        const dsq_tensor *t = need(f, nm);
        if (!t || t->nbytes != p->numel * sizeof(float)) return -1;
        memcpy(host + p->offset, t->data, t->nbytes);
    }
    be->upload(be, f->m.params, host, f->m.n_params * sizeof(float));
    free(host);
    if (dsq_schedule_init(&f->sch, json_string_value(json_object_get(j, "schedule")), f->T, &e)) {
        EXPECT(0, "schedule: %s", e.msg);
        return -1;
    }
    const dsq_tensor *a = need(f, "draw.start"), *b = need(f, "draw.step"),
                     *c2 = need(f, "draw.denoise");
    if (!a || !b || !c2) return -1;
    f->start = a->data;
    f->step = b->data;
    f->denoise = c2->data;
    return 0;
}

static void fixture_free(fixture *f) {
    dsq_model_destroy(&f->m);
    dsq_schedule_free(&f->sch);
    json_decref(f->cfg);
    dsq_record_free(&f->r);
}

static void fixture_draw(void *ctx, const dsq_draw *d, float *out, size_t n) {
    fixture *f = ctx;
    size_t per = (size_t)f->L * f->d;
    if (d->purpose == DSQ_DRAW_START) {
        memcpy(out, f->start + d->b * per, n * sizeof(float));
    } else if (d->purpose == DSQ_DRAW_STEP) {
        if (d->redraw >= f->R || d->step >= f->T) {
            fprintf(stderr, "  fixture has no draw for step %d redraw %d\n", d->step, d->redraw);
            memset(out, 0, n * sizeof(float));
            check_failures_here++;
            return;
        }
        memcpy(out, f->step + (((size_t)d->step * f->R + d->redraw) * f->B + d->b) * per,
               n * sizeof(float));
    } else {
        memcpy(out, f->denoise + ((size_t)d->step * f->B + d->b) * f->L, n * sizeof(float));
    }
}

typedef struct {
    const float *want;   /* [n, B, L, d] */
    int n, seen;
    double worst;
    int first_bad;
} tracer;

static void trace_cmp(void *ctx, int entry, const float *x, int B, int L, int d) {
    tracer *t = ctx;
    (void)entry;
    size_t nx = (size_t)B * L * d;
    if (t->seen < t->n) {
        double r = rel_err(x, t->want + t->seen * nx, nx);
        if (r > t->worst) t->worst = r;
        if (r > 1e-4 && t->first_bad < 0) t->first_bad = t->seen;
    }
    t->seen++;
}

static void opts_from_json(dsq_sample_opts *o, json_t *c) {
    dsq_sample_opts_default(o);
    json_t *v;
    EXPECT(dsq_sampler_parse(json_string_value(json_object_get(c, "sampler")), &o->kind) == 0,
           "sampler name");
    o->steps = cfg_int(c, "steps");
    if ((v = json_object_get(c, "clamp_step"))) o->clamp_step = (int)json_integer_value(v);
    if ((v = json_object_get(c, "clamp_first"))) o->clamp_first = json_is_true(v);
    if ((v = json_object_get(c, "clip_denoised"))) o->clip_denoised = json_is_true(v);
    if ((v = json_object_get(c, "top_p"))) o->top_p = (float)json_number_value(v);
    if ((v = json_object_get(c, "denoise_rate"))) o->denoise_rate = (float)json_number_value(v);
    if ((v = json_object_get(c, "mean_start"))) o->mean_start = json_is_true(v);
    if ((v = json_object_get(c, "order"))) o->order = (int)json_integer_value(v);
}

static void test_oracle_parity(void) {
    fixture f;
    if (fixture_load(&f)) return;
    const dsq_tensor *ids = need(&f, "ids"), *mask = need(&f, "mask"), *index = need(&f, "index");
    json_t *cases = json_object_get(f.cfg, "cases");
    const char *name;
    json_t *c;
    size_t nrow = (size_t)f.B * f.L;
    int32_t *tok = xmalloc(nrow * sizeof *tok);
    json_object_foreach(cases, name, c) {
        char nm[128];
        snprintf(nm, sizeof nm, "%s.states", name);
        const dsq_tensor *st = need(&f, nm);
        snprintf(nm, sizeof nm, "%s.tokens", name);
        const dsq_tensor *tt = need(&f, nm);
        if (!st || !tt) continue;
        dsq_sample_opts o;
        opts_from_json(&o, c);
        dsq_sampler *s;
        dsq_err e = {0};
        /* a larger B_max than used: batches are prefixes */
        if (dsq_sampler_create(&s, &f.m, &f.sch, &o, f.B + 2, f.L, &e)) {
            EXPECT(0, "%s: %s", name, e.msg);
            continue;
        }
        tracer tr = {st->data, (int)st->shape[0], 0, 0, -1};
        dsq_sampler_set_draw(s, fixture_draw, &f);
        dsq_sampler_set_trace(s, trace_cmp, &tr);
        EXPECT(dsq_sampler_run(s, ids->data, mask->data, index->data, f.B, tok, &e) == 0,
               "%s: %s", name, e.msg);
        EXPECT(tr.seen == tr.n, "%s: %d states, oracle has %d", name, tr.seen, tr.n);
        EXPECT(tr.first_bad < 0, "%s: state %d off by rel %.3g", name, tr.first_bad, tr.worst);
        size_t diff = 0;
        for (size_t i = 0; i < nrow; i++) diff += tok[i] != ((const int32_t *)tt->data)[i];
        EXPECT(diff == 0, "%s: %zu of %zu tokens differ", name, diff, nrow);
        fprintf(stderr, "  %-18s %2d states, max rel error %.2e, tokens %s\n", name, tr.n,
                tr.worst, diff ? "DIFFER" : "equal");
        dsq_sampler_free(s);
    }
    free(tok);
    fixture_free(&f);
}

/* A row decoded alone (Philox draws keyed by its index) equals the same
 * row decoded inside a batch, for every sampler; and top-p bounds the
 * noise. */
static int n_redraws, max_redraw;
static void counting_draw(void *ctx, const dsq_draw *d, float *out, size_t n) {
    if (d->redraw) n_redraws++;
    if (d->redraw > max_redraw) max_redraw = d->redraw;
    dsq_sample_philox_draw(ctx, d, out, n);
}

/* A top-p far below dsq-sample's range ends: the redraws stop at
 * DSQ_TOP_P_ROUNDS and the run finishes. */
static void test_top_p_bound(void) {
    fixture f;
    if (fixture_load(&f)) return;
    const dsq_tensor *ids = need(&f, "ids"), *mask = need(&f, "mask");
    int64_t index[8] = {7, 1000000007LL, 3};
    int32_t *out = xmalloc((size_t)f.B * f.L * sizeof *out);
    dsq_sample_opts o;
    dsq_sample_opts_default(&o);
    o.steps = 2;
    o.kind = DSQ_SAMPLER_DDPM;
    o.top_p = 1e-9f;
    dsq_sampler *s;
    dsq_err e = {0};
    if (dsq_sampler_create(&s, &f.m, &f.sch, &o, f.B, f.L, &e)) {
        EXPECT(0, "%s", e.msg);
    } else {
        uint64_t seed = 42;
        max_redraw = 0;
        dsq_sampler_set_draw(s, counting_draw, &seed);
        EXPECT(dsq_sampler_run(s, ids->data, mask->data, index, f.B, out, &e) == 0, "%s", e.msg);
        EXPECT(max_redraw == DSQ_TOP_P_ROUNDS, "top-p 1e-9: %d redraw rounds, want the bound %d",
               max_redraw, DSQ_TOP_P_ROUNDS);
        dsq_sampler_free(s);
    }
    free(out);
    fixture_free(&f);
}

static void test_batch_invariance(void) {
    fixture f;
    if (fixture_load(&f)) return;
    const dsq_tensor *ids = need(&f, "ids"), *mask = need(&f, "mask");
    size_t nrow = (size_t)f.B * f.L;
    int64_t index[8] = {7, 1000000007LL, 3};
    const dsq_sampler_kind kinds[] = {DSQ_SAMPLER_DDPM, DSQ_SAMPLER_DDIM_GAP, DSQ_SAMPLER_DDIM,
                                      DSQ_SAMPLER_DPMPP, DSQ_SAMPLER_DPMPP_V2};
    int32_t *all = xmalloc(nrow * sizeof *all), *one = xmalloc(f.L * sizeof *one);
    for (int k = 0; k < 5; k++) {
        dsq_sample_opts o;
        dsq_sample_opts_default(&o);
        o.kind = kinds[k];
        o.steps = kinds[k] == DSQ_SAMPLER_DDPM ? 0 : 5;
        o.seed = 42;
        o.top_p = kinds[k] == DSQ_SAMPLER_DDPM ? 1.5f : 0.0f;
        dsq_sampler *s;
        dsq_err e = {0};
        if (dsq_sampler_create(&s, &f.m, &f.sch, &o, f.B, f.L, &e)) {
            EXPECT(0, "%s", e.msg);
            continue;
        }
        uint64_t seed = 42;
        n_redraws = 0;
        dsq_sampler_set_draw(s, counting_draw, &seed);
        dsq_sampler_run(s, ids->data, mask->data, index, f.B, all, &e);
        if (kinds[k] == DSQ_SAMPLER_DDPM) EXPECT(n_redraws > 0, "top-p 1.5 never redrew");
        {   /* the forward split into one-row slices (activation budget) */
            dsq_sample_opts o1 = o;
            o1.act_budget = 1;
            dsq_sampler *s1;
            int32_t *split = xmalloc(nrow * sizeof *split);
            EXPECT(dsq_sampler_create(&s1, &f.m, &f.sch, &o1, f.B, f.L, &e) == 0, "%s", e.msg);
            dsq_sampler_run(s1, ids->data, mask->data, index, f.B, split, &e);
            EXPECT(!memcmp(split, all, nrow * sizeof *all), "%s: split forward differs",
                   dsq_sampler_name(kinds[k]));
            free(split);
            dsq_sampler_free(s1);
        }
        for (int b = 0; b < f.B; b++) {
            dsq_sampler_run(s, (const int32_t *)ids->data + b * f.L,
                            (const uint8_t *)mask->data + b * f.L, index + b, 1, one, &e);
            EXPECT(!memcmp(one, all + b * f.L, f.L * sizeof *one),
                   "%s: row %d alone differs from the batch", dsq_sampler_name(kinds[k]), b);
        }
        /* another seed changes the output */
        dsq_sampler_free(s);
        o.seed = 43;
        dsq_sampler_create(&s, &f.m, &f.sch, &o, f.B, f.L, &e);
        int32_t *other = xmalloc(nrow * sizeof *other);
        dsq_sampler_run(s, ids->data, mask->data, index, f.B, other, &e);
        if (kinds[k] == DSQ_SAMPLER_DDPM)
            EXPECT(memcmp(other, all, nrow * sizeof *all), "seed 43 gave seed 42's tokens");
        free(other);
        dsq_sampler_free(s);
    }
    free(all);
    free(one);
    fixture_free(&f);
}

static void test_philox_draws(void) {
    uint64_t seed = 5;
    float a[1000], b[1000];
    dsq_draw d = {DSQ_DRAW_STEP, 3, 0, 0, 17};
    dsq_sample_philox_draw(&seed, &d, a, 1000);
    d.b = 5;  /* the batch row does not matter, only the index */
    dsq_sample_philox_draw(&seed, &d, b, 1000);
    EXPECT(!memcmp(a, b, sizeof a), "draws depend on the batch row");
    d.index = 18;
    dsq_sample_philox_draw(&seed, &d, b, 1000);
    EXPECT(memcmp(a, b, sizeof a), "two examples drew the same noise");
    double m = 0, v = 0;
    for (int i = 0; i < 1000; i++) m += a[i], v += (double)a[i] * a[i];
    m /= 1000;
    v = v / 1000 - m * m;
    EXPECT(fabs(m) < 0.15 && fabs(v - 1) < 0.15, "normal draws: mean %g var %g", m, v);
    d.purpose = DSQ_DRAW_DENOISE;
    dsq_sample_philox_draw(&seed, &d, a, 1000);
    int in = 1;
    for (int i = 0; i < 1000; i++) in &= a[i] >= 0 && a[i] < 1;
    EXPECT(in, "uniform draws outside [0, 1)");
    EXPECT(dsq_sample_example_key(1, 0) != dsq_sample_example_key(0, 1) &&
           dsq_sample_example_key(1, 2) == dsq_sample_example_key(1, 2), "example keys");
}

static void test_plans(void) {
    int kept[10];
    /* space_timesteps(100, [10]): stride 11 exactly */
    dsq_sample_spaced_timesteps(100, 10, kept);
    EXPECT(kept[0] == 0 && kept[1] == 11 && kept[9] == 99, "kept %d %d %d", kept[0], kept[1], kept[9]);
    /* half-to-even: T=6, S=5, stride 1.25: 0 1.25 2.5 3.75 5 -> 0 1 2 4 5 */
    dsq_sample_spaced_timesteps(6, 5, kept);
    EXPECT(kept[1] == 1 && kept[2] == 2 && kept[3] == 4 && kept[4] == 5, "round half even: %d %d %d",
           kept[1], kept[2], kept[3]);
    dsq_err e = {0};
    dsq_schedule sch;
    EXPECT(dsq_schedule_init(&sch, "sqrt", 2000, &e) == 0, "%s", e.msg);
    dsq_sample_opts o;
    dsq_sample_plan p;
    dsq_sample_opts_default(&o);
    o.kind = DSQ_SAMPLER_DDIM_GAP;
    o.steps = 300;  /* gap 6: 1999, 1993, ..., 1 (334 calls; t = 0 never) */
    EXPECT(dsq_sample_plan_make(&p, &sch, &o, &e) == 0, "%s", e.msg);
    EXPECT(p.calls == 334 && p.step[0].index == 1999 && p.step[p.n - 1].index == 1,
           "ddim-gap: %d calls, last index %d", p.calls, p.step[p.n - 1].index);
    dsq_sample_plan_free(&p);
    o.kind = DSQ_SAMPLER_DDPM;
    o.steps = 0;
    o.clamp_step = 1500;
    EXPECT(dsq_sample_plan_make(&p, &sch, &o, &e) == 0, "%s", e.msg);
    EXPECT(p.calls == 2000 && p.step[0].round && p.step[499].round && !p.step[500].round &&
           p.step[1999].sd == 0 && p.step[1998].sd > 0, "ddpm full chain plan");
    /* the full chain's coefficients are the schedule's */
    EXPECT(p.step[10].c1 == (float)sch.posterior_mean_coef1[1989] &&
           p.step[10].c2 == (float)sch.posterior_mean_coef2[1989], "posterior coefficients");
    dsq_sample_plan_free(&p);
    o.kind = DSQ_SAMPLER_DDIM;
    o.steps = 20;
    EXPECT(dsq_sample_plan_make(&p, &sch, &o, &e) == 0, "%s", e.msg);
    /* respaced: the last step goes to abar_prev = 1 (x = x̂0) */
    EXPECT(p.calls == 20 && p.step[19].index == 0 && p.step[19].sp == 1.0f && p.step[19].sq == 0.0f
           && p.step[0].index == 1999, "respaced ddim plan");
    dsq_sample_plan_free(&p);
    o.kind = DSQ_SAMPLER_DPMPP;
    o.steps = 5;
    EXPECT(dsq_sample_plan_make(&p, &sch, &o, &e) == 0, "%s", e.msg);
    /* 5 < 10: first and last steps first order; first model time 1999 */
    EXPECT(p.n == 6 && p.calls == 5 && p.step[1].cd == 0 && p.step[2].cd != 0 &&
           p.step[5].cd == 0 && fabsf(p.step[0].tmodel - 999.5f) < 1e-3f, "dpm++ plan, tmodel %g",
           p.step[0].tmodel);
    dsq_sample_plan_free(&p);
    o.kind = DSQ_SAMPLER_DPMPP_V2;
    o.steps = 0;  /* the script's N = 10 */
    EXPECT(dsq_sample_plan_make(&p, &sch, &o, &e) == 0, "%s", e.msg);
    EXPECT(p.calls == 10 && p.step[10].cd != 0 && p.step[0].tmodel == 1000.0f, "dpm++v2 plan");
    dsq_sample_plan_free(&p);
    o.kind = DSQ_SAMPLER_DDIM;
    o.steps = 0;
    EXPECT(dsq_sample_plan_make(&p, &sch, &o, &e) == DSQ_EUSAGE, "ddim without --steps");
    o.steps = 2001;
    EXPECT(dsq_sample_plan_make(&p, &sch, &o, &e) == DSQ_EUSAGE, "steps > T");
    dsq_schedule_free(&sch);
}

static void test_vocab_search(void) {
    int N = 37, d = 6, V = 53;
    float *z = xmalloc(N * d * 4), *E = xmalloc(V * d * 4), *en = xmalloc(V * 4), *bias = xmalloc(V * 4);
    srand(3);
    for (int i = 0; i < N * d; i++) z[i] = (float)rand() / RAND_MAX * 4 - 2;
    for (int i = 0; i < V * d; i++) E[i] = (float)rand() / RAND_MAX * 4 - 2;
    for (int v = 0; v < V; v++) {
        en[v] = 0;
        for (int k = 0; k < d; k++) en[v] += E[v * d + k] * E[v * d + k];
        bias[v] = (float)rand() / RAND_MAX - 0.5f;
    }
    float *dz = be->alloc(be, N * d * 4), *dE = be->alloc(be, V * d * 4);
    float *den = be->alloc(be, V * 4), *dbias = be->alloc(be, V * 4);
    be->upload(be, dz, z, N * d * 4);
    be->upload(be, dE, E, V * d * 4);
    be->upload(be, den, en, V * 4);
    be->upload(be, dbias, bias, V * 4);
    int32_t near[37], amax[37];
    dsq_vocab_search vs;
    dsq_vocab_search_init(&vs, be, 5, 7);  /* blocks that do not divide N or V */
    dsq_vocab_nearest(&vs, near, dz, dE, den, N, d, V);
    dsq_vocab_argmax(&vs, amax, dz, dE, dbias, N, d, V);
    dsq_vocab_search_free(&vs);
    be->free(be, den);
    be->free(be, dbias);
    for (int n = 0; n < N; n++) {
        double bd = INFINITY, bl = -INFINITY;
        int bi = -1, li = -1;
        for (int v = 0; v < V; v++) {
            double dist = 0, lg = bias[v];
            for (int k = 0; k < d; k++) {
                double t = (double)z[n * d + k] - E[v * d + k];
                dist += t * t;
                lg += (double)z[n * d + k] * E[v * d + k];
            }
            if (dist < bd) bd = dist, bi = v;
            if (lg > bl) bl = lg, li = v;
        }
        EXPECT(near[n] == bi, "row %d: nearest %d, brute force %d", n, near[n], bi);
        EXPECT(amax[n] == li, "row %d: argmax %d, brute force %d", n, amax[n], li);
    }
    be->free(be, dz);
    be->free(be, dE);
    free(z), free(E), free(en), free(bias);
}

/* row_best directly: ties go to the lowest index across blocks, NaN is
 * the worst value, and the result does not depend on the block width. */
static void test_row_best(void) {
    enum { R = 4, C = 9 };
    const float nan = NAN;
    float sc[R][C] = {
        {3, 1, 2, 1, 5, 1, 0.5f, 7, 0.5f},        /* min 0.5 at 6 (tie at 8); max 7 at 7 */
        {2, 2, 2, 2, 2, 2, 2, 2, 2},              /* all equal: index 0 either way */
        {nan, 4, nan, -1, 9, nan, -1, 9, nan},    /* NaN skipped: min -1 at 3, max 9 at 4 */
        {nan, nan, nan, nan, nan, nan, nan, nan, nan},  /* only NaN: index 0 */
    };
    float add[C] = {0};
    int want[2][R] = {{6, 0, 3, 0}, {7, 0, 4, 0}};
    float *ds = be->alloc(be, sizeof sc), *da = be->alloc(be, sizeof add);
    float *best = be->alloc(be, R * 4);
    int32_t *idx = be->alloc(be, R * 4), got[R];
    for (int w = 1; w <= C; w++) {  /* block width: columns [c0, c0 + w) */
        for (int sg = 0; sg < 2; sg++) {
            int sign = sg ? 1 : -1;
            for (int c0 = 0; c0 < C; c0 += w) {
                int nc = C - c0 < w ? C - c0 : w;
                float blk[R * C];
                for (int r = 0; r < R; r++)
                    for (int c = 0; c < nc; c++) blk[r * nc + c] = sc[r][c0 + c];
                be->upload(be, ds, blk, (size_t)R * nc * 4);
                be->upload(be, da, add + c0, (size_t)nc * 4);
                be->row_best(be, best, idx, ds, da, R, nc, c0, sign);
            }
            be->download(be, got, idx, sizeof got);
            for (int r = 0; r < R; r++)
                EXPECT(got[r] == want[sg][r], "width %d sign %d row %d: %d, want %d", w, sign, r,
                       got[r], want[sg][r]);
        }
    }
    be->free(be, ds), be->free(be, da), be->free(be, best), be->free(be, idx);
}

int main(int argc, char **argv) {
    if (argc > 1) fixture_path = argv[1];
    be = dsq_backend_cpu();
    RUN_TEST(test_plans);
    RUN_TEST(test_vocab_search);
    RUN_TEST(test_row_best);
    RUN_TEST(test_philox_draws);
    RUN_TEST(test_oracle_parity);
    RUN_TEST(test_batch_invariance);
    RUN_TEST(test_top_p_bound);
    be->destroy(be);
    TEST_MAIN_END();
}

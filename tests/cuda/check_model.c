/* Whole-model parity, CPU backend vs CUDA backend (part of check_ops):
 * the same initialised DiffuSeq network on both, its forward, backward and
 * input gradient, with dropout off and on (both backends draw the same
 * Philox masks, so the two agree with dropout too); the full training loss
 * (dsq_diffusion_loss: q_sample, the model, the vocabulary cross-entropy,
 * the gradients into the tied embedding), with the v2 mean embedding and
 * denoising as well; and a short sampler run (tokens compared).
 * Tolerances: forward and losses 1e-4, gradients 1e-3 per tensor, where a
 * tensor's error is ||cuda - cpu|| / max(||cpu||, 1e-4 x the largest
 * tensor norm): the key biases' exact gradient is zero, their computed
 * ones rounding noise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffusion.h"
#include "err.h"
#include "model.h"
#include "pair.h"
#include "philox.h"
#include "sample.h"

#define TOL_FWD 1e-4
#define TOL_GRAD 1e-3

static uint64_t stream_id = 5000;
static char nm[256];
#define NAME(...) (snprintf(nm, sizeof nm, __VA_ARGS__), nm)

static double norm2(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

/* Per-tensor gradient errors; one line for the set, one per bad tensor. */
static void check_grads(const char *tag, const dsq_model *mc, const dsq_model *mg) {
    size_t n = mc->n_params;
    float *gc = xmalloc(n * sizeof *gc), *gg = xmalloc(n * sizeof *gg);
    cpu->download(cpu, gc, mc->grads, n * sizeof(float));
    gpu->download(gpu, gg, mg->grads, n * sizeof(float));
    double top = 0, worst = 0;
    for (int i = 0; i < mc->n_tensors; i++)
        top = fmax(top, norm2(gc + mc->info[i].offset, mc->info[i].numel));
    const char *worst_name = "";
    int bad = 0;
    for (int i = 0; i < mc->n_tensors; i++) {
        const dsq_param_info *p = &mc->info[i];
        const float *c = gc + p->offset, *g = gg + p->offset;
        double d2 = 0;
        int finite = 1;
        for (size_t k = 0; k < p->numel; k++) {
            finite &= isfinite(c[k]) && isfinite(g[k]);
            d2 += ((double)g[k] - c[k]) * ((double)g[k] - c[k]);
        }
        double rel = sqrt(d2) / fmax(norm2(c, p->numel), fmax(1e-4 * top, 1e-30));
        if (!finite || !(rel <= TOL_GRAD)) {
            printf("FAIL %s: gradient of %s: rel %.2e%s\n", tag, p->name, rel,
                   finite ? "" : " (non-finite values)");
            bad++;
        }
        if (rel > worst) { worst = rel; worst_name = p->name; }
    }
    if (bad) {
        n_fail++;
    } else {
        printf("PASS %s: gradients of %d tensors, max rel %.2e (%s)\n", tag, mc->n_tensors,
               worst, worst_name);
        n_pass++;
    }
    fflush(stdout);
    free(gc);
    free(gg);
}

static int make_pair(dsq_model *mc, dsq_model *mg, const dsq_model_config *c, int B, int L,
                     const char *tag) {
    dsq_err e = {0};
    int rc = dsq_model_create(mc, c, cpu, &e);
    rc = rc ? rc : dsq_model_create(mg, c, gpu, &e);
    rc = rc ? rc : dsq_model_reserve(mc, B, L, &e);
    rc = rc ? rc : dsq_model_reserve(mg, B, L, &e);
    if (rc) {
        check_true(tag, 0, e.msg);
        return rc;
    }
    dsq_model_init_params(mc, 3);
    dsq_model_init_params(mg, 3);
    return 0;
}

/* f(x, t), its backward from a random upstream gradient. */
static void model_case(const char *tag, dsq_model_config c, int B, int L, int training) {
    dsq_model mc, mg;
    if (make_pair(&mc, &mg, &c, B, L, tag)) return;
    size_t nx = (size_t)B * L * c.d;
    pair x = pr_new(nx), t = pr_new(B), dout = pr_new(nx), dx = pr_new(nx);
    pr_randn(x, 1.0f, stream_id++);
    float *ht = xmalloc((size_t)B * sizeof *ht);
    for (int b = 0; b < B; b++) ht[b] = dsq_model_rescale_t((b * 37 + 1) % 100, 100);
    pr_put(t, ht);
    free(ht);
    mc.training = mg.training = training;
    mc.seed = mg.seed = 77;
    mc.rng_offset = mg.rng_offset = 1000;
    const float *oc = dsq_model_forward(&mc, x.c, t.c, B, L);
    const float *og = dsq_model_forward(&mg, x.g, t.g, B, L);
    float *hc = xmalloc(nx * sizeof *hc), *hg = xmalloc(nx * sizeof *hg);
    cpu->download(cpu, hc, oc, nx * sizeof(float));
    gpu->download(gpu, hg, og, nx * sizeof(float));
    check_vec(NAME("%s: forward", tag), hc, hg, nx, TOL_FWD);
    free(hc);
    free(hg);
    dsq_model_zero_grad(&mc);
    dsq_model_zero_grad(&mg);
    pr_randn(dout, 1.0f, stream_id++);
    dsq_model_backward(&mc, dx.c, dout.c);
    dsq_model_backward(&mg, dx.g, dout.g);
    check_grads(tag, &mc, &mg);
    check_pair(NAME("%s: input gradient", tag), dx, TOL_GRAD);
    pr_free(&x); pr_free(&t); pr_free(&dout); pr_free(&dx);
    dsq_model_destroy(&mc);
    dsq_model_destroy(&mg);
}

/* One microbatch of the training loss with its backward. */
static void diffusion_case(const char *tag, dsq_model_config c, int B, int L, int v2) {
    c.mean_embed = v2;
    dsq_model mc, mg;
    if (make_pair(&mc, &mg, &c, B, L, tag)) return;
    dsq_err e = {0};
    dsq_schedule sch;
    dsq_diffusion dfc, dfg;
    dsq_diffusion_opts o = {v2, 0.5f, v2 ? 0.1f : 0.0f};
    int rc = dsq_schedule_init(&sch, "sqrt", 100, &e);
    rc = rc ? rc : dsq_diffusion_init(&dfc, &mc, &sch, &o, &e);
    rc = rc ? rc : dsq_diffusion_init(&dfg, &mg, &sch, &o, &e);
    rc = rc ? rc : dsq_diffusion_reserve(&dfc, B, L, &e);
    rc = rc ? rc : dsq_diffusion_reserve(&dfg, B, L, &e);
    if (rc) {
        check_true(tag, 0, e.msg);
        return;
    }
    size_t N = (size_t)B * L;
    int32_t *ids = xmalloc(N * sizeof *ids);
    uint8_t *mask = xmalloc(N);
    int *t = xmalloc((size_t)B * sizeof *t);
    float *w = xmalloc((size_t)B * sizeof *w);
    for (size_t i = 0; i < N; i++) {
        float u = dsq_philox_uniform_at(95, stream_id, i);
        ids[i] = (i % L) > (size_t)(3 * L / 4) ? 0 : (int32_t)(u * (c.vocab - 1)) + 1;
        mask[i] = (i % L) >= (size_t)(L / 2);
    }
    stream_id++;
    for (int b = 0; b < B; b++) {
        t[b] = b == 0 ? 0 : (b * 37) % 100;  /* t = 0 takes the x0-mean target */
        w[b] = 1.0f + 0.1f * b;
    }
    dsq_diffusion_draw_noise(&dfc, t, B, L, 11, 3);
    dsq_diffusion_draw_noise(&dfg, t, B, L, 11, 3);
    mc.training = mg.training = 1;
    mc.seed = mg.seed = 5;
    mc.rng_offset = mg.rng_offset = 100;
    dsq_model_zero_grad(&mc);
    dsq_model_zero_grad(&mg);
    dsq_seq_terms *qc = xmalloc((size_t)B * sizeof *qc), *qg = xmalloc((size_t)B * sizeof *qg);
    double lc = dsq_diffusion_loss(&dfc, ids, mask, t, w, B, L, 1, 1, qc);
    double lg = dsq_diffusion_loss(&dfg, ids, mask, t, w, B, L, 1, 1, qg);
    float vc[1] = {(float)lc}, vg[1] = {(float)lg};
    check_vec(NAME("%s: loss %.6f", tag, lc), vc, vg, 1, TOL_FWD);
    float *tc = xmalloc((size_t)5 * B * sizeof *tc), *tg = xmalloc((size_t)5 * B * sizeof *tg);
    for (int b = 0; b < B; b++) {
        float a[5] = {qc[b].loss, qc[b].mse, qc[b].decoder_nll, qc[b].tT, qc[b].nll};
        float z[5] = {qg[b].loss, qg[b].mse, qg[b].decoder_nll, qg[b].tT, qg[b].nll};
        memcpy(tc + 5 * b, a, sizeof a);
        memcpy(tg + 5 * b, z, sizeof z);
    }
    check_vec(NAME("%s: per-sequence terms (loss, mse, decoder_nll, tT, nll)", tag), tc, tg,
              (size_t)5 * B, TOL_FWD);
    check_grads(tag, &mc, &mg);
    free(tc); free(tg); free(qc); free(qg); free(ids); free(mask); free(t); free(w);
    dsq_diffusion_free(&dfc);
    dsq_diffusion_free(&dfg);
    dsq_schedule_free(&sch);
    dsq_model_destroy(&mc);
    dsq_model_destroy(&mg);
}

/* A respaced DDPM run (rounding every step) on both backends: the tokens
 * should agree but for near ties of the nearest-embedding search. */
static void sampler_case(const char *tag, dsq_model_config c, int B, int L) {
    dsq_model mc, mg;
    if (make_pair(&mc, &mg, &c, 1, L, tag)) return;
    dsq_err e = {0};
    dsq_schedule sch;
    dsq_sample_opts o;
    dsq_sample_opts_default(&o);
    o.steps = 10;
    dsq_sampler *sc = NULL, *sg = NULL;
    int rc = dsq_schedule_init(&sch, "sqrt", 100, &e);
    rc = rc ? rc : dsq_sampler_create(&sc, &mc, &sch, &o, B, L, &e);
    rc = rc ? rc : dsq_sampler_create(&sg, &mg, &sch, &o, B, L, &e);
    size_t N = (size_t)B * L;
    int32_t *ids = xmalloc(N * sizeof *ids), *tc = xmalloc(N * sizeof *tc),
            *tg = xmalloc(N * sizeof *tg);
    uint8_t *mask = xmalloc(N);
    int64_t *index = xmalloc((size_t)B * sizeof *index);
    for (size_t i = 0; i < N; i++) {
        ids[i] = (int32_t)((i * 7919 + 13) % (size_t)c.vocab);
        mask[i] = (i % L) >= (size_t)(L / 2);
    }
    for (int b = 0; b < B; b++) index[b] = 100 + b;
    rc = rc ? rc : dsq_sampler_run(sc, ids, mask, index, B, tc, &e);
    rc = rc ? rc : dsq_sampler_run(sg, ids, mask, index, B, tg, &e);
    if (rc) {
        check_true(tag, 0, e.msg);
    } else {
        size_t same = 0;
        for (size_t i = 0; i < N; i++) same += tc[i] == tg[i];
        char why[128];
        snprintf(why, sizeof why, "%zu of %zu tokens equal", same, N);
        check_true(NAME("%s: %zu of %zu tokens equal", tag, same, N), same * 100 >= N * 99, why);
    }
    dsq_sampler_free(sc);
    dsq_sampler_free(sg);
    dsq_schedule_free(&sch);
    free(ids); free(tc); free(tg); free(mask); free(index);
    dsq_model_destroy(&mc);
    dsq_model_destroy(&mg);
}

void check_model(void) {
    dsq_model_config small;
    dsq_model_config_default(&small, 101, 16);
    small.dt = 8; small.H = 64; small.nh = 4; small.I = 128; small.n_layers = 2;
    small.max_pos = 32;
    small.hidden_dropout = small.attn_dropout = 0.0f;
    model_case("model small, dropout 0", small, 3, 12, 0);
    dsq_model_config drop = small;
    drop.hidden_dropout = drop.attn_dropout = 0.1f;
    model_case("model small, dropout 0.1 training", drop, 3, 12, 1);
    dsq_model_config same = small;  /* d == H: no projections */
    same.d = 64;
    model_case("model small, d == H", same, 2, 12, 0);
    diffusion_case("diffusion loss small", drop, 4, 12, 0);
    diffusion_case("diffusion loss small, v2 mean embedding + denoise", drop, 4, 12, 1);
    sampler_case("sampler small, ddpm 10 steps", small, 3, 12);
    /* bert-base width and heads, the real vocabulary, two layers */
    dsq_model_config wide;
    dsq_model_config_default(&wide, 30522, 128);
    wide.n_layers = 2;
    model_case("model bert-base width (2 layers), dropout 0.1 training", wide, 2, 64, 1);
    diffusion_case("diffusion loss bert-base width (2 layers), V 30522", wide, 2, 64, 0);
}

/* Whole-model parity, CPU backend vs CUDA backend (part of check_ops):
 * the same initialised DiffuSeq network on both, its forward, backward and
 * input gradient, with dropout off and on (both backends draw the same
 * Philox masks, so the two agree with dropout too); the full training loss
 * (dsq_diffusion_loss: q_sample, the model, the vocabulary cross-entropy,
 * the gradients into the tied embedding), with the v2 mean embedding and
 * denoising as well; two training steps (dsq_trainer_step: clipping,
 * AdamW, EMA) and the checkpoint and training-state files written from
 * and read into CUDA buffers; a short sampler run (tokens compared); and
 * the BERTScore encoder (lib/metrics/bert.c) on a tiny random BERT.
 * Tolerances: forward and losses 1e-4, gradients 1e-3 per tensor, where a
 * tensor's error is ||cuda - cpu|| / max(||cpu||, 1e-4 x the largest
 * tensor norm): the key biases' exact gradient is zero, their computed
 * ones rounding noise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bert.h"
#include "checkpoint.h"
#include "diffusion.h"
#include "err.h"
#include "model.h"
#include "pair.h"
#include "philox.h"
#include "safetensors.h"
#include "sample.h"
#include "train.h"

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
        /* a near tie of the nearest-embedding search may flip a token */
        check_true(NAME("%s: %zu of %zu tokens equal", tag, same, N), same * 100 >= N * 97, why);
    }
    dsq_sampler_free(sc);
    dsq_sampler_free(sg);
    dsq_schedule_free(&sch);
    free(ids); free(tc); free(tg); free(mask); free(index);
    dsq_model_destroy(&mc);
    dsq_model_destroy(&mg);
}

/* Downloads n floats of a device buffer of be. */
static float *fetch(dsq_backend *be, const float *src, size_t n) {
    float *h = xmalloc(n * sizeof *h + 1);
    be->download(be, h, src, n * sizeof *h);
    return h;
}

static void check_dev(const char *name, const float *c, const float *g, size_t n, double tol) {
    float *hc = fetch(cpu, c, n), *hg = fetch(gpu, g, n);
    check_vec(name, hc, hg, n, tol);
    free(hc);
    free(hg);
}

/* Two whole training steps (two microbatches each, clipping, annealing,
 * AdamW, EMA) on both backends; then the checkpoint and training-state
 * files written from the CUDA buffers and read back into them. */
static void trainer_case(const char *tag, dsq_model_config c, int B, int L) {
    dsq_model mc, mg;
    if (make_pair(&mc, &mg, &c, B, L, tag)) return;
    dsq_err e = {0};
    dsq_schedule sch;
    dsq_diffusion dfc, dfg;
    dsq_tsampler sc, sg;
    dsq_trainer tc, tg;
    dsq_diffusion_opts o = {0, 0.0f, 0.0f};
    dsq_train_opts to = {.lr = 1e-3f, .learning_steps = 10, .weight_decay = 0.01f,
                         .grad_clip = 0.5f, .microbatch = B / 2, .n_ema = 1, .ema = {0.9f},
                         .seed = 7};
    int rc = dsq_schedule_init(&sch, "sqrt", 100, &e);
    rc = rc ? rc : dsq_diffusion_init(&dfc, &mc, &sch, &o, &e);
    rc = rc ? rc : dsq_diffusion_init(&dfg, &mg, &sch, &o, &e);
    rc = rc ? rc : dsq_diffusion_reserve(&dfc, B / 2, L, &e);
    rc = rc ? rc : dsq_diffusion_reserve(&dfg, B / 2, L, &e);
    rc = rc ? rc : dsq_tsampler_init(&sc, "lossaware", 100, &e);
    rc = rc ? rc : dsq_tsampler_init(&sg, "lossaware", 100, &e);
    rc = rc ? rc : dsq_trainer_init(&tc, &mc, &dfc, &sc, &to, &e);
    rc = rc ? rc : dsq_trainer_init(&tg, &mg, &dfg, &sg, &to, &e);
    if (rc) {
        check_true(tag, 0, e.msg);
        return;
    }
    size_t N = (size_t)B * L, np = mc.n_params;
    int32_t *ids = xmalloc(N * sizeof *ids);
    uint8_t *mask = xmalloc(N);
    for (size_t i = 0; i < N; i++) {
        ids[i] = (int32_t)(dsq_philox_uniform_at(94, 1, i) * c.vocab) % c.vocab;
        mask[i] = (i % L) >= (size_t)(L / 3);
    }
    for (int step = 0; step < 2; step++) {
        dsq_train_stats stc = {0}, stg = {0};
        double lc = dsq_trainer_step(&tc, ids, mask, B, L, step == 1, &stc);
        double lg = dsq_trainer_step(&tg, ids, mask, B, L, step == 1, &stg);
        float v[2][3] = {{(float)lc, (float)stc.grad_norm, (float)stc.nll},
                         {(float)lg, (float)stg.grad_norm, (float)stg.nll}};
        check_vec(NAME("%s: step %d loss %.5f, gradient norm %.4f, nll", tag, step + 1, lc,
                       stc.grad_norm), v[0], v[1], step == 1 ? 3 : 2, TOL_FWD);
    }
    /* Adam normalises each gradient, so parameters whose exact gradient
     * is zero (the key biases: softmax ignores a shift of a row) move by
     * up to +-lr on rounding noise, differently on each backend: they are
     * left out of the comparison of the parameters. */
    {
        float *hc = fetch(cpu, mc.params, np), *hg = fetch(gpu, mg.params, np);
        size_t k = 0, skipped = 0;
        for (int i = 0; i < mc.n_tensors; i++) {
            const dsq_param_info *pi = &mc.info[i];
            if (strstr(pi->name, "attention.self.key.bias")) {
                skipped += pi->numel;
                continue;
            }
            memmove(hc + k, hc + pi->offset, pi->numel * sizeof *hc);
            memmove(hg + k, hg + pi->offset, pi->numel * sizeof *hg);
            k += pi->numel;
        }
        check_vec(NAME("%s: parameters after 2 steps (%zu key-bias entries left out)", tag,
                       skipped), hc, hg, k, TOL_FWD);
        free(hc);
        free(hg);
    }
    check_dev(NAME("%s: exp_avg", tag), tc.adam_m, tg.adam_m, np, TOL_GRAD);
    check_dev(NAME("%s: EMA", tag), tc.ema[0], tg.ema[0], np, TOL_FWD);

    /* checkpoint: CUDA buffer -> file -> CPU and CUDA buffers, exactly */
    char dir[] = "/tmp/dsq-check-ops-XXXXXX", path[256];
    if (!mkdtemp(dir)) {
        check_true(NAME("%s: temporary directory", tag), 0, "mkdtemp failed");
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        float *before = fetch(gpu, mg.params, np);
        rc = dsq_ckpt_write(path, &mg, mg.params, "{}", &e);
        gpu->zero(gpu, mg.params, np * sizeof(float));
        rc = rc ? rc : dsq_ckpt_read(path, &mg, mg.params, NULL, &e);
        rc = rc ? rc : dsq_ckpt_read(path, &mc, mc.params, NULL, &e);
        if (rc) {
            check_true(NAME("%s: checkpoint", tag), 0, e.msg);
        } else {
            float *back = fetch(gpu, mg.params, np), *onc = fetch(cpu, mc.params, np);
            check_vec(NAME("%s: checkpoint written from CUDA, read into CUDA", tag), before, back,
                      np, 0.0);
            check_vec(NAME("%s: checkpoint written from CUDA, read into CPU", tag), before, onc,
                      np, 0.0);
            free(back);
            free(onc);
        }
        unlink(path);
        snprintf(path, sizeof path, "%s/state.safetensors", dir);
        dsq_train_state st = {.step = 2, .epoch = 0, .pos = 0, .n_ema = 1, .params = mg.params,
                              .adam_m = tg.adam_m, .adam_v = tg.adam_v, .T = 100,
                              .history = sg.history, .counts = sg.counts};
        st.ema[0] = tg.ema[0];
        float *v0 = fetch(gpu, tg.adam_v, np);
        rc = dsq_state_write(path, &mg, &st, "{}", &e);
        gpu->zero(gpu, tg.adam_v, np * sizeof(float));
        rc = rc ? rc : dsq_state_read(path, &mg, &st, NULL, &e);
        if (rc) {
            check_true(NAME("%s: training state", tag), 0, e.msg);
        } else {
            float *v1 = fetch(gpu, tg.adam_v, np);
            check_vec(NAME("%s: training state written from and read into CUDA", tag), v0, v1,
                      np, 0.0);
            free(v1);
        }
        free(v0);
        free(before);
        unlink(path);
        rmdir(dir);
    }
    free(ids);
    free(mask);
    dsq_trainer_free(&tc);
    dsq_trainer_free(&tg);
    dsq_tsampler_free(&sc);
    dsq_tsampler_free(&sg);
    dsq_diffusion_free(&dfc);
    dsq_diffusion_free(&dfg);
    dsq_schedule_free(&sch);
    dsq_model_destroy(&mc);
    dsq_model_destroy(&mg);
}

/* ---- the BERTScore encoder on a tiny random BERT ---------------------- */

enum { BV = 24, BH = 64, BNH = 4, BI = 128, BLAYERS = 2, BPOS = 64 };

static void put_file(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void rm_in(const char *dir, const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static void add_tensor(dsq_record *r, const char *name, int64_t s0, int64_t s1, float scale,
                       float offset) {
    int64_t shape[2] = {s0, s1};
    size_t n = (size_t)s0 * (s1 ? s1 : 1);
    float *d = xmalloc(n * sizeof *d);
    host_randn(d, n, scale, stream_id++);
    for (size_t i = 0; i < n; i++) d[i] += offset;
    dsq_record_add_owned(r, name, DSQ_F32, s1 ? 2 : 1, shape, d);
}

static int write_tiny_bert(const char *dir) {
    char cfg[512], voc[512] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", nm[128];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"bert\", \"hidden_size\": %d, \"num_attention_heads\": %d,"
             " \"intermediate_size\": %d, \"num_hidden_layers\": %d,"
             " \"max_position_embeddings\": %d, \"vocab_size\": %d}", BH, BNH, BI, BLAYERS,
             BPOS, BV);
    put_file(dir, "config.json", cfg);
    for (int i = 5; i < BV; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%d\n", i);
        strcat(voc, w);
    }
    put_file(dir, "vocab.txt", voc);
    dsq_record r;
    dsq_record_init(&r);
    add_tensor(&r, "embeddings.word_embeddings.weight", BV, BH, 1.0f, 0.0f);
    add_tensor(&r, "embeddings.position_embeddings.weight", BPOS, BH, 0.5f, 0.0f);
    add_tensor(&r, "embeddings.token_type_embeddings.weight", 2, BH, 0.5f, 0.0f);
    add_tensor(&r, "embeddings.LayerNorm.weight", BH, 0, 0.1f, 1.0f);
    add_tensor(&r, "embeddings.LayerNorm.bias", BH, 0, 0.1f, 0.0f);
    static const char *sq[] = {"attention.self.query", "attention.self.key",
                               "attention.self.value", "attention.output.dense"};
    static const char *ln[] = {"attention.output.LayerNorm", "output.LayerNorm"};
    for (int l = 0; l < BLAYERS; l++) {
        for (int k = 0; k < 4; k++) {
            snprintf(nm, sizeof nm, "encoder.layer.%d.%s.weight", l, sq[k]);
            add_tensor(&r, nm, BH, BH, 0.15f, 0.0f);
            snprintf(nm, sizeof nm, "encoder.layer.%d.%s.bias", l, sq[k]);
            add_tensor(&r, nm, BH, 0, 0.1f, 0.0f);
        }
        snprintf(nm, sizeof nm, "encoder.layer.%d.intermediate.dense.weight", l);
        add_tensor(&r, nm, BI, BH, 0.15f, 0.0f);
        snprintf(nm, sizeof nm, "encoder.layer.%d.intermediate.dense.bias", l);
        add_tensor(&r, nm, BI, 0, 0.1f, 0.0f);
        snprintf(nm, sizeof nm, "encoder.layer.%d.output.dense.weight", l);
        add_tensor(&r, nm, BH, BI, 0.1f, 0.0f);
        snprintf(nm, sizeof nm, "encoder.layer.%d.output.dense.bias", l);
        add_tensor(&r, nm, BH, 0, 0.1f, 0.0f);
        for (int k = 0; k < 2; k++) {
            snprintf(nm, sizeof nm, "encoder.layer.%d.%s.weight", l, ln[k]);
            add_tensor(&r, nm, BH, 0, 0.1f, 1.0f);
            snprintf(nm, sizeof nm, "encoder.layer.%d.%s.bias", l, ln[k]);
            add_tensor(&r, nm, BH, 0, 0.1f, 0.0f);
        }
    }
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    dsq_err e = {0};
    int rc = dsq_st_write_file(p, &r, &e);
    if (rc) fprintf(stderr, "write_tiny_bert: %s\n", e.msg);
    dsq_record_free(&r);
    return rc;
}

/* Hidden states of every layer for padded batches, CPU vs CUDA. */
static void bert_case(void) {
    const char *tag = "BERT encoder (tiny random), every layer";
    char dir[] = "/tmp/dsq-check-bert-XXXXXX";
    if (!mkdtemp(dir) || write_tiny_bert(dir)) {
        check_true(tag, 0, "cannot write the model directory");
        return;
    }
    dsq_bert bc, bg;
    dsq_err e = {0};
    int rc = dsq_bert_load(&bc, dir, cpu, &e);
    rc = rc ? rc : dsq_bert_load(&bg, dir, gpu, &e);
    if (rc) {
        check_true(tag, 0, e.msg);
    } else {
        int B = 3, L = 37, lens[3] = {37, 20, 5};
        size_t N = (size_t)B * L, all = (size_t)(BLAYERS + 1) * N * BH;
        int32_t *ids = xmalloc(N * sizeof *ids);
        for (size_t i = 0; i < N; i++)
            ids[i] = 5 + (int32_t)(dsq_philox_uniform_at(93, 1, i) * (BV - 5)) % (BV - 5);
        float *oc = xmalloc(N * BH * sizeof *oc), *og = xmalloc(N * BH * sizeof *og);
        float *ac = xmalloc(all * sizeof *ac), *ag = xmalloc(all * sizeof *ag);
        dsq_bert_forward(&bc, ids, lens, B, L, BLAYERS, oc, ac);
        dsq_bert_forward(&bg, ids, lens, B, L, BLAYERS, og, ag);
        check_vec(NAME("%s: all hidden states", tag), ac, ag, all, TOL_FWD);
        check_vec(NAME("%s: output", tag), oc, og, N * BH, TOL_FWD);
        free(ids); free(oc); free(og); free(ac); free(ag);
        dsq_bert_free(&bc);
        dsq_bert_free(&bg);
    }
    rm_in(dir, "config.json");
    rm_in(dir, "vocab.txt");
    rm_in(dir, "model.safetensors");
    rmdir(dir);
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
    trainer_case("trainer small, 2 steps", drop, 4, 12);
    sampler_case("sampler small, ddpm 10 steps", small, 8, 12);
    bert_case();
    /* bert-base width and heads, the real vocabulary, two layers */
    dsq_model_config wide;
    dsq_model_config_default(&wide, 30522, 128);
    wide.n_layers = 2;
    model_case("model bert-base width (2 layers), dropout 0.1 training", wide, 2, 64, 1);
    diffusion_case("diffusion loss bert-base width (2 layers), V 30522", wide, 2, 64, 0);
}

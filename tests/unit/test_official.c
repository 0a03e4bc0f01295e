/* Training steps against the official DiffuSeq code itself: fixtures that
 * tests/oracles/official_ref.py wrote by running the official TrainLoop
 * (Shark-NLP/DiffuSeq) on dsq's initial parameters, a QQP batch and fixed
 * timesteps and noises, dropout off; two steps each.
 *
 * The parameters are not in the fixture: they are dsq's initialisation
 * from the fixture's seed, checked against the fixture's SHA-256 of them
 * (a changed initialisation fails here, asking for the fixtures to be
 * regenerated, instead of comparing other parameters).
 *
 * Tolerances, the acceptance figures:
 *   - each per-sequence term (loss, mse with its t = 0 branch, decoder_nll,
 *     tT, the logged nll) of both steps within 1e-5 of its value, the
 *     denominator floored at 0.01: decoder_nll, tT and the t = 0 nll are
 *     1e-9..1e-7 at initialisation, where both sides' float32 arithmetic
 *     (a log-sum-exp over logits near 100) resolves 1e-7 at best;
 *   - gradients: each tensor's sum of squares within 2e-4 (its norm 1e-4),
 *     and the sampled entries (the 16 largest |g| and 16 fixed others)
 *     within 1e-4 of the tensor's largest |g|;
 *   - after each AdamW step: the Adam moments at the sampled entries
 *     within 1e-4 of the tensor's largest moment; parameters and EMA
 *     copies at the 16 largest-gradient entries within 1e-3 of the step's
 *     learning rate plus 4 float32 ulps of the value (AdamW moves every
 *     element by about lr, so entries whose gradient is at rounding level
 *     would compare noise; the EMA's own float32 rounding is ~1e-7).
 * The attention key biases are left out of gradient and optimiser checks:
 * their exact gradient is zero (softmax is invariant to them), both sides
 * compute rounding noise of 1e-11 there, and AdamW turns that noise into
 * steps of +-lr.
 *
 *   test_official [FIXTURE...]             checks (default: the committed ones)
 *   test_official --write-params JSON OUT  writes dsq's initial parameters
 *                                          for the generator, with their digest */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "diffusion.h"
#include "err.h"
#include "model.h"
#include "safetensors.h"
#include "schedule_sampler.h"
#include "sha256.h"
#include "train.h"

static dsq_backend *be;

static int jint(json_t *j, const char *k) { return (int)json_integer_value(json_object_get(j, k)); }
static double jnum(json_t *j, const char *k) { return json_number_value(json_object_get(j, k)); }

/* dsq's model for the configuration, its parameters initialised from the
 * seed; dropout (hidden and attention probabilities) from "dropout", 0
 * when absent. */
static int make_model(dsq_model *m, json_t *j, dsq_err *e) {
    dsq_model_config c;
    dsq_model_config_default(&c, jint(j, "vocab"), jint(j, "d"));
    c.dt = jint(j, "dt"); c.H = jint(j, "H"); c.nh = jint(j, "nh"); c.I = jint(j, "I");
    c.n_layers = jint(j, "n_layers"); c.max_pos = jint(j, "max_pos");
    c.hidden_dropout = c.attn_dropout = (float)jnum(j, "dropout");
    c.mean_embed = json_is_true(json_object_get(j, "mean_embed"));
    if (dsq_model_create(m, &c, be, e)) return -1;
    dsq_model_init_params(m, (uint64_t)jint(j, "seed"));
    return 0;
}

/* SHA-256 of the parameters, tensor after tensor in the model's order,
 * little-endian float32. */
static void params_digest(const dsq_model *m, const float *host, char hex[65]) {
    dsq_sha256 s;
    dsq_sha256_init(&s);
    for (int i = 0; i < m->n_tensors; i++)
        dsq_sha256_update(&s, host + m->info[i].offset, m->info[i].numel * sizeof(float));
    unsigned char d[32];
    dsq_sha256_final(&s, d);
    dsq_sha256_hex(d, hex);
}

static float *download_all(const dsq_model *m, const float *dev) {
    float *h = xmalloc(m->n_params * sizeof *h);
    be->download(be, h, dev, m->n_params * sizeof *h);
    return h;
}

static int write_params(const char *json, const char *out) {
    dsq_err e = {0};
    json_t *j = json_loads(json, 0, NULL);
    dsq_model m;
    if (!j || make_model(&m, j, &e)) {
        fprintf(stderr, "test_official: bad configuration %s: %s\n", json, e.msg);
        return 2;
    }
    float *host = download_all(&m, m.params);
    char hex[65];
    params_digest(&m, host, hex);
    dsq_record r;
    dsq_record_init(&r);
    for (int i = 0; i < m.n_tensors; i++) {
        const dsq_param_info *p = &m.info[i];
        dsq_record_add(&r, p->name, DSQ_F32, p->ndim, p->shape, host + p->offset);
    }
    dsq_record_set_meta(&r, "params_sha256", hex);
    int rc = dsq_st_write_file(out, &r, &e);
    if (rc) fprintf(stderr, "test_official: %s: %s\n", out, e.msg);
    dsq_record_free(&r);
    free(host);
    dsq_model_destroy(&m);
    json_decref(j);
    return rc ? 1 : 0;
}

typedef struct {
    const char *path;
    dsq_record r;
    json_t *cfg;
    dsq_model m;
    dsq_schedule sch;
    dsq_diffusion df;
    dsq_tsampler ts;
    dsq_train_opts to;
    int B, L, mb, steps;
    const int32_t *ids;
    const uint8_t *mask;
    int t[64];
    const float *w, *eps0, *eps, *dmask;
} fixture;

static const dsq_tensor *find(fixture *f, const char *fmt, const char *a, const char *b) {
    char nm[256];
    snprintf(nm, sizeof nm, fmt, a, b);
    const dsq_tensor *t = dsq_record_find(&f->r, nm);
    EXPECT(t, "%s: tensor %s missing", f->path, nm);
    return t;
}

static int setup(fixture *f, dsq_err *e) {
    json_t *j = f->cfg;
    f->B = jint(j, "B"); f->L = jint(j, "L"); f->mb = jint(j, "microbatch");
    f->steps = jint(j, "steps");
    if (make_model(&f->m, j, e) || dsq_schedule_init(&f->sch, "sqrt", jint(j, "T"), e))
        return -1;
    dsq_diffusion_opts o = {json_is_true(json_object_get(j, "denoise")),
                            (float)jnum(j, "denoise_rate"), (float)jnum(j, "reg_rate")};
    if (dsq_diffusion_init(&f->df, &f->m, &f->sch, &o, e) ||
        dsq_diffusion_reserve(&f->df, f->mb, f->L, e) ||
        dsq_tsampler_init(&f->ts, "lossaware", jint(j, "T"), e))
        return -1;
    f->to.lr = (float)jnum(j, "lr");
    f->to.learning_steps = jint(j, "learning_steps");
    f->to.weight_decay = (float)jnum(j, "weight_decay");
    f->to.grad_clip = (float)jnum(j, "clip");
    f->to.microbatch = f->mb;
    json_t *ema = json_object_get(j, "ema");
    f->to.n_ema = (int)json_array_size(ema);
    for (int i = 0; i < f->to.n_ema; i++)
        f->to.ema[i] = (float)json_number_value(json_array_get(ema, i));
    size_t N = (size_t)f->B * f->L, X = N * f->m.cfg.d;
    const dsq_tensor *ti = find(f, "%s%s", "ids", ""), *tm = find(f, "%s%s", "mask", "");
    const dsq_tensor *tt = find(f, "%s%s", "t", ""), *tw = find(f, "%s%s", "w", "");
    const dsq_tensor *e0 = find(f, "%s%s", "eps0", ""), *e1 = find(f, "%s%s", "eps", "");
    const dsq_tensor *dm = find(f, "%s%s", "dmask", "");
    if (!(ti && tm && tt && tw && e0 && e1 && dm) || f->B > 64 || f->B % f->mb ||
        dsq_tensor_numel(ti) != (int64_t)N || dsq_tensor_numel(e0) != (int64_t)X ||
        dsq_tensor_numel(e1) != (int64_t)X || dsq_tensor_numel(dm) != (int64_t)N)
        return dsq_err_set(e, DSQ_EDATA, "inputs missing or of the wrong size");
    f->ids = ti->data; f->mask = tm->data; f->w = tw->data;
    f->eps0 = e0->data; f->eps = e1->data; f->dmask = dm->data;
    for (int b = 0; b < f->B; b++) f->t[b] = (int)((const int64_t *)tt->data)[b];
    return 0;
}

static void teardown(fixture *f) {
    dsq_tsampler_free(&f->ts);
    dsq_diffusion_free(&f->df);
    dsq_schedule_free(&f->sch);
    dsq_model_destroy(&f->m);
    if (f->cfg) json_decref(f->cfg);
    dsq_record_free(&f->r);
}

/* One step's microbatches through the trainer, the fixture's noises
 * injected; the per-sequence terms into q. */
static void forward_backward(fixture *f, dsq_trainer *tr, dsq_seq_terms *q) {
    int L = f->L, d = f->m.cfg.d;
    dsq_trainer_begin(tr);
    for (int i = 0; i < f->B; i += f->mb) {
        size_t o = (size_t)i * L;
        dsq_diffusion_set_noise(&f->df, f->eps0 + o * d, f->eps + o * d, f->dmask + o, f->mb, L);
        dsq_trainer_micro(tr, f->ids + o, f->mask + o, f->t + i, f->w + i, f->mb, L, 1, q + i,
                          NULL);
    }
}

static int key_bias(const char *name) { return strstr(name, "attention.self.key.bias") != NULL; }

static void check_terms(fixture *f, int step, const dsq_seq_terms *q) {
    static const char *keys[] = {"loss", "mse", "decoder_nll", "tT", "nll"};
    char pre[32];
    snprintf(pre, sizeof pre, "step%d.terms.", step);
    const dsq_tensor *lt = find(f, "%s%s", pre, "loss");
    if (!lt) return;
    double worst = 0;
    for (int k = 0; k < 5; k++) {
        const dsq_tensor *t = find(f, "%s%s", pre, keys[k]);
        if (!t || dsq_tensor_numel(t) != f->B) continue;
        const double *want = t->data;
        for (int b = 0; b < f->B; b++) {
            double got = k == 0 ? q[b].loss : k == 1 ? q[b].mse : k == 2 ? q[b].decoder_nll :
                         k == 3 ? q[b].tT : q[b].nll;
            double err = fabs(got - want[b]) / fmax(fabs(want[b]), 0.01);
            EXPECT(err <= 1e-5, "%s: step %d %s[%d] (t = %d) = %.9g, official %.9g (rel %.2e)",
                   f->path, step, keys[k], b, f->t[b], got, want[b], err);
            worst = fmax(worst, err);
        }
    }
    printf("  %s: step %d loss terms, max rel error %.2e\n", f->path, step, worst);
}

/* The sampled entries of every parameter-shaped tensor `what` (grad,
 * param, exp_avg, ...) against host; `top_only` compares the 16
 * largest-gradient entries with tolerance tol x abs_scale, else all of
 * them with tol x the largest |value| of the fixture's sample. */
static double check_sampled(fixture *f, const char *what, int step, const float *host,
                            double tol, double abs_scale, int top_only) {
    double worst = 0;
    const char *worst_name = "";
    char pre[64];
    snprintf(pre, sizeof pre, "step%d.%s.", step, what);
    for (int i = 0; i < f->m.n_tensors; i++) {
        const dsq_param_info *p = &f->m.info[i];
        if (key_bias(p->name)) continue;
        const dsq_tensor *ix = find(f, "%s%s", "idx.", p->name);
        const dsq_tensor *v = find(f, "%s%s", pre, p->name);
        if (!ix || !v || dsq_tensor_numel(ix) != dsq_tensor_numel(v)) continue;
        const int64_t *idx = ix->data;
        const float *want = v->data;
        int64_t n = top_only ? 16 : dsq_tensor_numel(v);
        double den = abs_scale;
        if (!top_only)
            for (int64_t k = 0; k < n; k++) den = fmax(den, fabs(want[k]));
        for (int64_t k = 0; k < n; k++) {
            if (idx[k] < 0 || (size_t)idx[k] >= p->numel) {
                EXPECT(0, "%s: idx.%s out of range", f->path, p->name);
                break;
            }
            double got = host[p->offset + idx[k]];
            double ulps = top_only ? 4 * fmax(fabs(got), fabs(want[k])) * FLT_EPSILON / 2 : 0;
            double err = fabs(got - want[k]) / fmax(den * tol + ulps, 1e-30) * tol;
            EXPECT(err <= tol, "%s: %s%s[%lld] = %.9g, official %.9g (rel %.2e)", f->path, pre,
                   p->name, (long long)idx[k], host[p->offset + idx[k]], want[k], err);
            if (err > worst) { worst = err; worst_name = p->name; }
        }
    }
    printf("  %s: %-22s max rel error %.2e (%s)\n", f->path, pre, worst, worst_name);
    return worst;
}

static void check_grad_stats(fixture *f, const float *g) {
    double worst = 0;
    for (int i = 0; i < f->m.n_tensors; i++) {
        const dsq_param_info *p = &f->m.info[i];
        if (key_bias(p->name)) continue;
        const dsq_tensor *st = find(f, "%s%s", "step1.gstat.", p->name);
        if (!st || dsq_tensor_numel(st) != 3) continue;
        const double *want = st->data;
        double ss = 0;
        for (size_t k = 0; k < p->numel; k++) ss += (double)g[p->offset + k] * g[p->offset + k];
        double err = fabs(ss - want[1]) / fmax(want[1], 1e-30);
        EXPECT(err <= 2e-4, "%s: |grad %s|^2 = %.9g, official %.9g (rel %.2e)", f->path,
               p->name, ss, want[1], err);
        worst = fmax(worst, err);
    }
    printf("  %s: gradient sums of squares, max rel error %.2e\n", f->path, worst);
}

/* Reads the fixture and sets dsq up on it: 0, or -1 after a failed
 * EXPECT (teardown still needed). */
static int open_fixture(fixture *f) {
    dsq_err e = {0};
    dsq_record_init(&f->r);
    if (dsq_st_read_file(f->path, &f->r, &e)) { EXPECT(0, "%s: %s", f->path, e.msg); return -1; }
    const char *meta = dsq_record_meta(&f->r, "config");
    f->cfg = meta ? json_loads(meta, 0, NULL) : NULL;
    if (!f->cfg || setup(f, &e)) {
        EXPECT(0, "%s: set-up: %s", f->path, f->cfg ? e.msg : "no config metadata");
        return -1;
    }
    float *host = download_all(&f->m, f->m.params);
    char hex[65];
    params_digest(&f->m, host, hex);
    free(host);
    const char *want = json_string_value(json_object_get(f->cfg, "params_sha256"));
    int same = want && !strcmp(hex, want);
    EXPECT(same, "%s: dsq's initial parameters for seed %d are not the ones the fixture was "
           "made from (sha256 %s, fixture %s): regenerate it with tests/oracles/official_ref.py",
           f->path, jint(f->cfg, "seed"), hex, want ? want : "none");
    return same ? 0 : -1;
}

static void check_fixture(const char *path) {
    fixture f = {.path = path};
    dsq_err e = {0};
    dsq_model *m = &f.m;
    dsq_trainer tr;
    if (open_fixture(&f) || dsq_trainer_init(&tr, m, &f.df, &f.ts, &f.to, &e)) {
        EXPECT(!e.msg[0], "%s: trainer: %s", path, e.msg);
        teardown(&f);
        return;
    }
    dsq_seq_terms q[64];
    for (int step = 1; step <= f.steps; step++) {
        forward_backward(&f, &tr, q);
        check_terms(&f, step, q);
        if (step == 1) {
            float *g = download_all(m, m->grads);
            check_grad_stats(&f, g);
            check_sampled(&f, "grad", 1, g, 1e-4, 0, 0);
            free(g);
        }
        float lr = dsq_trainer_lr(&tr, tr.step);
        dsq_trainer_update(&tr, NULL);
        float *p = download_all(m, m->params), *am = download_all(m, tr.adam_m);
        float *av = download_all(m, tr.adam_v);
        check_sampled(&f, "param", step, p, 1e-3, lr, 1);
        check_sampled(&f, "exp_avg", step, am, 1e-4, 0, 0);
        check_sampled(&f, "exp_avg_sq", step, av, 1e-4, 0, 0);
        for (int i = 0; i < f.to.n_ema; i++) {
            char what[32];
            snprintf(what, sizeof what, "ema_%g", f.to.ema[i]);
            float *em = download_all(m, tr.ema[i]);
            check_sampled(&f, what, step, em, 1e-3, lr, 1);
            free(em);
        }
        free(p); free(am); free(av);
    }
    dsq_trainer_free(&tr);
    teardown(&f);
}

static const char *fixtures[16] = {"tests/fixtures/model/official-tiny.safetensors",
                                   "tests/fixtures/model/official-tiny-v2.safetensors",
                                   "tests/fixtures/model/official-bert-base.safetensors"};
static int n_fixtures = 3;

static void test_official_parity(void) {
    for (int i = 0; i < n_fixtures; i++) check_fixture(fixtures[i]);
}

/* ---- dropout in expectation ------------------------------------------- */

/* Dropout 0.1 on: the per-sequence loss and mse averaged over `draws`
 * dropout draws (fixed t, noises, parameters) against the official
 * model's average over as many torch draws; the two means must agree
 * within 5 standard errors of their difference.  The same inputs with
 * dropout off must equal the official model in eval mode (1e-5), and
 * dropout must move the mean by more than the tolerance somewhere, or the
 * check would not see it. */
static void test_official_dropout(void) {
    fixture f = {.path = "tests/fixtures/model/official-dropout.safetensors"};
    if (open_fixture(&f)) { teardown(&f); return; }
    int B = f.B, L = f.L, d = f.m.cfg.d, K = jint(f.cfg, "draws");
    const dsq_tensor *om = find(&f, "%s%s", "dropout.mean", ""), *ose = find(&f, "%s%s",
                                                                             "dropout.se", "");
    const dsq_tensor *nd = find(&f, "%s%s", "nodropout", "");
    dsq_err e = {0};
    if (!om || !ose || !nd || dsq_tensor_numel(om) != 2 * B ||
        dsq_diffusion_reserve(&f.df, B, L, &e)) {
        EXPECT(0, "%s: fixture or set-up: %s", f.path, e.msg);
        teardown(&f);
        return;
    }
    double *sum = xcalloc(2 * (size_t)B, sizeof *sum), *sq = xcalloc(2 * (size_t)B, sizeof *sq);
    dsq_seq_terms q[64];
    f.m.seed = 7;
    for (int k = 0; k <= K; k++) {  /* k = K: dropout off */
        f.m.training = k < K;
        f.m.rng_offset = (uint64_t)k * dsq_model_rng_streams(&f.m.cfg);
        dsq_diffusion_set_noise(&f.df, f.eps0, f.eps, f.dmask, B, L);
        dsq_diffusion_loss(&f.df, f.ids, f.mask, f.t, f.w, B, L, 0, 0, q);
        for (int b = 0; b < B; b++) {
            double v[2] = {q[b].loss, q[b].mse};
            for (int j = 0; j < 2; j++) {
                if (k == K) {
                    double want = ((const double *)nd->data)[j * B + b];
                    EXPECT(fabs(v[j] - want) <= 1e-5 * fabs(want), "%s: dropout off: term %d "
                           "of sequence %d = %.9g, official %.9g", f.path, j, b, v[j], want);
                    continue;
                }
                sum[j * B + b] += v[j];
                sq[j * B + b] += v[j] * v[j];
            }
        }
    }
    (void)d;
    double worst = 0, shift = 0, tol_max = 0;
    for (int i = 0; i < 2 * B; i++) {
        double mean = sum[i] / K, var = (sq[i] - K * mean * mean) / (K - 1);
        double se = sqrt(fmax(var, 0) / K), want = ((const double *)om->data)[i];
        double tol = 5 * sqrt(se * se + pow(((const double *)ose->data)[i], 2));
        EXPECT(fabs(mean - want) <= tol, "%s: %s of sequence %d with dropout: mean %.7g over %d "
               "draws, official %.7g (tolerance %.2g)", f.path, i < B ? "loss" : "mse", i % B,
               mean, K, want, tol);
        worst = fmax(worst, fabs(mean - want) / tol);
        double s = fabs(want - ((const double *)nd->data)[i]) / tol;
        if (s > shift) { shift = s; tol_max = tol; }
    }
    EXPECT(shift > 2, "dropout moves no mean by more than twice the tolerance (%.2f)", shift);
    printf("  %s: %d draws: mean terms within %.2f of the tolerance; dropout moves a mean by "
           "%.1f x its tolerance (%.2g)\n", f.path, K, worst, shift, tol_max);
    free(sum);
    free(sq);
    teardown(&f);
}

/* ---- initialisation in distribution ------------------------------------ */

typedef struct { double mean, sd, maxabs, kurt; } moments;

static moments tensor_moments(const float *x, size_t n) {
    double s = 0, m = 0, s2 = 0, s4 = 0;
    moments r = {0};
    for (size_t i = 0; i < n; i++) { s += x[i]; r.maxabs = fmax(r.maxabs, fabs(x[i])); }
    m = s / n;
    for (size_t i = 0; i < n; i++) {
        double c = x[i] - m, c2 = c * c;
        s2 += c2;
        s4 += c2 * c2;
    }
    r.mean = m;
    r.sd = sqrt(s2 / n);
    r.kurt = s2 > 0 ? (s4 / n) / ((s2 / n) * (s2 / n)) : 0;
    return r;
}

/* One tensor's dsq moments (averaged over the seeds) against the
 * official ones: mean within 6 sd / sqrt(n); sd within 6 of its standard
 * errors (sqrt((kurt - 1) / 4n) relative); a constant tensor exactly; for
 * tensors of 10,000+ elements the kurtosis within 8 sqrt(24 / n) (normal
 * 3, uniform 1.8) and, for uniform ones, the largest |x| within 1 %. */
static int compare_moments(const char *name, size_t n, moments d, moments o) {
    int bad = 0;
    if (o.sd == 0) {
        bad = d.sd != 0 || d.mean != o.mean;
    } else {
        bad |= fabs(d.mean - o.mean) > 6 * o.sd / sqrt((double)n);
        bad |= fabs(d.sd / o.sd - 1) > 6 * sqrt(fmax(o.kurt - 1, 0.5) / (4.0 * n));
        if (n >= 10000) {
            bad |= fabs(d.kurt - o.kurt) > 8 * sqrt(24.0 / n);
            if (o.kurt < 2.2) bad |= fabs(d.maxabs / o.maxabs - 1) > 0.01;
        }
    }
    EXPECT(!bad, "init of %s (%zu elements): dsq mean %.3g sd %.5g max|x| %.4g kurtosis %.3f; "
           "official %.3g %.5g %.4g %.3f", name, n, d.mean, d.sd, d.maxabs, d.kurt, o.mean, o.sd,
           o.maxabs, o.kurt);
    return !bad;
}

static void test_official_init(void) {
    const char *path = "tests/fixtures/model/official-init.safetensors";
    dsq_record r;
    dsq_err e = {0};
    dsq_record_init(&r);
    if (dsq_st_read_file(path, &r, &e)) { EXPECT(0, "%s: %s", path, e.msg); return; }
    dsq_model_config c;
    dsq_model_config_default(&c, 30522, 128);   /* the paper's shape */
    dsq_model m;
    if (dsq_model_create(&m, &c, be, &e)) { EXPECT(0, "%s", e.msg); dsq_record_free(&r); return; }
    enum { SEEDS = 3 };
    moments *acc = xcalloc((size_t)m.n_tensors, sizeof *acc);
    for (int s = 0; s < SEEDS; s++) {
        dsq_model_init_params(&m, 102 + (uint64_t)s);
        float *host = download_all(&m, m.params);
        for (int i = 0; i < m.n_tensors; i++) {
            moments x = tensor_moments(host + m.info[i].offset, m.info[i].numel);
            acc[i].mean += x.mean / SEEDS; acc[i].sd += x.sd / SEEDS;
            acc[i].maxabs += x.maxabs / SEEDS; acc[i].kurt += x.kurt / SEEDS;
        }
        free(host);
    }
    int ok = 0, n = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "init.%s", m.info[i].name);
        const dsq_tensor *t = dsq_record_find(&r, nm);
        EXPECT(t && dsq_tensor_numel(t) % 4 == 0, "%s: %s missing", path, nm);
        if (!t) continue;
        int ns = (int)(dsq_tensor_numel(t) / 4);
        const double *v = t->data;
        moments o = {0};
        for (int k = 0; k < ns; k++) {
            o.mean += v[4 * k] / ns; o.sd += v[4 * k + 1] / ns;
            o.maxabs += v[4 * k + 2] / ns; o.kurt += v[4 * k + 3] / ns;
        }
        ok += compare_moments(m.info[i].name, m.info[i].numel, acc[i], o);
        n++;
    }
    EXPECT(n == m.n_tensors && r.n_tensors == m.n_tensors, "%d of %d tensors compared (fixture "
           "holds %d)", n, m.n_tensors, r.n_tensors);
    printf("  %s: %d of %d tensors initialised alike in distribution\n", path, ok, n);
    free(acc);
    dsq_model_destroy(&m);
    dsq_record_free(&r);
}

/* ---- the loss-aware timestep sampler ----------------------------------- */

/* The official LossSecondMomentResampler's weights after each batch of
 * (t, loss) updates, from before its warm-up on; dsq's within 1e-12. */
static void test_official_sampler(void) {
    const char *path = "tests/fixtures/model/official-sampler.safetensors";
    dsq_record r;
    dsq_err e = {0};
    dsq_record_init(&r);
    if (dsq_st_read_file(path, &r, &e)) { EXPECT(0, "%s: %s", path, e.msg); return; }
    json_t *j = json_loads(dsq_record_meta(&r, "config") ? dsq_record_meta(&r, "config") : "",
                           0, NULL);
    int T = j ? jint(j, "T") : 0, B = j ? jint(j, "B") : 0, nb = j ? jint(j, "batches") : 0;
    const dsq_tensor *tt = dsq_record_find(&r, "t"), *tl = dsq_record_find(&r, "loss");
    const dsq_tensor *tw = dsq_record_find(&r, "weights"), *tk = dsq_record_find(&r, "warm");
    dsq_tsampler s;
    if (!tt || !tl || !tw || !tk || T < 1 || T > 4096 || B < 1 || B > 64 ||
        dsq_tensor_numel(tt) != (int64_t)nb * B || dsq_tensor_numel(tw) != (int64_t)nb * T ||
        dsq_tsampler_init(&s, "lossaware", T, &e)) {
        EXPECT(0, "%s: fixture incomplete or set-up failed: %s", path, e.msg);
        if (j) json_decref(j);
        dsq_record_free(&r);
        return;
    }
    double *w = xmalloc((size_t)T * sizeof *w), worst = 0;
    int warm_at = -1;
    for (int k = 0; k < nb; k++) {
        int t[64];
        for (int b = 0; b < B; b++) t[b] = (int)((const int64_t *)tt->data)[k * B + b];
        dsq_tsampler_update(&s, t, (const double *)tl->data + (size_t)k * B, B);
        dsq_tsampler_weights(&s, w);
        const double *want = (const double *)tw->data + (size_t)k * T;
        for (int i = 0; i < T; i++) worst = fmax(worst, fabs(w[i] - want[i]) / want[i]);
        int warm = (int)((const int64_t *)tk->data)[k];
        EXPECT(dsq_tsampler_warmed_up(&s) == warm, "%s: batch %d: warmed up %d, official %d",
               path, k, dsq_tsampler_warmed_up(&s), warm);
        if (warm && warm_at < 0) warm_at = k;
    }
    EXPECT(worst <= 1e-12, "%s: weights differ by %.2e", path, worst);
    EXPECT(warm_at > 0, "%s: the fixture never reaches the warm-up", path);
    printf("  %s: %d batches (warm from batch %d), weights max rel error %.2e\n", path, nb,
           warm_at, worst);
    free(w);
    dsq_tsampler_free(&s);
    json_decref(j);
    dsq_record_free(&r);
}

int main(int argc, char **argv) {
    be = dsq_backend_cpu();
    if (argc == 4 && !strcmp(argv[1], "--write-params")) {
        int rc = write_params(argv[2], argv[3]);
        be->destroy(be);
        return rc;
    }
    if (argc > 1) {
        n_fixtures = 0;
        for (int i = 1; i < argc && n_fixtures < 16; i++) fixtures[n_fixtures++] = argv[i];
    }
    RUN_TEST(test_official_parity);
    if (argc <= 1) {
        RUN_TEST(test_official_dropout);
        RUN_TEST(test_official_init);
        RUN_TEST(test_official_sampler);
    }
    be->destroy(be);
    TEST_MAIN_END();
}

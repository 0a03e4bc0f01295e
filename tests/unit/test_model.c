/* The DiffuSeq network against the PyTorch re-statement
 * (tests/oracles/diffuseq_ref.py): forward within rel. 1e-4 and every
 * gradient within rel. 1e-3, where rel = max|c - ref| / max|ref| per
 * tensor (the reference is float64 arithmetic on the same float32 weights).
 * For gradients the denominator is floored at 1e-4 x the largest reference
 * gradient entry of the fixture: the key biases' exact gradient is zero
 * (softmax ignores a per-row shift), so their reference values are ~1e-17
 * rounding noise and a plain relative error would be meaningless.
 * Also: the parameter count of the paper's configuration, the table's
 * state-dict names, initialisation, and a finite-difference check of the
 * whole backward with dropout on (which the oracle cannot cover: its RNG
 * differs).
 *   test_model [FIXTURE.safetensors...]  checks the given fixtures instead
 *   of the committed ones (tests/checks/model_oracle.sh uses this). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "err.h"
#include "model.h"
#include "philox.h"
#include "safetensors.h"

static dsq_backend *be;
static const char *fixtures[16] = {"tests/fixtures/model/small.safetensors",
                                   "tests/fixtures/model/proj-free.safetensors"};
static int n_fixtures = 2;

static void test_param_count(void) {
    dsq_model_config c;
    dsq_model_config_default(&c, 30522, 128);
    size_t n = dsq_model_config_num_params(&c);
    EXPECT(n == 91225274, "QQP configuration: %zu parameters, reference prints 91225274", n);
    c.d = c.H;  /* no projections */
    n = dsq_model_config_num_params(&c);
    EXPECT(n == 91225274 - 689664 - 689024 + 30522 * (768 - 128),
           "d == H drops both projections: %zu", n);
    dsq_err e = {0};
    c.nh = 7;
    EXPECT(dsq_model_config_check(&c, &e) == DSQ_EUSAGE && strstr(e.msg, "heads"),
           "heads must divide H: %s", e.msg);
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static double rel_err(const float *got, const float *want, size_t n, double floor) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)got[i] - want[i]));
    return e / fmax(max_abs(want, n), fmax(floor, 1e-30));
}

static int cfg_int(json_t *j, const char *k) { return (int)json_integer_value(json_object_get(j, k)); }

static void check_fixture(const char *path) {
    dsq_err e = {0};
    dsq_record r;
    dsq_record_init(&r);
    if (dsq_st_read_file(path, &r, &e)) {
        EXPECT(0, "reading %s: %s", path, e.msg);
        return;
    }
    json_t *j = json_loads(dsq_record_meta(&r, "config"), 0, NULL);
    EXPECT(j != NULL, "%s: no config metadata", path);
    if (!j) { dsq_record_free(&r); return; }
    dsq_model_config c;
    dsq_model_config_default(&c, cfg_int(j, "vocab"), cfg_int(j, "d"));
    c.dt = cfg_int(j, "dt");
    c.H = cfg_int(j, "H");
    c.nh = cfg_int(j, "nh");
    c.I = cfg_int(j, "I");
    c.n_layers = cfg_int(j, "n_layers");
    c.max_pos = cfg_int(j, "max_pos");
    c.hidden_dropout = c.attn_dropout = 0.1f;  /* inactive: not training */
    int B = cfg_int(j, "B"), L = cfg_int(j, "L"), T = cfg_int(j, "T");
    json_decref(j);

    dsq_model m;
    EXPECT(dsq_model_create(&m, &c, be, &e) == 0, "create: %s", e.msg);
    /* Every table entry is a fixture parameter of the same shape, and the
     * fixture has no parameter the table lacks: the names are the state
     * dict's. */
    float *host = xcalloc(m.n_params, sizeof *host);
    int n_fix_params = 0;
    for (int i = 0; i < r.n_tensors; i++)
        if (!strncmp(r.tensors[i].name, "param.", 6)) n_fix_params++;
    EXPECT(n_fix_params == m.n_tensors, "%s: %d parameters, table has %d", path, n_fix_params,
           m.n_tensors);
    char nm[128];
    for (int i = 0; i < m.n_tensors; i++) {
        const dsq_param_info *p = &m.info[i];
        snprintf(nm, sizeof nm, "param.%s", p->name);
        const dsq_tensor *t = dsq_record_find(&r, nm);
        int ok = t && t->dtype == DSQ_F32 && t->ndim == p->ndim && t->shape[0] == p->shape[0] &&
                 (p->ndim == 1 || t->shape[1] == p->shape[1]);
        EXPECT(ok, "%s: parameter %s missing or of another shape", path, p->name);
        if (ok) memcpy(host + p->offset, t->data, t->nbytes);
    }
    be->upload(be, m.params, host, m.n_params * sizeof(float));

    const dsq_tensor *tx = dsq_record_find(&r, "x"), *tt = dsq_record_find(&r, "t");
    const dsq_tensor *tdo = dsq_record_find(&r, "dout"), *tout = dsq_record_find(&r, "out");
    const dsq_tensor *tgx = dsq_record_find(&r, "grad.x");
    /* forward-only fixtures (the bert-base shape) carry no dout/gradients */
    int fwd_only = !tdo && !tgx;
    EXPECT(tx && tt && tout && (fwd_only || (tdo && tgx)), "%s: inputs/outputs missing", path);
    if (!(tx && tt && tout && (fwd_only || (tdo && tgx)))) goto done;
    size_t nx = (size_t)B * L * c.d;
    float tsc[64];
    EXPECT(B <= 64, "%s: batch %d", path, B);
    for (int b = 0; b < B; b++) tsc[b] = dsq_model_rescale_t((int)((int64_t *)tt->data)[b], T);

    /* Reserve more than needed: a smaller batch uses a prefix. */
    EXPECT(dsq_model_reserve(&m, B + 2, L, &e) == 0, "reserve: %s", e.msg);
    float *dxin = be->alloc(be, nx * 4), *dt_ = be->alloc(be, B * 4);
    float *ddout = be->alloc(be, nx * 4), *dgx = be->alloc(be, nx * 4);
    be->upload(be, dxin, tx->data, nx * 4);
    be->upload(be, dt_, tsc, B * 4);
    if (!fwd_only) be->upload(be, ddout, tdo->data, nx * 4);

    const float *out = dsq_model_forward(&m, dxin, dt_, B, L);
    float *hout = xmalloc(nx * 4);
    be->download(be, hout, out, nx * 4);
    double fe = rel_err(hout, tout->data, nx, 0);
    printf("  %s: forward max rel error %.3e (max |out| %.3f)\n", path, fe,
           max_abs(tout->data, nx));
    EXPECT(fe <= 1e-4, "%s: forward rel error %.3e > 1e-4", path, fe);
    if (fwd_only) {
        free(hout);
        be->free(be, dxin); be->free(be, dt_); be->free(be, ddout); be->free(be, dgx);
        goto done;
    }

    dsq_model_zero_grad(&m);
    dsq_model_backward(&m, dgx, ddout);
    be->download(be, host, m.grads, m.n_params * sizeof(float));
    double worst = 0, worst_plain = 0, gscale = 0;
    const char *worst_name = "";
    for (int i = 0; i < r.n_tensors; i++)
        if (!strncmp(r.tensors[i].name, "grad.", 5))
            gscale = fmax(gscale, max_abs(r.tensors[i].data, r.tensors[i].nbytes / 4));
    double floor = 1e-4 * gscale;
    int n_checked = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        const dsq_param_info *p = &m.info[i];
        snprintf(nm, sizeof nm, "grad.%s", p->name);
        const dsq_tensor *t = dsq_record_find(&r, nm);
        if (!t) {  /* f does not use it: the gradient must stay zero */
            EXPECT(max_abs(host + p->offset, p->numel) == 0, "%s: gradient of unused %s", path,
                   p->name);
            continue;
        }
        double ge = rel_err(host + p->offset, t->data, p->numel, floor);
        EXPECT(ge <= 1e-3, "%s: gradient of %s rel error %.3e > 1e-3", path, p->name, ge);
        if (ge > worst) { worst = ge; worst_name = p->name; }
        if (max_abs(t->data, p->numel) > floor && ge > worst_plain) worst_plain = ge;
        n_checked++;
    }
    be->download(be, hout, dgx, nx * 4);
    double xe = rel_err(hout, tgx->data, nx, floor);
    EXPECT(xe <= 1e-3, "%s: input gradient rel error %.3e > 1e-3", path, xe);
    printf("  %s: %d parameter gradients, max rel error %.3e (%s), %.3e over tensors with "
           "non-zero exact gradient; input gradient %.3e\n", path, n_checked, worst, worst_name,
           worst_plain, xe);
    EXPECT(n_checked >= m.n_tensors - 2, "%s: only %d gradients in the fixture", path, n_checked);

    /* A second backward adds the same again (+= semantics). */
    float *g1 = xmalloc(m.n_params * 4);
    memcpy(g1, host, m.n_params * 4);
    dsq_model_backward(&m, NULL, ddout);
    be->download(be, host, m.grads, m.n_params * sizeof(float));
    double acc = 0;
    for (size_t i = 0; i < m.n_params; i++) acc = fmax(acc, fabs(host[i] - 2 * g1[i]));
    EXPECT(acc <= 1e-5 * max_abs(g1, m.n_params), "gradients accumulate: %.3e", acc);
    free(g1);

    be->free(be, dxin); be->free(be, dt_); be->free(be, ddout); be->free(be, dgx);
    free(hout);
done:
    free(host);
    dsq_model_destroy(&m);
    dsq_record_free(&r);
}

static void test_oracle_parity(void) {
    for (int i = 0; i < n_fixtures; i++) check_fixture(fixtures[i]);
}

/* ---- whole-model FD with dropout on ----------------------------------- */
static dsq_model fm;
static float *fx, *ft, *fdout;
enum { FB = 2, FL = 6 };

static double model_loss(void) {
    const float *o = dsq_model_forward(&fm, fx, ft, FB, FL);
    double s = 0;
    for (size_t i = 0; i < (size_t)FB * FL * fm.cfg.d; i++) s += (double)o[i] * fdout[i];
    return s;
}

/* Directional derivatives along random directions of all parameters and
 * of x, against the backward's dot products; CPU buffers are host memory. */
static void test_dropout_fd(void) {
    dsq_model_config c;
    dsq_model_config_default(&c, 11, 8);
    c.dt = 6; c.H = 16; c.nh = 2; c.I = 24; c.n_layers = 3; c.max_pos = 8;
    c.hidden_dropout = 0.2f; c.attn_dropout = 0.25f;
    dsq_err e = {0};
    EXPECT(dsq_model_create(&fm, &c, be, &e) == 0 && dsq_model_reserve(&fm, FB, FL, &e) == 0,
           "%s", e.msg);
    dsq_model_init_params(&fm, 5);
    size_t nx = (size_t)FB * FL * c.d;
    fx = be->alloc(be, nx * 4); ft = be->alloc(be, FB * 4); fdout = be->alloc(be, nx * 4);
    float *gx = be->alloc(be, nx * 4);
    for (size_t i = 0; i < nx; i++) {
        fx[i] = dsq_philox_normal_at(9, 1, i);
        fdout[i] = dsq_philox_normal_at(9, 2, i);
    }
    ft[0] = dsq_model_rescale_t(3, 20);
    ft[1] = dsq_model_rescale_t(17, 20);
    fm.training = 1;
    fm.seed = 77;
    fm.rng_offset = 1000;

    double l_train = model_loss();
    fm.training = 0;
    double l_eval = model_loss();
    fm.training = 1;
    EXPECT(fabs(l_train - l_eval) > 1e-3, "dropout changes the output");
    EXPECT(model_loss() == l_train, "same seed and offset, same output");

    dsq_model_zero_grad(&fm);
    model_loss();
    dsq_model_backward(&fm, gx, fdout);
    for (int trial = 0; trial < 3; trial++) {
        /* direction v over params (all tensors, incl. unused ones) and x */
        float *vp = xmalloc(fm.n_params * 4), *vx = xmalloc(nx * 4);
        double gv = 0;
        for (size_t i = 0; i < fm.n_params; i++) {
            vp[i] = dsq_philox_normal_at(20 + trial, 1, i);
            gv += (double)vp[i] * fm.grads[i];
        }
        for (size_t i = 0; i < nx; i++) {
            vx[i] = dsq_philox_normal_at(20 + trial, 2, i);
            gv += (double)vx[i] * gx[i];
        }
        const float h = 1e-3f;
        float *p0 = xmalloc(fm.n_params * 4), *x0 = xmalloc(nx * 4);
        memcpy(p0, fm.params, fm.n_params * 4);
        memcpy(x0, fx, nx * 4);
        for (size_t i = 0; i < fm.n_params; i++) fm.params[i] = p0[i] + h * vp[i];
        for (size_t i = 0; i < nx; i++) fx[i] = x0[i] + h * vx[i];
        double lp = model_loss();
        for (size_t i = 0; i < fm.n_params; i++) fm.params[i] = p0[i] - h * vp[i];
        for (size_t i = 0; i < nx; i++) fx[i] = x0[i] - h * vx[i];
        double lm = model_loss();
        memcpy(fm.params, p0, fm.n_params * 4);
        memcpy(fx, x0, nx * 4);
        double fd = (lp - lm) / (2 * h), rel = fabs(fd - gv) / fmax(fabs(gv), 1e-6);
        printf("  dropout model FD direction %d: fd %.6f backward %.6f rel %.2e\n", trial, fd,
               gv, rel);
        EXPECT(rel < 5e-3, "direction %d: FD %.6f vs backward %.6f", trial, fd, gv);
        free(vp); free(vx); free(p0); free(x0);
    }
    be->free(be, fx); be->free(be, ft); be->free(be, fdout); be->free(be, gx);
    dsq_model_destroy(&fm);
}

static void test_init(void) {
    dsq_model_config c;
    dsq_model_config_default(&c, 300, 16);
    c.H = 64; c.nh = 4; c.I = 128; c.n_layers = 1; c.max_pos = 64; c.dt = 32;
    c.mean_embed = 1;
    dsq_model m;
    dsq_err e = {0};
    EXPECT(dsq_model_create(&m, &c, be, &e) == 0, "%s", e.msg);
    dsq_model_init_params(&m, 1);
    const dsq_param_info *w = dsq_model_param(&m, "input_transformers.layer.0.intermediate.dense.weight");
    const dsq_param_info *b = dsq_model_param(&m, "input_transformers.layer.0.output.dense.bias");
    const dsq_param_info *lw = dsq_model_param(&m, "LayerNorm.weight");
    const dsq_param_info *em = dsq_model_param(&m, "word_embedding.weight");
    const dsq_param_info *me = dsq_model_param(&m, "mean_embed");
    EXPECT(w && b && lw && em && me, "table names");
    EXPECT(!dsq_model_param(&m, DSQ_MODEL_TIED_NAME), "the tied lm_head.weight has no entry");
    if (w && b && lw && em && me) {
        float *x = m.params;
        double bound = 1 / sqrt(64.0), mx = max_abs(x + w->offset, w->numel);
        EXPECT(mx <= bound && mx > 0.95 * bound, "U(+-1/sqrt(H)): max %.4f", mx);
        mx = max_abs(x + b->offset, b->numel);
        EXPECT(mx <= 1 / sqrt(128.0) && mx > 0.8 / sqrt(128.0), "bias fan_in is I: %.4f", mx);
        EXPECT(x[lw->offset] == 1.0f && x[lw->offset + 63] == 1.0f, "LayerNorm weight ones");
        double s2 = 0;
        for (size_t i = 0; i < em->numel; i++) s2 += (double)x[em->offset + i] * x[em->offset + i];
        EXPECT(fabs(s2 / em->numel - 1) < 0.05, "embedding N(0,1): var %.3f", s2 / em->numel);
        EXPECT(m.p.layers[0].qkvw + 64 * 64 == x + dsq_model_param(&m,
               "input_transformers.layer.0.attention.self.key.weight")->offset,
               "q, k, v weights adjacent");
        EXPECT(m.p.mean_emb == x + me->offset, "mean_embed view");
    }
    EXPECT(dsq_model_reserve(&m, 2, 65, &e) == DSQ_EUSAGE && strstr(e.msg, "65"),
           "L beyond max positions: %s", e.msg);
    dsq_model_destroy(&m);
}

/* The decoding reserve (two layer sets in turn, no gradients) gives the
 * training reserve's output bit for bit, for 1 to 5 layers and d == H or
 * not, in a fraction of the memory. */
static void test_inference_reserve(void) {
    for (int nl = 1; nl <= 5; nl++) {
        for (int d = 8; d <= 16; d += 8) {
            dsq_model_config c;
            dsq_model_config_default(&c, 23, d);
            c.dt = 6; c.H = 16; c.nh = 2; c.I = 24; c.n_layers = nl; c.max_pos = 8;
            c.hidden_dropout = c.attn_dropout = 0.0f;
            dsq_model tm, im;
            dsq_err e = {0};
            int B = 3, L = 7;
            EXPECT(dsq_model_create(&tm, &c, be, &e) == 0 && dsq_model_create(&im, &c, be, &e) == 0
                   && dsq_model_reserve(&tm, B, L, &e) == 0
                   && dsq_model_reserve_inference(&im, B, L, &e) == 0, "%s", e.msg);
            dsq_model_init_params(&tm, 11);
            dsq_model_init_params(&im, 11);
            size_t nx = (size_t)B * L * d;
            float *x = be->alloc(be, nx * 4), *t = be->alloc(be, B * 4);
            for (size_t i = 0; i < nx; i++) x[i] = dsq_philox_normal_at(4, 1, i);
            for (int b = 0; b < B; b++) t[b] = dsq_model_rescale_t(5 * b + 1, 20);
            const float *o1 = dsq_model_forward(&tm, x, t, B, L);
            const float *o2 = dsq_model_forward(&im, x, t, B, L);
            EXPECT(!memcmp(o1, o2, nx * 4), "layers %d, d %d: outputs differ", nl, d);
            EXPECT(im.grads == NULL && im.dacts == NULL, "inference keeps no gradients");
            if (nl >= 3)
                EXPECT(im.n_acts < tm.n_acts, "layers %d: %zu floats vs %zu", nl, im.n_acts,
                       tm.n_acts);
            be->free(be, x);
            be->free(be, t);
            dsq_model_destroy(&tm);
            dsq_model_destroy(&im);
        }
    }
}

int main(int argc, char **argv) {
    if (argc > 1) {
        n_fixtures = 0;
        for (int i = 1; i < argc && n_fixtures < 16; i++) fixtures[n_fixtures++] = argv[i];
    }
    be = dsq_backend_cpu();
    RUN_TEST(test_param_count);
    RUN_TEST(test_oracle_parity);
    RUN_TEST(test_dropout_fd);
    RUN_TEST(test_init);
    RUN_TEST(test_inference_reserve);
    be->destroy(be);
    TEST_MAIN_END();
}

/* Checkpoints and training state: round trips through the parameter table,
 * the reference state-dict layout of the file (tied lm_head.weight stored
 * as an equal copy, position_ids buffer, config metadata), and the errors
 * a wrong file gives (shape, missing, foreign tensor, untied lm_head,
 * another model's state, unwritable path). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "checkpoint.h"
#include "err.h"
#include "model.h"
#include "ptfile.h"
#include "safetensors.h"

static dsq_backend *be;
static char dir[] = "/tmp/dsq_ckpt_XXXXXX";

static void make_model(dsq_model *m, int H, int mean_embed) {
    dsq_model_config c;
    dsq_model_config_default(&c, 31, 8);
    c.dt = 8; c.H = H; c.nh = 2; c.I = 24; c.n_layers = 2; c.max_pos = 20;
    c.mean_embed = mean_embed;
    dsq_err e = {0};
    DSQ_CHECK(dsq_model_create(m, &c, be, &e) == 0);
    dsq_model_init_params(m, 7);
}

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void test_model_roundtrip(void) {
    dsq_model m, m2;
    make_model(&m, 16, 1);
    make_model(&m2, 16, 1);
    char p[256];
    path_of(p, sizeof p, "model.safetensors");
    dsq_err e = {0};
    EXPECT(dsq_ckpt_write(p, &m, m.params, "{\"hidden\":16}", &e) == 0, "%s", e.msg);
    float *dst = be->alloc(be, m.n_params * 4);
    EXPECT(dsq_ckpt_read(p, &m2, dst, NULL, &e) == 0, "%s", e.msg);
    EXPECT(!memcmp(dst, m.params, m.n_params * 4), "parameters round trip bit for bit");
    char *cfg = NULL;
    EXPECT(dsq_ckpt_read_config(p, &cfg, NULL, &e) == 0 && cfg && !strcmp(cfg, "{\"hidden\":16}"),
           "config metadata");
    free(cfg);

    dsq_record r;
    dsq_record_init(&r);
    EXPECT(dsq_st_read_file(p, &r, &e) == 0, "%s", e.msg);
    EXPECT(r.n_tensors == m.n_tensors + 2, "table + lm_head.weight + position_ids: %d",
           r.n_tensors);
    const dsq_tensor *w = dsq_record_find(&r, "word_embedding.weight");
    const dsq_tensor *l = dsq_record_find(&r, "lm_head.weight");
    const dsq_tensor *pi = dsq_record_find(&r, "position_ids");
    EXPECT(w && l && w->nbytes == l->nbytes && !memcmp(w->data, l->data, w->nbytes),
           "lm_head.weight stored as an equal copy");
    EXPECT(pi && pi->dtype == DSQ_I64 && pi->ndim == 2 && pi->shape[0] == 1 &&
           pi->shape[1] == 20 && ((int64_t *)pi->data)[19] == 19, "position_ids buffer");
    const dsq_tensor *q = dsq_record_find(&r, "input_transformers.layer.1.attention.self.query.weight");
    EXPECT(q && q->ndim == 2 && q->shape[0] == 16 && q->shape[1] == 16, "reference names/shapes");

    /* untied lm_head (the reference's EMA layout): lm_head.weight's values
     * for both, said through info; the same file as PyTorch zip too */
    dsq_tensor *lm = NULL;
    for (int i = 0; i < r.n_tensors; i++)
        if (!strcmp(r.tensors[i].name, "lm_head.weight")) lm = &r.tensors[i];
    ((float *)lm->data)[3] += 1.0f;
    char p2[256];
    path_of(p2, sizeof p2, "untied.safetensors");
    dsq_st_write_file(p2, &r, &e);
    dsq_ckpt_info info;
    for (int k = 0; k < 2; k++) {
        if (k) {
            path_of(p2, sizeof p2, "untied.pt");
            EXPECT(dsq_pt_write_file(p2, &r, &e) == 0, "%s", e.msg);
        }
        EXPECT(dsq_ckpt_read(p2, &m2, dst, &info, &e) == 0, "untied: %s", e.msg);
        EXPECT(info.untied && fabs(info.untied_max_diff - 1.0) < 1e-6 && info.pytorch == k,
               "untied %d, diff %g, pytorch %d", info.untied, info.untied_max_diff, info.pytorch);
        const dsq_param_info *we = dsq_model_param(&m2, "word_embedding.weight");
        float got[4];
        be->download(be, got, dst + we->offset, sizeof got);
        EXPECT(got[3] == ((float *)lm->data)[3], "word_embedding took lm_head's values");
    }
    /* F16 tensors are widened exactly */
    dsq_tensor *ln = (dsq_tensor *)dsq_record_find(&r, "LayerNorm.weight");
    uint16_t *h = xmalloc(ln->nbytes / 2);
    for (size_t i = 0; i < ln->nbytes / 4; i++) h[i] = i ? 0x3c00 : 0x0001;   /* 1.0; 2^-24 */
    free(ln->data);
    ln->data = h, ln->nbytes /= 2, ln->dtype = DSQ_F16;
    path_of(p2, sizeof p2, "half.pt");
    EXPECT(dsq_pt_write_file(p2, &r, &e) == 0, "%s", e.msg);
    EXPECT(dsq_ckpt_read(p2, &m2, dst, &info, &e) == 0, "half: %s", e.msg);
    {
        const dsq_param_info *lw = dsq_model_param(&m2, "LayerNorm.weight");
        float got[2];
        be->download(be, got, dst + lw->offset, sizeof got);
        EXPECT(got[0] == 0x1p-24f && got[1] == 1.0f, "F16 widened: %g %g", got[0], got[1]);
    }
    dsq_record_free(&r);

    /* another shape: the message names the tensor and both shapes */
    dsq_model m3;
    make_model(&m3, 32, 1);
    float *d3 = be->alloc(be, m3.n_params * 4);
    EXPECT(dsq_ckpt_read(p, &m3, d3, NULL, &e) == DSQ_EDATA && strstr(e.msg, "time_embed.2.weight has shape [16, 32]") &&
           strstr(e.msg, "needs [32, 32]"), "shape mismatch: %s", e.msg);
    /* a mean_embed the model lacks */
    dsq_model m4;
    make_model(&m4, 16, 0);
    EXPECT(dsq_ckpt_read(p, &m4, d3, NULL, &e) == DSQ_EDATA && strstr(e.msg, "mean_embed"),
           "foreign tensor: %s", e.msg);
    /* missing file, unwritable place */
    path_of(p2, sizeof p2, "none.safetensors");
    EXPECT(dsq_ckpt_read(p2, &m2, dst, NULL, &e) != 0 && strstr(e.msg, "none.safetensors"),
           "missing: %s", e.msg);
    path_of(p2, sizeof p2, "no/such/dir/x.safetensors");
    EXPECT(dsq_ckpt_write(p2, &m, m.params, NULL, &e) == DSQ_EIO, "unwritable: %s", e.msg);
    be->free(be, dst);
    be->free(be, d3);
    dsq_model_destroy(&m);
    dsq_model_destroy(&m2);
    dsq_model_destroy(&m3);
    dsq_model_destroy(&m4);
}

static void test_state_roundtrip(void) {
    dsq_model m;
    make_model(&m, 16, 0);
    size_t P = m.n_params * 4;
    enum { T = 6 };
    dsq_train_state s = {.step = 12, .updates = 11, .lg_loss_scale = 17.257, .epoch = 2,
                         .pos = 40, .n_ema = 2, .T = T};
    s.params = m.params;
    s.adam_m = be->alloc(be, P);
    s.adam_v = be->alloc(be, P);
    s.ema[0] = be->alloc(be, P);
    s.ema[1] = be->alloc(be, P);
    for (size_t i = 0; i < m.n_params; i++) {
        s.adam_m[i] = (float)i;
        s.adam_v[i] = 0.5f * i;
        s.ema[0][i] = -1.0f * i;
        s.ema[1][i] = 2.0f;
    }
    double hist[T * 10];
    int32_t cnt[T];
    for (int i = 0; i < T * 10; i++) hist[i] = i / 7.0;
    for (int i = 0; i < T; i++) cnt[i] = i;
    s.history = hist;
    s.counts = cnt;
    char p[256];
    path_of(p, sizeof p, "state.safetensors");
    dsq_err e = {0};
    EXPECT(dsq_state_write(p, &m, &s, "{\"a\":1}", &e) == 0, "%s", e.msg);

    dsq_train_state r = {.n_ema = 2, .T = T};
    r.params = be->alloc(be, P);
    r.adam_m = be->alloc(be, P);
    r.adam_v = be->alloc(be, P);
    r.ema[0] = be->alloc(be, P);
    r.ema[1] = be->alloc(be, P);
    double h2[T * 10];
    int32_t c2[T];
    r.history = h2;
    r.counts = c2;
    char *cfg = NULL;
    EXPECT(dsq_state_read(p, &m, &r, &cfg, &e) == 0, "%s", e.msg);
    EXPECT(r.step == 12 && r.epoch == 2 && r.pos == 40, "scalars");
    EXPECT(r.updates == 11 && r.lg_loss_scale == 17.257, "fp16 scalars: %lld %.17g",
           (long long)r.updates, r.lg_loss_scale);
    EXPECT(!memcmp(r.params, m.params, P) && !memcmp(r.adam_m, s.adam_m, P) &&
           !memcmp(r.adam_v, s.adam_v, P) && !memcmp(r.ema[1], s.ema[1], P) &&
           !memcmp(h2, hist, sizeof hist) && !memcmp(c2, cnt, sizeof cnt), "buffers");
    EXPECT(cfg && !strcmp(cfg, "{\"a\":1}"), "config");
    free(cfg);
    s.lg_loss_scale = NAN;  /* not written: reads back as NAN */
    EXPECT(dsq_state_write(p, &m, &s, "{\"a\":1}", &e) == 0, "%s", e.msg);
    EXPECT(dsq_state_read(p, &m, &r, NULL, &e) == 0 && isnan(r.lg_loss_scale), "no scale");
    /* another model, fewer EMA rates, another T, a model file */
    dsq_model m2;
    make_model(&m2, 32, 0);
    EXPECT(dsq_state_read(p, &m2, &r, NULL, &e) == DSQ_EDATA && strstr(e.msg, "params"),
           "other shape: %s", e.msg);
    r.n_ema = 1;
    EXPECT(dsq_state_read(p, &m, &r, NULL, &e) == DSQ_EDATA && strstr(e.msg, "EMA"),
           "EMA count: %s", e.msg);
    r.n_ema = 2;
    r.T = 5;
    EXPECT(dsq_state_read(p, &m, &r, NULL, &e) == DSQ_EDATA && strstr(e.msg, "sampler"),
           "T: %s", e.msg);
    char p2[256];
    path_of(p2, sizeof p2, "model.safetensors");
    EXPECT(dsq_state_read(p2, &m, &r, NULL, &e) == DSQ_EDATA && strstr(e.msg, "not a dsq training"),
           "model file: %s", e.msg);
    float *bufs[] = {s.adam_m, s.adam_v, s.ema[0], s.ema[1], r.params, r.adam_m, r.adam_v,
                     r.ema[0], r.ema[1]};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(be, bufs[i]);
    dsq_model_destroy(&m);
    dsq_model_destroy(&m2);
}

int main(void) {
    be = dsq_backend_cpu();
    if (!mkdtemp(dir)) { printf("FAIL setup: mkdtemp\n"); return 1; }
    RUN_TEST(test_model_roundtrip);
    RUN_TEST(test_state_roundtrip);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) printf("FAIL cleanup\n");
    be->destroy(be);
    TEST_MAIN_END();
}

/* Model checkpoints and training state through the parameter table. */
#include "checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptfile.h"
#include "safetensors.h"

/* A device range as a new host tensor of r (one copy, owned by r). */
static void add_device(dsq_record *r, const dsq_model *m, const char *name, int ndim,
                       const int64_t *shape, const float *src, size_t numel) {
    float *h = xmalloc(numel * sizeof *h + 1);
    m->be->download(m->be, h, src, numel * sizeof *h);
    dsq_record_add_owned(r, name, DSQ_F32, ndim, shape, h);
}

static void add_position_ids(dsq_record *r, const dsq_model *m) {
    int64_t shape[2] = {1, m->cfg.max_pos};
    int64_t *ids = xmalloc((size_t)m->cfg.max_pos * sizeof *ids);
    for (int i = 0; i < m->cfg.max_pos; i++) ids[i] = i;
    dsq_record_add_owned(r, "position_ids", DSQ_I64, 2, shape, ids);
}

int dsq_ckpt_write(const char *path, const dsq_model *m, const float *src,
                   const char *config_json, dsq_err *e) {
    dsq_record r;
    dsq_record_init(&r);
    for (int i = 0; i < m->n_tensors; i++) {
        const dsq_param_info *p = &m->info[i];
        add_device(&r, m, p->name, p->ndim, p->shape, src + p->offset, p->numel);
        if (!strcmp(p->name, "word_embedding.weight"))
            add_device(&r, m, DSQ_MODEL_TIED_NAME, p->ndim, p->shape, src + p->offset, p->numel);
    }
    add_position_ids(&r, m);
    if (config_json) dsq_record_set_meta(&r, "config", config_json);
    int rc = dsq_st_write_file(path, &r, e);
    dsq_record_free(&r);
    return rc;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* The table entry's tensor in r, checked: F32 and the table's shape. */
static const dsq_tensor *find_param(const dsq_record *r, const dsq_param_info *p,
                                    const char *path, dsq_err *e) {
    const dsq_tensor *t = dsq_record_find(r, p->name);
    char want[64], got[64];
    shape_str(want, sizeof want, p->ndim, p->shape);
    if (!t) {
        dsq_err_set(e, DSQ_EDATA, "%s: tensor %s %s is missing (a checkpoint of another model "
                    "configuration?)", path, p->name, want);
        return NULL;
    }
    shape_str(got, sizeof got, t->ndim, t->shape);
    int same = t->ndim == p->ndim;
    for (int k = 0; same && k < p->ndim; k++) same = t->shape[k] == p->shape[k];
    if (!same) {
        dsq_err_set(e, DSQ_EDATA, "%s: tensor %s has shape %s, the model needs %s", path,
                    p->name, got, want);
        return NULL;
    }
    if (t->dtype != DSQ_F32) {
        dsq_err_set(e, DSQ_EDATA, "%s: tensor %s is %s, expected F32", path, p->name,
                    dsq_dtype_name(t->dtype));
        return NULL;
    }
    return t;
}

/* A NaN or infinite weight decodes to nothing useful: refused, naming the
 * tensor and its first such element. */
static int check_finite(const dsq_tensor *t, const char *path, dsq_err *e) {
    size_t n = t->nbytes / sizeof(float);
    const unsigned char *b = t->data;
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, b + i * sizeof v, sizeof v);
        if (!isfinite(v))
            return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s holds a non-finite weight (%g at "
                               "flat index %zu): a diverged or damaged checkpoint", path,
                               t->name, (double)v, i);
    }
    return 0;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, ex = (h >> 10) & 31, man = h & 1023, u;
    if (ex == 31) {
        u = sign | 0x7f800000u | man << 13;
    } else if (ex) {
        u = sign | (ex + 112) << 23 | man << 13;
    } else if (man) {   /* subnormal: normalise */
        int k = 0;
        while (!(man & 1024)) man <<= 1, k++;
        u = sign | (uint32_t)(113 - k) << 23 | (man & 1023) << 13;
    } else {
        u = sign;
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* F16 and BF16 tensors widened to F32 in place (exact). */
static void widen(dsq_record *r) {
    for (int i = 0; i < r->n_tensors; i++) {
        dsq_tensor *t = &r->tensors[i];
        if (t->dtype != DSQ_F16 && t->dtype != DSQ_BF16) continue;
        size_t n = t->nbytes / 2;
        float *f = xmalloc(n * sizeof *f + 1);
        const uint16_t *h = t->data;
        for (size_t k = 0; k < n; k++) {
            uint32_t u = (uint32_t)h[k] << 16;
            if (t->dtype == DSQ_F16) f[k] = half_to_float(h[k]);
            else memcpy(&f[k], &u, sizeof u);
        }
        free(t->data);
        t->data = f;
        t->nbytes = n * sizeof *f;
        t->dtype = DSQ_F32;
    }
}

int dsq_ckpt_read_record(const char *path, dsq_record *r, int *pytorch, dsq_err *e) {
    unsigned char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    dsq_pt_format fmt = dsq_pt_sniff(head, got);
    if (pytorch) *pytorch = (int)fmt;
    int rc = fmt ? dsq_pt_read_file(path, r, NULL, e) : dsq_st_read_file(path, r, e);
    if (!rc) widen(r);
    return rc;
}

/* The reference's EMA layout (dsq_ckpt_read): lm_head.weight's values for
 * word_embedding.weight when the two differ. */
static int apply_untied(dsq_record *r, const char *path, dsq_ckpt_info *info, dsq_err *e) {
    dsq_tensor *w = (dsq_tensor *)dsq_record_find(r, "word_embedding.weight");
    const dsq_tensor *l = dsq_record_find(r, DSQ_MODEL_TIED_NAME);
    if (!w || !l || (l->nbytes == w->nbytes && !memcmp(l->data, w->data, w->nbytes))) return 0;
    if (l->dtype != DSQ_F32 || w->dtype != DSQ_F32 || l->ndim != w->ndim ||
        l->nbytes != w->nbytes || memcmp(l->shape, w->shape, sizeof l->shape[0] * l->ndim))
        return dsq_err_set(e, DSQ_EDATA, "%s: lm_head.weight and word_embedding.weight differ in "
                           "shape or dtype; DiffuSeq ties them (one tensor)", path);
    const float *a = w->data, *b = l->data;
    double d = 0;
    for (size_t k = 0; k < w->nbytes / sizeof(float); k++)
        d = fmax(d, fabs((double)a[k] - (double)b[k]));
    memcpy(w->data, l->data, w->nbytes);
    if (info) info->untied = 1, info->untied_max_diff = d;
    return 0;
}

int dsq_ckpt_read(const char *path, const dsq_model *m, float *dst, dsq_ckpt_info *info,
                  dsq_err *e) {
    dsq_record r;
    dsq_record_init(&r);
    int pt = 0;
    if (info) memset(info, 0, sizeof *info);
    int rc = dsq_ckpt_read_record(path, &r, &pt, e);
    if (info) info->pytorch = pt;
    if (!rc) rc = apply_untied(&r, path, info, e);
    for (int i = 0; i < r.n_tensors && !rc; i++) {
        const char *n = r.tensors[i].name;
        if (!strcmp(n, DSQ_MODEL_TIED_NAME) || !strcmp(n, "position_ids")) continue;
        if (!dsq_model_param(m, n))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tensor %s is not part of this model%s", path, n,
                             !strcmp(n, "mean_embed") ? " (trained with --learned-mean-embed)" : "");
    }
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const dsq_param_info *p = &m->info[i];
        const dsq_tensor *t = find_param(&r, p, path, e);
        if (!t) { rc = e->code; break; }
        if ((rc = check_finite(t, path, e))) break;
        m->be->upload(m->be, dst + p->offset, t->data, t->nbytes);
    }
    dsq_record_free(&r);
    return rc;
}

int dsq_ckpt_read_config(const char *path, char **config_json, int *no_config, dsq_err *e) {
    dsq_record r;
    dsq_record_init(&r);
    if (no_config) *no_config = 0;
    int rc = dsq_ckpt_read_record(path, &r, NULL, e);
    if (rc) return rc;
    const char *c = dsq_record_meta(&r, "config");
    if (!c && no_config) *no_config = 1;
    if (!c) rc = dsq_err_set(e, DSQ_EDATA, "%s: no \"config\" in __metadata__ (not a dsq "
                             "checkpoint?)", path);
    else *config_json = xstrdup(c);
    dsq_record_free(&r);
    return rc;
}

/* ---- training state -------------------------------------------------------- */

static void meta_i64(dsq_record *r, const char *k, int64_t v) {
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    dsq_record_set_meta(r, k, b);
}

int dsq_state_write(const char *path, const dsq_model *m, const dsq_train_state *s,
                    const char *config_json, dsq_err *e) {
    dsq_record r;
    dsq_record_init(&r);
    int64_t np[1] = {(int64_t)m->n_params};
    add_device(&r, m, "params", 1, np, s->params, m->n_params);
    add_device(&r, m, "adam.exp_avg", 1, np, s->adam_m, m->n_params);
    add_device(&r, m, "adam.exp_avg_sq", 1, np, s->adam_v, m->n_params);
    char nm[32];
    for (int i = 0; i < s->n_ema; i++) {
        snprintf(nm, sizeof nm, "ema.%d", i);
        add_device(&r, m, nm, 1, np, s->ema[i], m->n_params);
    }
    int64_t hs[2] = {s->T, 10}, cs[1] = {s->T};
    dsq_record_add(&r, "sampler.history", DSQ_F64, 2, hs, s->history);
    dsq_record_add(&r, "sampler.counts", DSQ_I32, 1, cs, s->counts);
    dsq_record_set_meta(&r, "dsq_kind", "train_state");
    meta_i64(&r, "step", s->step);
    meta_i64(&r, "updates", s->updates);
    if (isfinite(s->lg_loss_scale)) {
        char b[40];
        snprintf(b, sizeof b, "%.17g", s->lg_loss_scale);
        dsq_record_set_meta(&r, "lg_loss_scale", b);
    }
    meta_i64(&r, "epoch", s->epoch);
    meta_i64(&r, "pos", s->pos);
    if (config_json) dsq_record_set_meta(&r, "config", config_json);
    int rc = dsq_st_write_file(path, &r, e);
    dsq_record_free(&r);
    return rc;
}

static int get_i64(const dsq_record *r, const char *k, int64_t *v, const char *path,
                   dsq_err *e) {
    const char *s = dsq_record_meta(r, k);
    char *end;
    if (!s || !*s) return dsq_err_set(e, DSQ_EDATA, "%s: metadata %s missing", path, k);
    long long x = strtoll(s, &end, 10);
    if (*end || x < 0) return dsq_err_set(e, DSQ_EDATA, "%s: metadata %s = '%s'", path, k, s);
    if (dsq_limit_check(DSQ_LIM_COUNTER, k, x, path, e)) return e->code;
    *v = x;
    return 0;
}

/* A flat [n_params] tensor of a state: every value finite, else refused,
 * naming the tensor, the index and the parameter it falls in. */
static int get_flat(const dsq_record *r, const char *name, const dsq_model *m, float *dst,
                    const char *path, dsq_err *e) {
    const dsq_tensor *t = dsq_record_find(r, name);
    if (!t || t->dtype != DSQ_F32 || t->ndim != 1 || (size_t)t->shape[0] != m->n_params)
        return dsq_err_set(e, DSQ_EDATA, "%s: %s missing or not F32 [%zu] (a state of "
                           "another model shape?)", path, name, m->n_params);
    const unsigned char *b = t->data;
    for (size_t i = 0; i < m->n_params; i++) {
        float v;
        memcpy(&v, b + i * sizeof v, sizeof v);
        if (isfinite(v)) continue;
        const char *in = "the alignment padding";
        for (int k = 0; k < m->n_tensors; k++)
            if (i >= m->info[k].offset && i < m->info[k].offset + m->info[k].numel)
                in = m->info[k].name;
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s holds a non-finite value (%g at flat "
                           "index %zu, in %s): a diverged or damaged state; resume from an "
                           "earlier one", path, name, (double)v, i, in);
    }
    m->be->upload(m->be, dst, t->data, t->nbytes);
    return 0;
}

int dsq_state_read(const char *path, const dsq_model *m, dsq_train_state *s,
                   char **config_json, dsq_err *e) {
    dsq_record r;
    dsq_record_init(&r);
    int rc = dsq_st_read_file(path, &r, e);
    if (rc) return rc;
    const char *kind = dsq_record_meta(&r, "dsq_kind");
    if (!kind || strcmp(kind, "train_state")) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: not a dsq training state (dsq_kind %s)", path,
                         kind ? kind : "missing");
        goto out;
    }
    rc = get_i64(&r, "step", &s->step, path, e);
    s->updates = s->step;  /* files from before fp16 training */
    if (!rc && dsq_record_meta(&r, "updates")) rc = get_i64(&r, "updates", &s->updates, path, e);
    if (!rc && s->updates > s->step)
        rc = dsq_err_set(e, DSQ_EDATA, "%s: metadata updates = %" PRId64 " exceeds step = %"
                         PRId64, path, s->updates, s->step);
    s->lg_loss_scale = NAN;
    const char *lg = dsq_record_meta(&r, "lg_loss_scale");
    if (!rc && lg) {
        char *end;
        s->lg_loss_scale = strtod(lg, &end);
        if (*end || !*lg || !isfinite(s->lg_loss_scale))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: metadata lg_loss_scale = '%s'", path, lg);
    }
    rc = rc ? rc : get_i64(&r, "epoch", &s->epoch, path, e);
    rc = rc ? rc : get_i64(&r, "pos", &s->pos, path, e);
    rc = rc ? rc : get_flat(&r, "params", m, s->params, path, e);
    rc = rc ? rc : get_flat(&r, "adam.exp_avg", m, s->adam_m, path, e);
    rc = rc ? rc : get_flat(&r, "adam.exp_avg_sq", m, s->adam_v, path, e);
    char nm[32];
    for (int i = 0; i < s->n_ema && !rc; i++) {
        snprintf(nm, sizeof nm, "ema.%d", i);
        rc = get_flat(&r, nm, m, s->ema[i], path, e);
    }
    snprintf(nm, sizeof nm, "ema.%d", s->n_ema);
    if (!rc && dsq_record_find(&r, nm))
        rc = dsq_err_set(e, DSQ_EDATA, "%s: holds more EMA copies than --ema-rate lists", path);
    if (rc) goto out;
    const dsq_tensor *h = dsq_record_find(&r, "sampler.history");
    const dsq_tensor *c = dsq_record_find(&r, "sampler.counts");
    if (!h || !c || h->dtype != DSQ_F64 || c->dtype != DSQ_I32 || h->ndim != 2 ||
        h->shape[0] != s->T || h->shape[1] != 10 || c->ndim != 1 || c->shape[0] != s->T) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: schedule-sampler state missing or not for %d "
                         "diffusion steps", path, s->T);
        goto out;
    }
    memcpy(s->history, h->data, h->nbytes);
    memcpy(s->counts, c->data, c->nbytes);
    for (size_t i = 0; i < (size_t)s->T * 10; i++)
        if (!isfinite(s->history[i])) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tensor sampler.history holds a non-finite loss "
                             "(%g at [%zu, %zu]): a diverged or damaged state; resume from an "
                             "earlier one", path, s->history[i], i / 10, i % 10);
            goto out;
        }
    for (int t = 0; t < s->T; t++)
        if (s->counts[t] < 0 || s->counts[t] > 10) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: sampler.counts[%d] = %d", path, t, s->counts[t]);
            goto out;
        }
    if (config_json) {
        const char *cj = dsq_record_meta(&r, "config");
        *config_json = xstrdup(cj ? cj : "{}");
    }
out:
    dsq_record_free(&r);
    return rc;
}

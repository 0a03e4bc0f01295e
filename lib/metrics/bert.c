/* BERT encoder: model directory loading and the masked forward (bert.h). */
#include "bert.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bert_layers.h"
#include "layers.h"
#include "safetensors.h"
#include "strutil.h"
#include "util.h"

static int file_exists(const char *dir, const char *name) {
    char *p = dsq_path_join(dir, name);
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

/* Loads dir/name as JSON; *root NULL and 0 when optional and absent. */
static int load_json(const char *dir, const char *name, int optional, json_t **root, dsq_err *e) {
    *root = NULL;
    char *p = dsq_path_join(dir, name);
    FILE *f = fopen(p, "rb");
    if (!f) {
        int err = errno;
        if (optional && err == ENOENT) { free(p); return 0; }
        dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", p, strerror(err));
        free(p);
        return DSQ_EIO;
    }
    json_error_t jerr;
    *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!*root) {
        dsq_err_set(e, DSQ_EDATA, "%s:%d: invalid JSON: %s", p, jerr.line, jerr.text);
        free(p);
        return DSQ_EDATA;
    }
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        dsq_err_set(e, DSQ_EDATA, "%s: not a JSON object", p);
        free(p);
        return DSQ_EDATA;
    }
    free(p);
    return 0;
}

/* An integer config key: required (def < 0) or def when absent. */
static int get_int(json_t *cfg, const char *path, const char *key, long def, long lo, long hi,
                   int *out, dsq_err *e) {
    json_t *v = json_object_get(cfg, key);
    if (!v) {
        if (def < 0) return dsq_err_set(e, DSQ_EDATA, "%s: missing key \"%s\"", path, key);
        *out = (int)def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return dsq_err_set(e, DSQ_EDATA, "%s: \"%s\" must be an integer in [%ld, %ld]", path,
                           key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static const char *get_str(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int read_config(dsq_bert_config *c, const char *dir, dsq_err *e) {
    json_t *cfg;
    int rc = load_json(dir, "config.json", 0, &cfg, e);
    if (rc) return rc;
    char *path = dsq_path_join(dir, "config.json");
    const char *mt = get_str(cfg, "model_type");
    json_t *arch = json_object_get(cfg, "architectures");
    const char *a0 = json_is_array(arch) ? json_string_value(json_array_get(arch, 0)) : NULL;
    if (!mt || strcmp(mt, "bert") != 0) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: unsupported architecture: model_type \"%s\"%s%s%s "
                         "(BERTScore in dsq runs BERT encoders: model_type \"bert\")", path,
                         mt ? mt : "(missing)", a0 ? ", architectures [\"" : "", a0 ? a0 : "",
                         a0 ? "\", ...]" : "");
        goto done;
    }
    if ((rc = get_int(cfg, path, "hidden_size", -1, 1, 1 << 16, &c->H, e)) ||
        (rc = get_int(cfg, path, "num_attention_heads", -1, 1, 1 << 10, &c->nh, e)) ||
        (rc = get_int(cfg, path, "intermediate_size", -1, 1, 1 << 18, &c->I, e)) ||
        (rc = get_int(cfg, path, "num_hidden_layers", -1, 0, 1 << 10, &c->n_layers, e)) ||
        (rc = get_int(cfg, path, "max_position_embeddings", -1, 3, 1 << 20, &c->max_pos, e)) ||
        (rc = get_int(cfg, path, "vocab_size", -1, 1, 1 << 24, &c->vocab, e)) ||
        (rc = get_int(cfg, path, "type_vocab_size", 2, 1, 1 << 10, &c->type_vocab, e)))
        goto done;
    if (c->H % c->nh) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: hidden_size %d is not a multiple of "
                         "num_attention_heads %d", path, c->H, c->nh);
        goto done;
    }
    json_t *eps = json_object_get(cfg, "layer_norm_eps");
    c->ln_eps = 1e-12f;
    if (eps) {
        if (!json_is_number(eps) || !(json_number_value(eps) > 0)) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: \"layer_norm_eps\" must be a positive number", path);
            goto done;
        }
        c->ln_eps = (float)json_number_value(eps);
    }
    const char *act = get_str(cfg, "hidden_act");
    if (json_object_get(cfg, "hidden_act") && (!act || strcmp(act, "gelu") != 0)) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: hidden_act \"%s\" is not supported (only \"gelu\")",
                         path, act ? act : "(not a string)");
        goto done;
    }
    const char *pet = get_str(cfg, "position_embedding_type");
    if (json_object_get(cfg, "position_embedding_type") && (!pet || strcmp(pet, "absolute") != 0)) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: position_embedding_type \"%s\" is not supported "
                         "(only \"absolute\")", path, pet ? pet : "(not a string)");
        goto done;
    }
    const char *nm = get_str(cfg, "_name_or_path");
    if (nm && *nm) {
        snprintf(c->name, sizeof c->name, "%s", nm);
    } else {
        size_t dl = strlen(dir);
        while (dl > 1 && dir[dl - 1] == '/') dl--;
        size_t s = dl;
        while (s > 0 && dir[s - 1] != '/') s--;
        snprintf(c->name, sizeof c->name, "%.*s", (int)(dl - s), dir + s);
    }
    c->max_len = c->max_pos;
done:
    free(path);
    json_decref(cfg);
    return rc;
}

/* The optional tokenizer descriptions must agree with what dsq's
 * tokenizer does: BERT's uncased WordPiece. */
static int check_tokenizer(dsq_bert_config *c, const char *dir, dsq_err *e) {
    json_t *tc;
    int rc = load_json(dir, "tokenizer_config.json", 1, &tc, e);
    if (rc) return rc;
    char *path = dsq_path_join(dir, "tokenizer_config.json");
    if (tc) {
        const char *cls = get_str(tc, "tokenizer_class");
        json_t *lc = json_object_get(tc, "do_lower_case");
        json_t *sa = json_object_get(tc, "strip_accents");
        json_t *cc = json_object_get(tc, "tokenize_chinese_chars");
        json_t *ml = json_object_get(tc, "model_max_length");
        if (cls && strcmp(cls, "BertTokenizer") != 0 && strcmp(cls, "BertTokenizerFast") != 0)
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tokenizer_class \"%s\" is not supported "
                             "(only BERT WordPiece: BertTokenizer)", path, cls);
        else if (lc && !json_is_true(lc))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: do_lower_case is false: only uncased WordPiece "
                             "tokenizers are supported", path);
        else if (sa && !json_is_null(sa) && !json_is_true(sa))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: strip_accents is false: not supported", path);
        else if (cc && !json_is_true(cc))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tokenize_chinese_chars is false: not supported",
                             path);
        else if (ml && json_is_number(ml) && json_number_value(ml) >= 3 &&
                 json_number_value(ml) < c->max_pos)
            c->max_len = (int)json_number_value(ml);
    }
    json_decref(tc);
    free(path);
    if (rc) return rc;
    json_t *tj;
    if ((rc = load_json(dir, "tokenizer.json", 1, &tj, e))) return rc;
    if (tj) {
        const char *type = get_str(json_object_get(tj, "model"), "type");
        if (type && strcmp(type, "WordPiece") != 0) {
            path = dsq_path_join(dir, "tokenizer.json");
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tokenizer model \"%s\" is not WordPiece", path,
                             type);
            free(path);
        }
        json_decref(tj);
        if (rc) return rc;
    }
    if (!file_exists(dir, "vocab.txt")) {
        const char *other = file_exists(dir, "merges.txt") ? " (merges.txt: a BPE tokenizer)"
                          : file_exists(dir, "spiece.model") ||
                                    file_exists(dir, "sentencepiece.bpe.model")
                              ? " (a SentencePiece tokenizer)" : "";
        path = dsq_path_join(dir, "vocab.txt");
        rc = dsq_err_set(e, DSQ_EIO, "%s: missing: a WordPiece vocabulary is required%s", path,
                         other);
        free(path);
    }
    return rc;
}

/* ---- weights ------------------------------------------------------------ */

static float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 31, mant = h & 1023, u;
    if (ex == 0) {
        float f = ldexpf((float)mant, -24);
        return s ? -f : f;
    }
    if (ex == 31) u = s | 0x7f800000u | (mant << 13);
    else u = s | ((ex + 112) << 23) | (mant << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The tensor `name` (with or without "bert.", LayerNorm weight/bias also
 * as gamma/beta) of the expected shape, converted into dst. */
static int take(const dsq_record *r, const char *path, const char *name, int64_t s0, int64_t s1,
                float *dst, dsq_err *e) {
    static const char *prefixes[] = {"", "bert."};
    char nm[256], alt[256];
    const dsq_tensor *t = NULL;
    snprintf(alt, sizeof alt, "%s", name);
    size_t n = strlen(alt);
    if (n >= 16 && strcmp(alt + n - 16, "LayerNorm.weight") == 0) strcpy(alt + n - 6, "gamma");
    else if (n >= 14 && strcmp(alt + n - 14, "LayerNorm.bias") == 0) strcpy(alt + n - 4, "beta");
    for (int p = 0; p < 2 && !t; p++) {
        snprintf(nm, sizeof nm, "%s%s", prefixes[p], name);
        t = dsq_record_find(r, nm);
        if (!t) {
            snprintf(nm, sizeof nm, "%s%s", prefixes[p], alt);
            t = dsq_record_find(r, nm);
        }
    }
    if (!t)
        return dsq_err_set(e, DSQ_EDATA, "%s: missing tensor %s (not a BertModel checkpoint?)",
                           path, name);
    int ok = s1 ? t->ndim == 2 && t->shape[0] == s0 && t->shape[1] == s1
                : t->ndim == 1 && t->shape[0] == s0;
    if (!ok) {
        if (s1)
            return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s: expected shape [%lld, %lld] from "
                               "config.json", path, t->name, (long long)s0, (long long)s1);
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s: expected shape [%lld] from config.json",
                           path, t->name, (long long)s0);
    }
    size_t cnt = (size_t)s0 * (size_t)(s1 ? s1 : 1);
    if (t->dtype == DSQ_F32) {
        memcpy(dst, t->data, cnt * 4);
    } else if (t->dtype == DSQ_F16 || t->dtype == DSQ_BF16) {
        const uint16_t *h = t->data;
        for (size_t i = 0; i < cnt; i++) {
            if (t->dtype == DSQ_F16) {
                dst[i] = half_to_float(h[i]);
            } else {
                uint32_t u = (uint32_t)h[i] << 16;
                memcpy(&dst[i], &u, 4);
            }
        }
    } else {
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s: dtype %s (F32, F16 or BF16 expected)",
                           path, t->name, dsq_dtype_name(t->dtype));
    }
    return 0;
}


/* Where each tensor lives in the one parameter allocation: embeddings,
 * then per layer the fields of dsq_bert_layer, each 16-float aligned. */
typedef struct {
    size_t wemb, pemb, temb, elnw, elnb, layers, per_layer, total;
    size_t at[16];   /* offsets within a layer, in the order of LAYER_TENSORS */
} bert_layout;

/* A layer's tensors; rows/cols: 1 = H, 2 = I, 0 = none. */
static const struct { const char *suffix; int rows, cols; } LAYER_TENSORS[16] = {
    {"attention.self.query.weight", 1, 1}, {"attention.self.key.weight", 1, 1},
    {"attention.self.value.weight", 1, 1}, {"attention.self.query.bias", 1, 0},
    {"attention.self.key.bias", 1, 0},     {"attention.self.value.bias", 1, 0},
    {"attention.output.dense.weight", 1, 1}, {"attention.output.dense.bias", 1, 0},
    {"attention.output.LayerNorm.weight", 1, 0}, {"attention.output.LayerNorm.bias", 1, 0},
    {"intermediate.dense.weight", 2, 1},   {"intermediate.dense.bias", 2, 0},
    {"output.dense.weight", 1, 2},         {"output.dense.bias", 1, 0},
    {"output.LayerNorm.weight", 1, 0},     {"output.LayerNorm.bias", 1, 0},
};

static bert_layout layout_of(const dsq_bert_config *c) {
    size_t H = c->H, I = c->I, o = 0;
    bert_layout y;
    y.wemb = o; o += dsq_align16((size_t)c->vocab * H);
    y.pemb = o; o += dsq_align16((size_t)c->max_pos * H);
    y.temb = o; o += dsq_align16((size_t)c->type_vocab * H);
    y.elnw = o; o += dsq_align16(H);
    y.elnb = o; o += dsq_align16(H);
    y.layers = o;
    /* q, k, v weights adjacent ([3H, H]); likewise their biases. */
    size_t *at = y.at, l = 0;
    at[0] = l; at[1] = l + H * H; at[2] = l + 2 * H * H; l += dsq_align16(3 * H * H);
    at[3] = l; at[4] = l + H; at[5] = l + 2 * H; l += dsq_align16(3 * H);
    for (int k = 6; k < 16; k++) {
        at[k] = l;
        size_t rows = LAYER_TENSORS[k].rows == 2 ? I : H;
        size_t cols = LAYER_TENSORS[k].cols == 0 ? 1 : LAYER_TENSORS[k].cols == 2 ? I : H;
        l += dsq_align16(rows * cols);
    }
    y.per_layer = l;
    y.total = o + l * (size_t)c->n_layers;
    return y;
}

/* The WordPiece vocabulary of `dir` and the special ids BERTScore uses. */
static int load_vocab(dsq_bert *m, const char *dir, dsq_err *e) {
    char *vpath = dsq_path_join(dir, "vocab.txt");
    int rc = dsq_tokenizer_load(&m->tok, vpath, DSQ_TOK_WORDPIECE, e);
    free(vpath);
    if (rc) return rc;
    if (dsq_tokenizer_vocab_size(m->tok) > m->cfg.vocab)
        return dsq_err_set(e, DSQ_EDATA, "%s/vocab.txt: %d tokens, more than config.json's "
                           "vocab_size %d", dir, (int)dsq_tokenizer_vocab_size(m->tok),
                           m->cfg.vocab);
    dsq_special_ids sp = dsq_tokenizer_specials(m->tok);
    m->cls_id = sp.start;
    m->sep_id = sp.end;
    m->pad_id = sp.pad;
    return 0;
}

/* Every tensor of `dir`/model.safetensors into `host`, laid out as `y`. */
static int read_weights(const dsq_bert_config *c, const char *dir, const bert_layout *y,
                        float *host, dsq_err *e) {
    char *wpath = dsq_path_join(dir, "model.safetensors");
    dsq_record r;
    dsq_record_init(&r);
    int rc = dsq_st_read_file(wpath, &r, e);
    int64_t H = c->H, I = c->I;
    if (!rc) rc = take(&r, wpath, "embeddings.word_embeddings.weight", c->vocab, H,
                       host + y->wemb, e);
    if (!rc) rc = take(&r, wpath, "embeddings.position_embeddings.weight", c->max_pos, H,
                       host + y->pemb, e);
    if (!rc) rc = take(&r, wpath, "embeddings.token_type_embeddings.weight", c->type_vocab, H,
                       host + y->temb, e);
    if (!rc) rc = take(&r, wpath, "embeddings.LayerNorm.weight", H, 0, host + y->elnw, e);
    if (!rc) rc = take(&r, wpath, "embeddings.LayerNorm.bias", H, 0, host + y->elnb, e);
    char nm[160];
    for (int l = 0; l < c->n_layers && !rc; l++) {
        float *p = host + y->layers + y->per_layer * (size_t)l;
        for (int k = 0; k < 16 && !rc; k++) {
            snprintf(nm, sizeof nm, "encoder.layer.%d.%s", l, LAYER_TENSORS[k].suffix);
            int64_t s0 = LAYER_TENSORS[k].rows == 2 ? I : H;
            int64_t s1 = LAYER_TENSORS[k].cols == 0 ? 0 : LAYER_TENSORS[k].cols == 2 ? I : H;
            rc = take(&r, wpath, nm, s0, s1, p + y->at[k], e);
        }
    }
    dsq_record_free(&r);
    free(wpath);
    return rc;
}

/* The model's pointers into its device allocation, laid out as `y`. */
static void place_params(dsq_bert *m, const bert_layout *y) {
    m->wemb = m->params + y->wemb;
    m->pemb = m->params + y->pemb;
    m->temb = m->params + y->temb;
    m->elnw = m->params + y->elnw;
    m->elnb = m->params + y->elnb;
    m->layers = xcalloc(m->cfg.n_layers ? m->cfg.n_layers : 1, sizeof *m->layers);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        float *p = m->params + y->layers + y->per_layer * (size_t)l;
        const size_t *at = y->at;
        dsq_bert_layer *L = &m->layers[l];
        L->qkvw = p + at[0];
        L->qkvb = p + at[3];
        L->ow = p + at[6];
        L->ob = p + at[7];
        L->ln1w = p + at[8];
        L->ln1b = p + at[9];
        L->fcw = p + at[10];
        L->fcb = p + at[11];
        L->pw = p + at[12];
        L->pb = p + at[13];
        L->ln2w = p + at[14];
        L->ln2b = p + at[15];
    }
}

int dsq_bert_load(dsq_bert *m, const char *dir, dsq_backend *be, dsq_err *e) {
    memset(m, 0, sizeof *m);
    m->be = be;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dsq_err_set(e, DSQ_EIO, "%s: not a model directory (config.json, "
                           "model.safetensors, vocab.txt)", dir);
    if (!be->attention_masked_fwd)
        return dsq_err_set(e, DSQ_EFAIL, "backend %s has no masked attention (BERTScore)",
                           be->name);
    int rc = read_config(&m->cfg, dir, e);
    if (!rc) rc = check_tokenizer(&m->cfg, dir, e);
    if (!rc) rc = load_vocab(m, dir, e);
    if (rc) {
        dsq_bert_free(m);
        return rc;
    }
    bert_layout y = layout_of(&m->cfg);
    float *host = xcalloc(y.total ? y.total : 1, sizeof *host);
    rc = read_weights(&m->cfg, dir, &y, host, e);
    if (rc) {
        free(host);
        dsq_bert_free(m);
        return rc;
    }
    m->params = be->alloc(be, y.total * sizeof(float));
    be->upload(be, m->params, host, y.total * sizeof(float));
    free(host);
    place_params(m, &y);
    return 0;
}

void dsq_bert_free(dsq_bert *m) {
    if (m->tok) dsq_tokenizer_free(m->tok);
    if (m->params) m->be->free(m->be, m->params);
    if (m->be) dsq_bert_ws_free(m, &m->ws);
    free(m->layers);
    memset(m, 0, sizeof *m);
}

int dsq_bert_default_layer(const char *name) {
    for (size_t i = 0; i < sizeof dsq_bert_layer_table / sizeof dsq_bert_layer_table[0]; i++)
        if (strcmp(dsq_bert_layer_table[i].name, name) == 0) return dsq_bert_layer_table[i].layer;
    return -1;
}

int dsq_bert_encode_text(const dsq_bert *m, const char *s, size_t n, dsq_ids *out, dsq_err *e) {
    dsq_span sp = dsq_py_strip(s, n);
    out->n = 0;
    int rc = dsq_tokenizer_encode(m->tok, sp.s, sp.len, out, e);
    if (rc) return rc;
    size_t max = (size_t)m->cfg.max_len;
    if (out->n > max) {  /* keep [CLS] + the first max-2 tokens, then [SEP] */
        out->ids[max - 1] = m->sep_id;
        out->n = max;
    }
    return 0;
}

/* ---- forward -------------------------------------------------------------- */

void dsq_bert_ws_free(const dsq_bert *m, dsq_bert_ws *ws) {
    if (ws->acts) m->be->free(m->be, ws->acts);
    memset(ws, 0, sizeof *ws);
}

/* Grows the activations to hold B sequences of L positions (sized by
 * positions, so batches of the same token count reuse them). */
static void reserve(const dsq_bert *m, dsq_bert_ws *w, int B, int L) {
    size_t N = (size_t)B * L;
    if (N <= w->capN && B <= w->capB && L <= w->capL) return;
    dsq_backend *be = m->be;
    if (w->acts) be->free(be, w->acts);
    if (B > w->capB) w->capB = B;
    if (L > w->capL) w->capL = L;
    if (N > w->capN) w->capN = N;
    N = w->capN;
    size_t H = m->cfg.H, I = m->cfg.I;
    size_t zl = (size_t)(w->capB > w->capL ? w->capB : w->capL) * H;
    size_t sizes[] = {N * H, N * H, 3 * N * H, N * H, N * I, N, N, N, (size_t)w->capB * H, zl, N};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += dsq_align16(sizes[i]);
    w->acts = be->alloc(be, total * sizeof(float));
    float *p = w->acts;
    float **dst[] = {&w->h, &w->t, &w->qkv, &w->ctx, &w->fc, &w->mean, &w->rstd, &w->mask,
                     &w->typerows, &w->zeros};
    for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++) {
        *dst[i] = p;
        p += dsq_align16(sizes[i]);
    }
    w->ids = (int32_t *)p;  /* N int32 in the last slot (float-sized) */
    /* B copies of token-type row 0 (bert_score passes no token_type_ids). */
    for (int b = 0; b < w->capB; b++) be->copy(be, w->typerows + (size_t)b * H, m->temb, H * 4);
}

/* Thread-count independent where the backend offers it; act 1: GELU. */
static void linear(dsq_backend *be, float *out, const float *inp, const float *w,
                   const float *b, int N, int C, int OC, int act) {
    if (be->linear_fixed_fwd) {
        be->linear_fixed_fwd(be, out, inp, w, b, N, C, OC, act);
        return;
    }
    layer_linear_fwd(be, out, inp, w, b, N, C, OC);
    if (act == 1) be->gelu_fwd(be, out, out, (size_t)N * OC);
}

void dsq_bert_forward(dsq_bert *m, const int32_t *ids, const int *lens, int B, int L,
                      int layers, float *out, float *all) {
    dsq_bert_forward_ws(m, &m->ws, ids, lens, B, L, layers, out, all);
}

void dsq_bert_forward_ws(const dsq_bert *m, dsq_bert_ws *w, const int32_t *ids,
                         const int *lens, int B, int L, int layers, float *out, float *all) {
    dsq_backend *be = m->be;
    const dsq_bert_config *c = &m->cfg;
    DSQ_CHECK(layers >= 0 && layers <= c->n_layers && L <= c->max_pos && B > 0 && L > 0);
    reserve(m, w, B, L);
    int N = B * L, H = c->H, I = c->I;
    size_t NH = (size_t)N * H;
    int32_t *hid = xmalloc((size_t)N * sizeof *hid);
    float *hmask = xmalloc((size_t)N * sizeof *hmask);
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            int real = l < lens[b];
            hid[(size_t)b * L + l] = real ? ids[(size_t)b * L + l] : m->pad_id;
            hmask[(size_t)b * L + l] = real ? 1.0f : 0.0f;
        }
    be->upload(be, w->ids, hid, (size_t)N * sizeof *hid);
    be->upload(be, w->mask, hmask, (size_t)N * sizeof *hmask);
    free(hid);
    free(hmask);
    /* (word + token type) + position, in BertEmbeddings' order: two passes
     * of add_time_pos with zero operands keep that association. */
    be->embedding_fwd(be, w->t, w->ids, m->wemb, N, H, c->vocab);
    be->add_time_pos_fwd(be, w->t, w->t, w->typerows, w->zeros, B, L, H);
    be->add_time_pos_fwd(be, w->t, w->t, w->zeros, m->pemb, B, L, H);
    be->layernorm_fwd(be, w->h, w->mean, w->rstd, w->t, m->elnw, m->elnb, N, H, c->ln_eps);
    if (all) be->download(be, all, w->h, NH * 4);
    for (int l = 0; l < layers; l++) {
        const dsq_bert_layer *lw = &m->layers[l];
        linear(be, w->qkv, w->h, lw->qkvw, lw->qkvb, N, H, 3 * H, 0);
        be->attention_masked_fwd(be, w->ctx, w->qkv, w->mask, B, L, c->nh, H);
        linear(be, w->t, w->ctx, lw->ow, lw->ob, N, H, H, 0);
        be->add(be, w->t, w->t, w->h, NH);
        be->layernorm_fwd(be, w->h, w->mean, w->rstd, w->t, lw->ln1w, lw->ln1b, N, H, c->ln_eps);
        linear(be, w->fc, w->h, lw->fcw, lw->fcb, N, H, I, 1);
        linear(be, w->t, w->fc, lw->pw, lw->pb, N, I, H, 0);
        be->add(be, w->t, w->t, w->h, NH);
        be->layernorm_fwd(be, w->h, w->mean, w->rstd, w->t, lw->ln2w, lw->ln2b, N, H, c->ln_eps);
        if (all) be->download(be, all + (size_t)(l + 1) * NH, w->h, NH * 4);
    }
    be->download(be, out, w->h, NH * 4);
}

/* BERT-family encoder: weights and the masked forward (bert.h); the
 * directory's config and tokenizer are read by bert_config.c. */
#include "bert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bert_internal.h"
#include "bert_layers.h"
#include "layers.h"
#include "safetensors.h"
#include "strutil.h"
#include "util.h"

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

/* The tensor `name` (with or without "bert.", "roberta." or "deberta.",
 * LayerNorm weight/bias also as gamma/beta) of the expected shape,
 * converted into dst. */
static int take(const dsq_record *r, const char *path, const char *name, int64_t s0, int64_t s1,
                float *dst, dsq_err *e) {
    static const char *prefixes[] = {"", "bert.", "roberta.", "deberta."};
    char nm[256], alt[256];
    const dsq_tensor *t = NULL;
    snprintf(alt, sizeof alt, "%s", name);
    size_t n = strlen(alt);
    if (n >= 16 && strcmp(alt + n - 16, "LayerNorm.weight") == 0) strcpy(alt + n - 6, "gamma");
    else if (n >= 14 && strcmp(alt + n - 14, "LayerNorm.bias") == 0) strcpy(alt + n - 4, "beta");
    for (int p = 0; p < 4 && !t; p++) {
        snprintf(nm, sizeof nm, "%s%s", prefixes[p], name);
        t = dsq_record_find(r, nm);
        if (!t) {
            snprintf(nm, sizeof nm, "%s%s", prefixes[p], alt);
            t = dsq_record_find(r, nm);
        }
    }
    if (!t)
        return dsq_err_set(e, DSQ_EDATA, "%s: missing tensor %s (not a checkpoint of the "
                           "config's model_type?)", path, name);
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
 * then per layer the fields of dsq_bert_layer, each 16-float aligned;
 * absent tensors (no position / type embeddings, no relative terms) take
 * no room. */
typedef struct {
    size_t wemb, pemb, temb, elnw, elnb, rel, layers, per_layer, total;
    size_t at[19];   /* offsets within a layer: LAYER_TENSORS, then pkw, pqw, pqb */
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
    y.pemb = o; o += c->abs_pos ? dsq_align16((size_t)c->max_pos * H) : 0;
    y.temb = o; o += dsq_align16((size_t)c->type_vocab * H);
    y.elnw = o; o += dsq_align16(H);
    y.elnb = o; o += dsq_align16(H);
    y.rel = o; o += dsq_align16((size_t)2 * c->max_rel * H);
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
    at[16] = l; l += c->c2p ? dsq_align16(H * H) : 0;
    at[17] = l; l += c->p2c ? dsq_align16(H * H) : 0;
    at[18] = l; l += c->p2c ? dsq_align16(H) : 0;
    y.per_layer = l;
    y.total = o + l * (size_t)c->n_layers;
    return y;
}

/* DeBERTa's attention.self tensors of layer `pre` into p: in_proj [3H, H],
 * whose rows hold per head its q, k, v rows (h * 3hs ...), reordered to
 * BERT's [q; k; v]; q_bias and v_bias as the q and v biases (k has none);
 * pos_proj and pos_q_proj as the config's terms need them. */
static int take_deberta_attn(const dsq_record *r, const char *path, const char *pre,
                             const dsq_bert_config *c, const size_t *at, float *p, dsq_err *e) {
    int64_t H = c->H, hs = H / c->nh;
    char nm[200];
    float *tmp = xmalloc((size_t)3 * H * H * sizeof *tmp);
    snprintf(nm, sizeof nm, "%sattention.self.in_proj.weight", pre);
    int rc = take(r, path, nm, 3 * H, H, tmp, e);
    for (int64_t h = 0; h < c->nh && !rc; h++)
        for (int part = 0; part < 3; part++)
            memcpy(p + at[0] + (size_t)(part * H + h * hs) * H,
                   tmp + (size_t)(h * 3 * hs + part * hs) * H, (size_t)(hs * H) * sizeof *tmp);
    free(tmp);
    snprintf(nm, sizeof nm, "%sattention.self.q_bias", pre);
    if (!rc) rc = take(r, path, nm, H, 0, p + at[3], e);
    snprintf(nm, sizeof nm, "%sattention.self.v_bias", pre);
    if (!rc) rc = take(r, path, nm, H, 0, p + at[5], e);
    snprintf(nm, sizeof nm, "%sattention.self.pos_proj.weight", pre);
    if (!rc && c->c2p) rc = take(r, path, nm, H, H, p + at[16], e);
    snprintf(nm, sizeof nm, "%sattention.self.pos_q_proj.weight", pre);
    if (!rc && c->p2c) rc = take(r, path, nm, H, H, p + at[17], e);
    snprintf(nm, sizeof nm, "%sattention.self.pos_q_proj.bias", pre);
    if (!rc && c->p2c) rc = take(r, path, nm, H, 0, p + at[18], e);
    return rc;
}

/* Every tensor of `dir`/model.safetensors into `host`, laid out as `y`. */
static int read_weights(const dsq_bert_config *c, const char *dir, const bert_layout *y,
                        float *host, dsq_err *e) {
    char *wpath = dsq_path_join(dir, "model.safetensors");
    dsq_record r;
    dsq_record_init(&r);
    int rc = dsq_st_read_file(wpath, &r, e);
    int64_t H = c->H, I = c->I;
    int deb = c->arch == DSQ_BERT_ARCH_DEBERTA;
    if (!rc) rc = take(&r, wpath, "embeddings.word_embeddings.weight", c->vocab, H,
                       host + y->wemb, e);
    if (!rc && c->abs_pos)
        rc = take(&r, wpath, "embeddings.position_embeddings.weight", c->max_pos, H,
                  host + y->pemb, e);
    if (!rc && c->type_vocab)
        rc = take(&r, wpath, "embeddings.token_type_embeddings.weight", c->type_vocab, H,
                  host + y->temb, e);
    if (!rc) rc = take(&r, wpath, "embeddings.LayerNorm.weight", H, 0, host + y->elnw, e);
    if (!rc) rc = take(&r, wpath, "embeddings.LayerNorm.bias", H, 0, host + y->elnb, e);
    if (!rc && c->max_rel)
        rc = take(&r, wpath, "encoder.rel_embeddings.weight", 2 * (int64_t)c->max_rel, H,
                  host + y->rel, e);
    char nm[160], pre[64];
    for (int l = 0; l < c->n_layers && !rc; l++) {
        float *p = host + y->layers + y->per_layer * (size_t)l;
        snprintf(pre, sizeof pre, "encoder.layer.%d.", l);
        if (deb) rc = take_deberta_attn(&r, wpath, pre, c, y->at, p, e);
        for (int k = deb ? 6 : 0; k < 16 && !rc; k++) {
            snprintf(nm, sizeof nm, "%s%s", pre, LAYER_TENSORS[k].suffix);
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
    const dsq_bert_config *c = &m->cfg;
    m->wemb = m->params + y->wemb;
    m->pemb = c->abs_pos ? m->params + y->pemb : NULL;
    m->temb = c->type_vocab ? m->params + y->temb : NULL;
    m->elnw = m->params + y->elnw;
    m->elnb = m->params + y->elnb;
    m->rel = c->max_rel ? m->params + y->rel : NULL;
    m->layers = xcalloc(c->n_layers ? c->n_layers : 1, sizeof *m->layers);
    for (int l = 0; l < c->n_layers; l++) {
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
        L->pkw = c->c2p ? p + at[16] : NULL;
        L->pqw = c->p2c ? p + at[17] : NULL;
        L->pqb = c->p2c ? p + at[18] : NULL;
    }
}

int dsq_bert_load(dsq_bert *m, const char *dir, dsq_backend *be, dsq_err *e) {
    memset(m, 0, sizeof *m);
    m->be = be;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dsq_err_set(e, DSQ_EIO, "%s: not a model directory (config.json, "
                           "model.safetensors, tokenizer files)", dir);
    if (!be->attention_masked_fwd)
        return dsq_err_set(e, DSQ_EFAIL, "backend %s has no masked attention (BERTScore)",
                           be->name);
    int rc = dsq_bert_read_config(&m->cfg, dir, e);
    if (!rc && (m->cfg.c2p || m->cfg.p2c) && !be->attention_rel_fwd)
        rc = dsq_err_set(e, DSQ_EFAIL, "backend %s has no relative attention (DeBERTa)",
                         be->name);
    if (!rc) rc = dsq_bert_load_tokenizer(&m->cfg, dir, &m->tok, e);
    if (!rc) {
        dsq_special_ids sp = dsq_tokenizer_specials(m->tok);
        m->cls_id = sp.start;
        m->sep_id = sp.end;
        m->pad_id = sp.pad >= 0 ? sp.pad : 0;
    }
    if (rc) {
        dsq_bert_free(m);
        return rc;
    }
    bert_layout y = layout_of(&m->cfg);
    /* The CPU backend's memory is the host's: the weights are read in
     * place, so that a 3 GB model does not need a third copy at its peak
     * (file tensors, host layout, device layout). */
    int direct = strcmp(be->name, "cpu") == 0;
    size_t bytes = (y.total ? y.total : 1) * sizeof(float);
    m->params = be->alloc(be, bytes);
    float *host = direct ? m->params : xcalloc(y.total ? y.total : 1, sizeof *host);
    rc = read_weights(&m->cfg, dir, &y, host, e);
    if (!rc && !direct) be->upload(be, m->params, host, y.total * sizeof(float));
    if (!direct) free(host);
    if (rc) {
        dsq_bert_free(m);
        return rc;
    }
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
    size_t n = sizeof dsq_bert_layer_table / sizeof dsq_bert_layer_table[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(dsq_bert_layer_table[i].name, name) == 0) return dsq_bert_layer_table[i].layer;
    /* A clone's directory name: the part after the organisation, when one
     * entry alone has it. */
    int found = -1, count = 0;
    for (size_t i = 0; i < n && !strchr(name, '/'); i++) {
        const char *slash = strchr(dsq_bert_layer_table[i].name, '/');
        if (slash && strcmp(slash + 1, name) == 0) {
            found = dsq_bert_layer_table[i].layer;
            count++;
        }
    }
    return count == 1 ? found : -1;
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
    size_t R = m->cfg.max_rel ? (size_t)2 * w->capL * H : 0;
    size_t sizes[] = {N * H, N * H, 3 * N * H, N * H, N * I, N,  N, N,
                      (size_t)w->capB * H, zl, R, R, N, N};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += dsq_align16(sizes[i]);
    w->acts = be->alloc(be, total * sizeof(float));
    float *p = w->acts;
    float **dst[] = {&w->h, &w->t, &w->qkv, &w->ctx, &w->fc, &w->mean, &w->rstd, &w->mask,
                     &w->typerows, &w->zeros, &w->pk, &w->pq};
    for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++) {
        *dst[i] = p;
        p += dsq_align16(sizes[i]);
    }
    w->ids = (int32_t *)p;  /* N int32 each in the last two slots (float-sized) */
    w->pos = (int32_t *)(p + dsq_align16(N));
    /* B copies of token-type row 0 (bert_score passes no token_type_ids). */
    if (m->temb)
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

/* Token ids (pad beyond lens), the key mask and the position ids to the
 * device: positions l (BERT, DeBERTa) or, for RoBERTa, pad_idx + the count
 * of non-pad tokens so far, pad_idx for pad tokens (HuggingFace's
 * create_position_ids_from_input_ids). */
static void upload_inputs(const dsq_bert *m, dsq_bert_ws *w, const int32_t *ids,
                          const int *lens, int B, int L) {
    size_t N = (size_t)B * L;
    int32_t *hid = xmalloc(N * sizeof *hid), *hpos = xmalloc(N * sizeof *hpos);
    float *hmask = xmalloc(N * sizeof *hmask);
    int roberta = m->cfg.arch == DSQ_BERT_ARCH_ROBERTA, pad = m->cfg.pad_idx;
    for (int b = 0; b < B; b++) {
        int count = 0;
        for (int l = 0; l < L; l++) {
            size_t k = (size_t)b * L + l;
            int real = l < lens[b];
            hid[k] = real ? ids[k] : m->pad_id;
            hmask[k] = real ? 1.0f : 0.0f;
            if (!roberta) hpos[k] = l;
            else hpos[k] = real && hid[k] != pad ? pad + ++count : pad;
        }
    }
    dsq_backend *be = m->be;
    be->upload(be, w->ids, hid, N * sizeof *hid);
    be->upload(be, w->pos, hpos, N * sizeof *hpos);
    be->upload(be, w->mask, hmask, N * sizeof *hmask);
    free(hid);
    free(hpos);
    free(hmask);
}

/* The embedding block into w->h: word + token type + position (BERT,
 * RoBERTa: BertEmbeddings' order) or word + position + token type
 * (DeBERTa), those the model has, then LayerNorm. */
static void embed(const dsq_bert *m, dsq_bert_ws *w, int B, int L) {
    dsq_backend *be = m->be;
    const dsq_bert_config *c = &m->cfg;
    int N = B * L, H = c->H;
    size_t NH = (size_t)N * H;
    int deb = c->arch == DSQ_BERT_ARCH_DEBERTA;
    be->embedding_fwd(be, w->t, w->ids, m->wemb, N, H, c->vocab);
    for (int step = 0; step < 2; step++) {
        if ((step == 0) != deb && m->temb)  /* type row 0: add_time_pos with zero positions */
            be->add_time_pos_fwd(be, w->t, w->t, w->typerows, w->zeros, B, L, H);
        if ((step == 0) == deb && m->pemb) {
            be->embedding_fwd(be, w->ctx, w->pos, m->pemb, N, H, c->max_pos);
            be->add(be, w->t, w->t, w->ctx, NH);
        }
    }
    be->layernorm_fwd(be, w->h, w->mean, w->rstd, w->t, m->elnw, m->elnb, N, H, c->ln_eps);
}

/* Self-attention of layer lw into w->ctx: BERT's, or DeBERTa's with the
 * relative terms of the S = min(L, max_rel) distances either side (the
 * rel_embeddings window HuggingFace uses; rows beyond it clamp to its
 * ends). */
static void attention(const dsq_bert *m, dsq_bert_ws *w, const dsq_bert_layer *lw, int B,
                      int L) {
    dsq_backend *be = m->be;
    const dsq_bert_config *c = &m->cfg;
    int H = c->H;
    if (!lw->pkw && !lw->pqw) {
        be->attention_masked_fwd(be, w->ctx, w->qkv, w->mask, B, L, c->nh, H);
        return;
    }
    int S = L < c->max_rel ? L : c->max_rel;
    const float *win = m->rel + (size_t)(c->max_rel - S) * H;
    if (lw->pkw) linear(be, w->pk, win, lw->pkw, NULL, 2 * S, H, H, 0);
    if (lw->pqw) linear(be, w->pq, win, lw->pqw, lw->pqb, 2 * S, H, H, 0);
    be->attention_rel_fwd(be, w->ctx, w->qkv, lw->pkw ? w->pk : NULL, lw->pqw ? w->pq : NULL,
                          w->mask, B, L, c->nh, H, S);
}

void dsq_bert_forward_ws(const dsq_bert *m, dsq_bert_ws *w, const int32_t *ids,
                         const int *lens, int B, int L, int layers, float *out, float *all) {
    dsq_backend *be = m->be;
    const dsq_bert_config *c = &m->cfg;
    DSQ_CHECK(layers >= 0 && layers <= c->n_layers && B > 0 && L > 0);
    DSQ_CHECK(!c->abs_pos || L + (c->arch == DSQ_BERT_ARCH_ROBERTA ? c->pad_idx + 1 : 0) <=
                                 c->max_pos);
    reserve(m, w, B, L);
    int N = B * L, H = c->H, I = c->I;
    size_t NH = (size_t)N * H;
    upload_inputs(m, w, ids, lens, B, L);
    embed(m, w, B, L);
    if (all) be->download(be, all, w->h, NH * 4);
    for (int l = 0; l < layers; l++) {
        const dsq_bert_layer *lw = &m->layers[l];
        linear(be, w->qkv, w->h, lw->qkvw, lw->qkvb, N, H, 3 * H, 0);
        attention(m, w, lw, B, L);
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

/* The DiffuSeq network: parameter table, activation layout, forward and
 * hand-written backward (doc/model-and-training.md §2). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layers.h"
#include "philox.h"
#include "cli.h"
#include "util.h"

void dsq_model_config_default(dsq_model_config *c, int vocab, int d) {
    memset(c, 0, sizeof *c);
    c->vocab = vocab;
    c->d = d;
    c->dt = 128;
    c->H = 768;
    c->nh = 12;
    c->I = 3072;
    c->n_layers = 12;
    c->max_pos = 512;
    c->ln_eps = 1e-12f;
    c->hidden_dropout = 0.1f;
    c->attn_dropout = 0.1f;
    c->mean_embed = 0;
}

const char *dsq_model_preset(const char *name, dsq_model_config *c) {
    /* layers, hidden, heads, intermediate */
    static const struct { const char *name; int l, h, nh, i; } presets[] = {
        {"bert-base", 12, 768, 12, 3072}, {"bert-base-uncased", 12, 768, 12, 3072},
        {"bert-large", 24, 1024, 16, 4096}, {"bert-medium", 8, 512, 8, 2048},
        {"bert-small", 4, 512, 8, 2048}, {"bert-mini", 4, 256, 4, 1024},
        {"bert-tiny", 2, 128, 2, 512},
    };
    for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++) {
        if (strcmp(presets[k].name, name)) continue;
        c->n_layers = presets[k].l;
        c->H = presets[k].h;
        c->nh = presets[k].nh;
        c->I = presets[k].i;
        return presets[k].name;
    }
    return NULL;
}

static const dsq_limit limits[DSQ_LIM_N] = {
    [DSQ_LIM_VOCAB] = {"vocab_size", "vocabulary size", 1, 1 << 24},
    [DSQ_LIM_SEQ_LEN] = {"seq_len", "--seq-len", 4, 1 << 16},
    [DSQ_LIM_MAX_POS] = {"max_position_embeddings", "max positions", 4, 1 << 16},
    [DSQ_LIM_LAYERS] = {"num_hidden_layers", "--layers", 1, 1000},
    [DSQ_LIM_HIDDEN] = {"hidden_size", "--hidden", 16, 1 << 16},
    [DSQ_LIM_HEADS] = {"num_attention_heads", "--heads", 1, 1024},
    [DSQ_LIM_INTER] = {"intermediate_size", "--intermediate", 1, 1 << 20},
    [DSQ_LIM_HIDDEN_DIM] = {"hidden_dim", "--hidden-dim", 1, 1 << 16},
    [DSQ_LIM_HIDDEN_T_DIM] = {"hidden_t_dim", "--hidden-t-dim", 2, 1 << 16},
    [DSQ_LIM_DIFF_STEPS] = {"diffusion_steps", "--diff-steps", 2, 1 << 24},
    [DSQ_LIM_STEPS] = {"learning_steps", "--learning-steps", 1, 1LL << 40},
    [DSQ_LIM_COUNTER] = {"step", "--stop-at", 0, 1LL << 40},
};

const dsq_limit *dsq_limit_get(dsq_limit_id id) { return &limits[id]; }

int dsq_limit_check(dsq_limit_id id, const char *key, long long v, const char *file,
                    dsq_err *e) {
    const dsq_limit *l = &limits[id];
    if (v >= l->lo && v <= l->hi) return 0;
    return dsq_err_set(e, DSQ_EDATA, "%s: %s = %lld is outside the allowed range [%lld, %lld] "
                       "(a damaged or hostile file?)", file, key ? key : l->key, v, l->lo, l->hi);
}

long dsq_limit_opt(dsq_limit_id id, const char *arg) {
    const dsq_limit *l = &limits[id];
    return dsq_opt_long(arg, l->opt, (long)l->lo, (long)l->hi);
}

int dsq_model_config_check(const dsq_model_config *c, dsq_err *e) {
    if (c->vocab <= 0 || c->d <= 0 || c->dt <= 0 || c->H <= 0 || c->nh <= 0 || c->I <= 0 ||
        c->n_layers < 0 || c->max_pos <= 0)
        return dsq_err_set(e, DSQ_EUSAGE, "model config: sizes must be positive "
                           "(vocab %d, hidden_dim %d, hidden_t_dim %d, hidden %d, heads %d, "
                           "intermediate %d, layers %d, max positions %d)", c->vocab, c->d,
                           c->dt, c->H, c->nh, c->I, c->n_layers, c->max_pos);
    if (c->H % c->nh)
        return dsq_err_set(e, DSQ_EUSAGE, "model config: hidden size %d is not a multiple "
                           "of the number of heads %d", c->H, c->nh);
    if (!(c->hidden_dropout >= 0 && c->hidden_dropout < 1) ||
        !(c->attn_dropout >= 0 && c->attn_dropout < 1))
        return dsq_err_set(e, DSQ_EUSAGE, "model config: dropout must be in [0, 1) "
                           "(hidden %g, attention %g)", c->hidden_dropout, c->attn_dropout);
    if (!(c->ln_eps > 0))
        return dsq_err_set(e, DSQ_EUSAGE, "model config: layer_norm_eps must be positive");
    return 0;
}

/* ---- parameter table ------------------------------------------------- */

/* Rounded to 16 floats so every tensor starts 64-byte aligned. */

static void add_param(dsq_model *m, int *cap, const char *name, int ndim,
                      int64_t s0, int64_t s1) {
    if (m->n_tensors == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        m->info = xrealloc(m->info, (size_t)*cap * sizeof *m->info);
    }
    dsq_param_info *p = &m->info[m->n_tensors++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = s0;
    p->shape[1] = ndim == 2 ? s1 : 0;
    p->numel = (size_t)s0 * (ndim == 2 ? (size_t)s1 : 1);
    p->offset = m->n_params;
    m->n_params += dsq_align16(p->numel);
}

/* Table order differs from the state dict's where it helps: q, k and v
 * weights (and biases) are adjacent, forming one [3H, H] matrix. */
static void build_table(dsq_model *m) {
    const dsq_model_config *c = &m->cfg;
    int cap = 0;
    char nm[DSQ_MODEL_NAME_MAX];
    add_param(m, &cap, "word_embedding.weight", 2, c->vocab, c->d);
    add_param(m, &cap, "lm_head.bias", 1, c->vocab, 0);
    add_param(m, &cap, "time_embed.0.weight", 2, 4 * c->dt, c->dt);
    add_param(m, &cap, "time_embed.0.bias", 1, 4 * c->dt, 0);
    add_param(m, &cap, "time_embed.2.weight", 2, c->H, 4 * c->dt);
    add_param(m, &cap, "time_embed.2.bias", 1, c->H, 0);
    if (c->d != c->H) {
        add_param(m, &cap, "input_up_proj.0.weight", 2, c->H, c->d);
        add_param(m, &cap, "input_up_proj.0.bias", 1, c->H, 0);
        add_param(m, &cap, "input_up_proj.2.weight", 2, c->H, c->H);
        add_param(m, &cap, "input_up_proj.2.bias", 1, c->H, 0);
    }
    add_param(m, &cap, "position_embeddings.weight", 2, c->max_pos, c->H);
    add_param(m, &cap, "LayerNorm.weight", 1, c->H, 0);
    add_param(m, &cap, "LayerNorm.bias", 1, c->H, 0);
    static const struct { const char *suffix; int kind; } L[] = {
        /* kind: 0 [H,H], 1 [H], 2 [I,H], 3 [I], 4 [H,I] */
        {"attention.self.query.weight", 0}, {"attention.self.key.weight", 0},
        {"attention.self.value.weight", 0}, {"attention.self.query.bias", 1},
        {"attention.self.key.bias", 1}, {"attention.self.value.bias", 1},
        {"attention.output.dense.weight", 0}, {"attention.output.dense.bias", 1},
        {"attention.output.LayerNorm.weight", 1}, {"attention.output.LayerNorm.bias", 1},
        {"intermediate.dense.weight", 2}, {"intermediate.dense.bias", 3},
        {"output.dense.weight", 4}, {"output.dense.bias", 1},
        {"output.LayerNorm.weight", 1}, {"output.LayerNorm.bias", 1},
    };
    for (int i = 0; i < c->n_layers; i++)
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
            snprintf(nm, sizeof nm, "input_transformers.layer.%d.%s", i, L[k].suffix);
            switch (L[k].kind) {
            case 0: add_param(m, &cap, nm, 2, c->H, c->H); break;
            case 1: add_param(m, &cap, nm, 1, c->H, 0); break;
            case 2: add_param(m, &cap, nm, 2, c->I, c->H); break;
            case 3: add_param(m, &cap, nm, 1, c->I, 0); break;
            default: add_param(m, &cap, nm, 2, c->H, c->I); break;
            }
        }
    if (c->d != c->H) {
        add_param(m, &cap, "output_down_proj.0.weight", 2, c->H, c->H);
        add_param(m, &cap, "output_down_proj.0.bias", 1, c->H, 0);
        add_param(m, &cap, "output_down_proj.2.weight", 2, c->d, c->H);
        add_param(m, &cap, "output_down_proj.2.bias", 1, c->d, 0);
    }
    if (c->mean_embed) add_param(m, &cap, "mean_embed", 1, c->d, 0);
}

const dsq_param_info *dsq_model_param(const dsq_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->info[i].name, name)) return &m->info[i];
    return NULL;
}

size_t dsq_model_num_params(const dsq_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->n_tensors; i++) n += m->info[i].numel;
    return n;
}

size_t dsq_model_config_num_params(const dsq_model_config *cfg) {
    dsq_model tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *cfg;
    build_table(&tmp);
    size_t n = dsq_model_num_params(&tmp);
    free(tmp.info);
    return n;
}

static float *view(const dsq_model *m, float *base, const char *name) {
    const dsq_param_info *p = dsq_model_param(m, name);
    return p ? base + p->offset : NULL;
}

/* The q|k|v adjacency that the fused QKV GEMM relies on is checked here. */
static void set_views(const dsq_model *m, float *base, dsq_model_views *v) {
    const dsq_model_config *c = &m->cfg;
    char nm[DSQ_MODEL_NAME_MAX];
    v->wemb = view(m, base, "word_embedding.weight");
    v->lm_bias = view(m, base, "lm_head.bias");
    v->te0w = view(m, base, "time_embed.0.weight");
    v->te0b = view(m, base, "time_embed.0.bias");
    v->te2w = view(m, base, "time_embed.2.weight");
    v->te2b = view(m, base, "time_embed.2.bias");
    v->up0w = view(m, base, "input_up_proj.0.weight");
    v->up0b = view(m, base, "input_up_proj.0.bias");
    v->up2w = view(m, base, "input_up_proj.2.weight");
    v->up2b = view(m, base, "input_up_proj.2.bias");
    v->pos = view(m, base, "position_embeddings.weight");
    v->lnw = view(m, base, "LayerNorm.weight");
    v->lnb = view(m, base, "LayerNorm.bias");
    v->down0w = view(m, base, "output_down_proj.0.weight");
    v->down0b = view(m, base, "output_down_proj.0.bias");
    v->down2w = view(m, base, "output_down_proj.2.weight");
    v->down2b = view(m, base, "output_down_proj.2.bias");
    v->mean_emb = view(m, base, "mean_embed");
    v->layers = xcalloc(c->n_layers ? c->n_layers : 1, sizeof *v->layers);
    size_t HH = dsq_align16((size_t)c->H * c->H), Hb = dsq_align16((size_t)c->H);
    for (int i = 0; i < c->n_layers; i++) {
        dsq_layer_params *l = &v->layers[i];
#define LV(field, suffix)                                                         \
        snprintf(nm, sizeof nm, "input_transformers.layer.%d.%s", i, suffix);     \
        l->field = view(m, base, nm)
        LV(qkvw, "attention.self.query.weight");
        LV(qkvb, "attention.self.query.bias");
        LV(attow, "attention.output.dense.weight");
        LV(attob, "attention.output.dense.bias");
        LV(ln1w, "attention.output.LayerNorm.weight");
        LV(ln1b, "attention.output.LayerNorm.bias");
        LV(fcw, "intermediate.dense.weight");
        LV(fcb, "intermediate.dense.bias");
        LV(fcprojw, "output.dense.weight");
        LV(fcprojb, "output.dense.bias");
        LV(ln2w, "output.LayerNorm.weight");
        LV(ln2b, "output.LayerNorm.bias");
#undef LV
        /* Fused QKV needs H*H and H to be multiples of 16 (no padding). */
        DSQ_CHECK(HH == (size_t)c->H * c->H && Hb == (size_t)c->H);
    }
}

int dsq_model_create(dsq_model *m, const dsq_model_config *cfg, dsq_backend *be, dsq_err *e) {
    memset(m, 0, sizeof *m);
    int rc = dsq_model_config_check(cfg, e);
    if (rc) return rc;
    if (cfg->H % 16)
        return dsq_err_set(e, DSQ_EUSAGE, "model config: hidden size %d must be a multiple "
                           "of 16", cfg->H);
    m->cfg = *cfg;
    m->be = be;
    build_table(m);
    m->params = be->alloc(be, m->n_params * sizeof(float));
    m->grads = be->alloc(be, m->n_params * sizeof(float));
    set_views(m, m->params, &m->p);
    set_views(m, m->grads, &m->g);
    return 0;
}

static void free_acts(dsq_model *m) {
    if (m->acts) m->be->free(m->be, m->acts);
    if (m->dacts) m->be->free(m->be, m->dacts);
    free(m->a.layers);
    free(m->da.layers);
    m->acts = m->dacts = NULL;
    m->a.layers = m->da.layers = NULL;
}

void dsq_model_destroy(dsq_model *m) {
    if (!m->be) return;
    free_acts(m);
    m->be->free(m->be, m->params);
    if (m->grads) m->be->free(m->be, m->grads);
    free(m->p.layers);
    free(m->g.layers);
    free(m->info);
    memset(m, 0, sizeof *m);
}

/* ---- initialisation ---------------------------------------------------- */

static void fill_normal(float *x, size_t n, float std, uint64_t seed, uint64_t off) {
    for (size_t i = 0; i < n; i++) x[i] = std * dsq_philox_normal_at(seed, off, i);
}

static void fill_uniform(float *x, size_t n, float bound, uint64_t seed, uint64_t off) {
    for (size_t i = 0; i < n; i++)
        x[i] = bound * (2.0f * dsq_philox_uniform_at(seed, off, i) - 1.0f);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* fan_in of a linear layer's bias is its weight's second dimension. */
void dsq_model_init_params(dsq_model *m, uint64_t seed) {
    float *host = xcalloc(m->n_params, sizeof *host);
    for (int i = 0; i < m->n_tensors; i++) {
        const dsq_param_info *p = &m->info[i];
        float *x = host + p->offset;
        const char *nm = p->name;
        if (!strcmp(nm, "word_embedding.weight") || !strcmp(nm, "position_embeddings.weight")) {
            fill_normal(x, p->numel, 1.0f, seed, (uint64_t)i);
        } else if (!strcmp(nm, "mean_embed")) {
            fill_normal(x, p->numel, 1.0f / sqrtf((float)m->cfg.d), seed, (uint64_t)i);
        } else if (strstr(nm, "LayerNorm.")) {
            float v = ends_with(nm, ".weight") ? 1.0f : 0.0f;
            for (size_t k = 0; k < p->numel; k++) x[k] = v;
        } else if (!strcmp(nm, "lm_head.bias")) {
            fill_uniform(x, p->numel, 1.0f / sqrtf((float)m->cfg.d), seed, (uint64_t)i);
        } else {
            int64_t fan_in;
            if (p->ndim == 2) {
                fan_in = p->shape[1];
            } else {  /* the matching weight precedes or, for q/k/v, is 3 back */
                char wn[DSQ_MODEL_NAME_MAX];
                snprintf(wn, sizeof wn, "%.*s.weight", (int)(strlen(nm) - 5), nm);
                const dsq_param_info *w = dsq_model_param(m, wn);
                DSQ_CHECK(w && w->ndim == 2);
                fan_in = w->shape[1];
            }
            fill_uniform(x, p->numel, 1.0f / sqrtf((float)fan_in), seed, (uint64_t)i);
        }
    }
    m->be->upload(m->be, m->params, host, m->n_params * sizeof(float));
    free(host);
}

/* ---- activations --------------------------------------------------------- */

static float *take(float *base, size_t *off, size_t n) {
    size_t o = *off;
    *off += dsq_align16(n);
    return base ? base + o : NULL;
}

/* Lays out the activation set for (B, L) at base (NULL: just counts);
 * returns the total in floats.  nsets layer sets: n_layers for the
 * activations; 1 for their gradients, which the backward reuses layer after
 * layer (a->layers[0]), with alt[0..1], two [N, H] buffers that carry the
 * gradient of a layer's output from one layer to the next. */
static size_t layout_acts(const dsq_model_config *c, int B, int L, float *base,
                          dsq_model_acts *a, int nsets, float **alt) {
    size_t off = 0, N = (size_t)B * L, H = c->H, att = (size_t)B * c->nh * L * L;
    int proj = c->d != c->H;
    a->tsin = take(base, &off, (size_t)B * c->dt);
    a->t1 = take(base, &off, (size_t)B * 4 * c->dt);
    a->t1s = take(base, &off, (size_t)B * 4 * c->dt);
    a->et = take(base, &off, (size_t)B * H);
    a->up0 = proj ? take(base, &off, N * H) : NULL;
    a->up1 = proj ? take(base, &off, N * H) : NULL;
    a->ex = proj ? take(base, &off, N * H) : NULL;
    a->emb = take(base, &off, N * H);
    a->emb_mean = take(base, &off, N);
    a->emb_rstd = take(base, &off, N);
    a->h0 = take(base, &off, N * H);
    for (int i = 0; i < nsets; i++) {
        dsq_layer_acts *l = &a->layers[i];
        l->qkv = take(base, &off, N * 3 * H);
        l->att = take(base, &off, att);
        l->attd = c->attn_dropout > 0 ? take(base, &off, att) : NULL;
        l->ctx = take(base, &off, N * H);
        l->ao = take(base, &off, N * H);
        l->res1 = take(base, &off, N * H);
        l->ln1 = take(base, &off, N * H);
        l->ln1_mean = take(base, &off, N);
        l->ln1_rstd = take(base, &off, N);
        l->fch = take(base, &off, N * c->I);
        l->fcg = take(base, &off, N * c->I);
        l->fo = take(base, &off, N * H);
        l->res2 = take(base, &off, N * H);
        l->ln2 = take(base, &off, N * H);
        l->ln2_mean = take(base, &off, N);
        l->ln2_rstd = take(base, &off, N);
    }
    a->down0 = proj ? take(base, &off, N * H) : NULL;
    a->down1 = proj ? take(base, &off, N * H) : NULL;
    a->out = proj ? take(base, &off, N * c->d) : NULL;
    if (alt) {
        alt[0] = take(base, &off, N * H);
        alt[1] = take(base, &off, N * H);
    }
    return off;
}

/* Activations for (B, L): to train, every layer's and their gradients; to
 * decode, two layer sets (or fewer layers) and no gradients. */
static int reserve(dsq_model *m, int B, int L, int training, dsq_err *e) {
    const dsq_model_config *c = &m->cfg;
    int nl = c->n_layers, sets = training || nl < 2 ? nl : 2;
    if (B <= 0 || L <= 0)
        return dsq_err_set(e, DSQ_EUSAGE, "model: batch %d x length %d is empty", B, L);
    if (L > c->max_pos)
        return dsq_err_set(e, DSQ_EUSAGE, "model: sequence length %d exceeds the %d "
                           "position embeddings", L, c->max_pos);
    if (m->acts && L == m->L && B <= m->B && training == (m->dacts != NULL)) return 0;
    free_acts(m);
    dsq_model_acts tmp = {0};
    float *alt[2];
    tmp.layers = xcalloc(sets ? sets : 1, sizeof *tmp.layers);
    m->n_acts = layout_acts(c, B, L, NULL, &tmp, sets, NULL);
    m->n_dacts = training ? layout_acts(c, B, L, NULL, &tmp, nl ? 1 : 0, alt) : 0;
    free(tmp.layers);
    m->acts = m->be->alloc(m->be, m->n_acts * sizeof(float));
    m->a.layers = xcalloc(sets ? sets : 1, sizeof *m->a.layers);
    layout_acts(c, B, L, m->acts, &m->a, sets, NULL);
    if (training) {
        m->dacts = m->be->alloc(m->be, m->n_dacts * sizeof(float));
        m->da.layers = xcalloc(1, sizeof *m->da.layers);
        layout_acts(c, B, L, m->dacts, &m->da, nl ? 1 : 0, m->dalt);
    }
    m->act_sets = sets;
    m->B = B;
    m->L = L;
    return 0;
}

int dsq_model_reserve(dsq_model *m, int B, int L, dsq_err *e) {
    DSQ_CHECK(m->grads);  /* not after dsq_model_reserve_inference */
    return reserve(m, B, L, 1, e);
}

int dsq_model_reserve_inference(dsq_model *m, int B, int L, dsq_err *e) {
    if (m->grads) {
        m->be->free(m->be, m->grads);
        m->grads = NULL;
    }
    return reserve(m, B, L, 0, e);
}

uint64_t dsq_model_rng_streams(const dsq_model_config *cfg) {
    return 1 + 3 * (uint64_t)cfg->n_layers;
}

float dsq_model_rescale_t(int t, int T) { return (float)t * (float)(1000.0 / T); }

void dsq_model_zero_grad(dsq_model *m) {
    DSQ_CHECK(m->grads);
    m->be->zero(m->be, m->grads, m->n_params * sizeof(float));
}

/* ---- forward ------------------------------------------------------------- */

/* Activations are laid out for the reserved (m->B, m->L); a smaller batch
 * (same L) uses a prefix of every buffer, which is how the layout works:
 * each buffer is batch-major.  Attention buffers are [B, ...] too. */
const float *dsq_model_forward(dsq_model *m, const float *x, const float *t, int B, int L) {
    const dsq_model_config *c = &m->cfg;
    dsq_backend *be = m->be;
    DSQ_CHECK(m->acts && L == m->L && B <= m->B);
    const dsq_model_views *p = &m->p;
    dsq_model_acts *a = &m->a;
    int N = B * L, H = c->H, dt = c->dt;
    float ph = m->training ? c->hidden_dropout : 0.0f;
    float pa = m->training ? c->attn_dropout : 0.0f;
    uint64_t off = m->rng_offset;
    m->x_in = x;
    m->t_in = t;
    m->fwd_B = B;

    /* time: sinusoid -> Linear -> SiLU -> Linear */
    be->timestep_embedding(be, a->tsin, t, B, dt);
    layer_linear_fwd(be, a->t1, a->tsin, p->te0w, p->te0b, B, dt, 4 * dt);
    be->silu_fwd(be, a->t1s, a->t1, (size_t)B * 4 * dt);
    layer_linear_fwd(be, a->et, a->t1s, p->te2w, p->te2b, B, 4 * dt, H);
    /* input: Linear -> tanh -> Linear (identity when d == H) */
    const float *xin = x;
    if (c->d != H) {
        layer_linear_fwd(be, a->up0, x, p->up0w, p->up0b, N, c->d, H);
        be->tanh_fwd(be, a->up1, a->up0, (size_t)N * H);
        layer_linear_fwd(be, a->ex, a->up1, p->up2w, p->up2b, N, H, H);
        xin = a->ex;
    }
    be->add_time_pos_fwd(be, a->emb, xin, a->et, p->pos, B, L, H);
    be->layernorm_fwd(be, a->h0, a->emb_mean, a->emb_rstd, a->emb, p->lnw, p->lnb, N, H,
                      c->ln_eps);
    if (ph > 0) be->dropout_fwd(be, a->h0, a->h0, (size_t)N * H, ph, m->seed, off);

    const float *hin = a->h0;
    for (int i = 0; i < c->n_layers; i++) {
        const dsq_layer_params *lp = &p->layers[i];
        dsq_layer_acts *la = &a->layers[i % m->act_sets];  /* decoding: 2 sets in turn */
        uint64_t o = off + 1 + 3 * (uint64_t)i;
        layer_linear_fwd(be, la->qkv, hin, lp->qkvw, lp->qkvb, N, H, 3 * H);
        be->attention_fwd(be, la->ctx, la->att, la->attd, la->qkv, B, L, c->nh, H, pa,
                          m->seed, o);
        layer_linear_fwd(be, la->ao, la->ctx, lp->attow, lp->attob, N, H, H);
        if (ph > 0) be->dropout_fwd(be, la->ao, la->ao, (size_t)N * H, ph, m->seed, o + 1);
        be->add(be, la->res1, hin, la->ao, (size_t)N * H);
        be->layernorm_fwd(be, la->ln1, la->ln1_mean, la->ln1_rstd, la->res1, lp->ln1w,
                          lp->ln1b, N, H, c->ln_eps);
        layer_linear_fwd(be, la->fch, la->ln1, lp->fcw, lp->fcb, N, H, c->I);
        be->gelu_fwd(be, la->fcg, la->fch, (size_t)N * c->I);
        layer_linear_fwd(be, la->fo, la->fcg, lp->fcprojw, lp->fcprojb, N, c->I, H);
        if (ph > 0) be->dropout_fwd(be, la->fo, la->fo, (size_t)N * H, ph, m->seed, o + 2);
        be->add(be, la->res2, la->ln1, la->fo, (size_t)N * H);
        be->layernorm_fwd(be, la->ln2, la->ln2_mean, la->ln2_rstd, la->res2, lp->ln2w,
                          lp->ln2b, N, H, c->ln_eps);
        hin = la->ln2;
    }
    if (c->d == H) return hin;
    layer_linear_fwd(be, a->down0, hin, p->down0w, p->down0b, N, H, H);
    be->tanh_fwd(be, a->down1, a->down0, (size_t)N * H);
    layer_linear_fwd(be, a->out, a->down1, p->down2w, p->down2b, N, H, c->d);
    return a->out;
}

/* ---- backward -------------------------------------------------------------- */

/* Gradient slots hold d(loss)/d(the value stored in the activation slot).
 * For slots dropped out in place (h0, ao, fo) the gradient with respect to
 * the pre-dropout value is the dropout applied to the gradient, computed
 * with the same stream. */
void dsq_model_backward(dsq_model *m, float *dx, const float *dout) {
    const dsq_model_config *c = &m->cfg;
    dsq_backend *be = m->be;
    const dsq_model_views *p = &m->p, *g = &m->g;
    const dsq_model_acts *a = &m->a;
    dsq_model_acts *da = &m->da;
    int B = m->fwd_B, L = m->L, N = B * L, H = c->H, dt = c->dt;
    float ph = m->training ? c->hidden_dropout : 0.0f;
    float pa = m->training ? c->attn_dropout : 0.0f;
    uint64_t off = m->rng_offset;
    size_t NH = (size_t)N * H;

    int nl = c->n_layers;
    DSQ_CHECK(m->dacts);  /* reserved for training */
    be->zero(be, m->dacts, m->n_dacts * sizeof(float));
    const float *hlast = nl ? a->layers[nl - 1].ln2 : a->h0;
    /* the gradient of layer i's output lives in dalt[i % 2] */
    float *dhlast = nl ? m->dalt[(nl - 1) % 2] : da->h0;
    /* one layer's gradient slots, reused by every layer: from qkv to the
     * end of ln2_rstd */
    dsq_layer_acts *ld = &da->layers[0];
    size_t set_bytes = nl ? (size_t)(ld->ln2_rstd + N - ld->qkv) * sizeof(float) : 0;
    if (c->d != H) {
        layer_linear_bwd(be, da->down1, g->down2w, g->down2b, dout, a->down1, p->down2w,
                         N, H, c->d);
        be->tanh_bwd(be, da->down0, a->down1, da->down1, NH);
        layer_linear_bwd(be, dhlast, g->down0w, g->down0b, da->down0, hlast, p->down0w,
                         N, H, H);
    } else {
        be->axpy(be, dhlast, 1.0f, dout, NH);
    }

    for (int i = nl - 1; i >= 0; i--) {
        const dsq_layer_params *lp = &p->layers[i], *lg = &g->layers[i];
        const dsq_layer_acts *la = &a->layers[i];
        const float *hin = i ? a->layers[i - 1].ln2 : a->h0;
        float *dhin = i ? m->dalt[(i - 1) % 2] : da->h0;
        const float *dhout = m->dalt[i % 2];
        uint64_t o = off + 1 + 3 * (uint64_t)i;
        if (i < nl - 1) be->zero(be, ld->qkv, set_bytes);  /* the previous layer's */
        if (i > 0 && i < nl - 1) be->zero(be, dhin, NH * sizeof(float));  /* held layer i+1's */

        be->layernorm_bwd(be, ld->res2, lg->ln2w, lg->ln2b, dhout, la->res2, lp->ln2w,
                          la->ln2_mean, la->ln2_rstd, N, H);
        be->axpy(be, ld->ln1, 1.0f, ld->res2, NH);          /* res2 = ln1 + fo */
        const float *dfo = ld->res2;
        if (ph > 0) {
            be->dropout_fwd(be, ld->fo, ld->res2, NH, ph, m->seed, o + 2);
            dfo = ld->fo;
        }
        layer_linear_bwd(be, ld->fcg, lg->fcprojw, lg->fcprojb, dfo, la->fcg, lp->fcprojw,
                         N, c->I, H);
        be->gelu_bwd(be, ld->fch, la->fch, ld->fcg, (size_t)N * c->I);
        layer_linear_bwd(be, ld->ln1, lg->fcw, lg->fcb, ld->fch, la->ln1, lp->fcw, N, H, c->I);
        be->layernorm_bwd(be, ld->res1, lg->ln1w, lg->ln1b, ld->ln1, la->res1, lp->ln1w,
                          la->ln1_mean, la->ln1_rstd, N, H);
        be->axpy(be, dhin, 1.0f, ld->res1, NH);             /* res1 = hin + ao */
        const float *dao = ld->res1;
        if (ph > 0) {
            be->dropout_fwd(be, ld->ao, ld->res1, NH, ph, m->seed, o + 1);
            dao = ld->ao;
        }
        layer_linear_bwd(be, ld->ctx, lg->attow, lg->attob, dao, la->ctx, lp->attow, N, H, H);
        be->attention_bwd(be, ld->qkv, ld->att, ld->ctx, la->qkv, la->att, la->attd,
                          B, L, c->nh, H, pa, m->seed, o);
        layer_linear_bwd(be, dhin, lg->qkvw, lg->qkvb, ld->qkv, hin, lp->qkvw, N, H, 3 * H);
    }

    if (ph > 0) be->dropout_fwd(be, da->h0, da->h0, NH, ph, m->seed, off);
    be->layernorm_bwd(be, da->emb, g->lnw, g->lnb, da->h0, a->emb, p->lnw, a->emb_mean,
                      a->emb_rstd, N, H);
    float *dxin = c->d != H ? da->ex : dx;
    be->add_time_pos_bwd(be, dxin, da->et, g->pos, da->emb, B, L, H);
    if (c->d != H) {
        layer_linear_bwd(be, da->up1, g->up2w, g->up2b, da->ex, a->up1, p->up2w, N, H, H);
        be->tanh_bwd(be, da->up0, a->up1, da->up1, NH);
        layer_linear_bwd(be, dx, g->up0w, g->up0b, da->up0, m->x_in, p->up0w, N, c->d, H);
    }
    layer_linear_bwd(be, da->t1s, g->te2w, g->te2b, da->et, a->t1s, p->te2w, B, 4 * dt, H);
    be->silu_bwd(be, da->t1, a->t1, da->t1s, (size_t)B * 4 * dt);
    layer_linear_bwd(be, NULL, g->te0w, g->te0b, da->t1, a->tsin, p->te0w, B, dt, 4 * dt);
}

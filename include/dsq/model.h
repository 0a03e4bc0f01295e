/* The DiffuSeq network f(x_t, t) (doc/model-and-training.md §2): time
 * MLP, input up-projection, position embeddings, post-LN BERT encoder
 * without attention mask, output down-projection; plus the word embedding
 * and lm_head bias that the losses use.
 *
 * Memory: all parameters live in ONE device allocation described by a
 * table whose names and shapes are the reference PyTorch state-dict names
 * (so checkpoints map 1:1); gradients in a second allocation with the same
 * layout; activations (and their gradients) in one allocation each, sized
 * for a batch shape.  lm_head.weight is tied to word_embedding.weight and
 * has no storage of its own (DSQ_MODEL_TIED_NAME).  The activation
 * gradients hold one layer's worth, reused layer after layer.  The reference state
 * dict's `position_ids` buffer (0..max_pos-1) is not a parameter. */
#ifndef DSQ_MODEL_H
#define DSQ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "err.h"

#define DSQ_MODEL_TIED_NAME "lm_head.weight"
#define DSQ_MODEL_NAME_MAX 96

typedef struct {
    int vocab;            /* V */
    int d;                /* hidden_dim: word-embedding width (input = output dims) */
    int dt;               /* hidden_t_dim: sinusoid width (reference: 128) */
    int H, nh, I;         /* transformer width, heads, intermediate width */
    int n_layers;
    int max_pos;          /* max_position_embeddings (512) */
    float ln_eps;         /* layer_norm_eps (1e-12) */
    float hidden_dropout; /* --dropout (0.1) */
    float attn_dropout;   /* attention_probs_dropout_prob (0.1) */
    int mean_embed;       /* v2 --learned_mean_embed: adds `mean_embed` [d] */
} dsq_model_config;

/* bert-base-uncased encoder with the reference defaults; vocab and d
 * given. */
void dsq_model_config_default(dsq_model_config *c, int vocab, int d);

/* Google's BERT encoder sizes by name: bert-base (= bert-base-uncased),
 * bert-large, bert-medium, bert-small, bert-mini, bert-tiny.  Sets c's
 * n_layers, H, nh and I and returns the preset's name (static storage);
 * NULL, c untouched, for an unknown name. */
const char *dsq_model_preset(const char *name, dsq_model_config *c);

/* Checks the shape (positive sizes, nh divides H, ...). DSQ_EUSAGE. */
int dsq_model_config_check(const dsq_model_config *c, dsq_err *e);

/* The ranges of the model and run sizes, one table for the command line
 * (dsq-train's options: a value outside is a usage error) and for every
 * file that records them (checkpoint "config" metadata, config.json, state
 * files: DSQ_EDATA), checked before anything is allocated from them. */
typedef enum {
    DSQ_LIM_VOCAB, DSQ_LIM_SEQ_LEN, DSQ_LIM_MAX_POS, DSQ_LIM_LAYERS, DSQ_LIM_HIDDEN,
    DSQ_LIM_HEADS, DSQ_LIM_INTER, DSQ_LIM_HIDDEN_DIM, DSQ_LIM_HIDDEN_T_DIM,
    DSQ_LIM_DIFF_STEPS, DSQ_LIM_STEPS, DSQ_LIM_COUNTER, DSQ_LIM_N
} dsq_limit_id;

typedef struct {
    const char *key;      /* the configuration key (config.json, metadata) */
    const char *opt;      /* the command-line option */
    long long lo, hi;
} dsq_limit;

const dsq_limit *dsq_limit_get(dsq_limit_id id);
/* 0 when lo <= v <= hi; else DSQ_EDATA naming file, the key (id's when
 * key is NULL), the value and the range. */
int dsq_limit_check(dsq_limit_id id, const char *key, long long v, const char *file,
                    dsq_err *e);
/* The command-line value of id's option (exits 2 outside the range). */
long dsq_limit_opt(dsq_limit_id id, const char *arg);

/* One entry of the parameter table. */
typedef struct {
    char name[DSQ_MODEL_NAME_MAX];  /* reference state-dict name */
    int ndim;                       /* 1 or 2 */
    int64_t shape[2];
    size_t offset;                  /* in floats from the start of params */
    size_t numel;
} dsq_param_info;

/* Views into a parameter-shaped allocation (parameters or gradients).
 * Shapes in comments; layers[i] for i < n_layers. */
typedef struct {
    float *qkvw;     /* [3H, H]: query.weight | key.weight | value.weight */
    float *qkvb;     /* [3H]: query.bias | key.bias | value.bias */
    float *attow;    /* [H, H] attention.output.dense.weight */
    float *attob;    /* [H] */
    float *ln1w;     /* [H] attention.output.LayerNorm.weight */
    float *ln1b;     /* [H] */
    float *fcw;      /* [I, H] intermediate.dense.weight */
    float *fcb;      /* [I] */
    float *fcprojw;  /* [H, I] output.dense.weight */
    float *fcprojb;  /* [H] */
    float *ln2w;     /* [H] output.LayerNorm.weight */
    float *ln2b;     /* [H] */
} dsq_layer_params;

typedef struct {
    float *wemb;     /* [V, d] word_embedding.weight (= lm_head.weight) */
    float *lm_bias;  /* [V] lm_head.bias */
    float *te0w;     /* [4dt, dt] time_embed.0.weight */
    float *te0b;     /* [4dt] */
    float *te2w;     /* [H, 4dt] time_embed.2.weight */
    float *te2b;     /* [H] */
    float *up0w;     /* [H, d] input_up_proj.0.weight (NULL when d == H) */
    float *up0b;     /* [H] */
    float *up2w;     /* [H, H] input_up_proj.2.weight */
    float *up2b;     /* [H] */
    float *pos;      /* [max_pos, H] position_embeddings.weight */
    float *lnw;      /* [H] LayerNorm.weight */
    float *lnb;      /* [H] */
    float *down0w;   /* [H, H] output_down_proj.0.weight (NULL when d == H) */
    float *down0b;   /* [H] */
    float *down2w;   /* [d, H] output_down_proj.2.weight */
    float *down2b;   /* [d] */
    float *mean_emb; /* [d] mean_embed (NULL unless cfg.mean_embed) */
    dsq_layer_params *layers;
} dsq_model_views;

/* Activations of one layer for N = B*L positions; mean/rstd are [N]. */
typedef struct {
    float *qkv;      /* [N, 3H] */
    float *att;      /* [B, nh, L, L] softmax probabilities */
    float *attd;     /* [B, nh, L, L] after dropout (NULL when p == 0) */
    float *ctx;      /* [N, H] attention output, heads concatenated */
    float *ao;       /* [N, H] dense(ctx), dropped out in place */
    float *res1;     /* [N, H] layer input + ao */
    float *ln1, *ln1_mean, *ln1_rstd;  /* [N, H], [N], [N] */
    float *fch;      /* [N, I] intermediate pre-activation */
    float *fcg;      /* [N, I] GELU(fch) */
    float *fo;       /* [N, H] dense(fcg), dropped out in place */
    float *res2;     /* [N, H] ln1 + fo */
    float *ln2, *ln2_mean, *ln2_rstd;  /* [N, H], [N], [N]: the layer output */
} dsq_layer_acts;

typedef struct {
    float *tsin;     /* [B, dt] sinusoidal time embedding */
    float *t1;       /* [B, 4dt] time_embed.0 output (SiLU input) */
    float *t1s;      /* [B, 4dt] SiLU(t1) */
    float *et;       /* [B, H] time embedding */
    float *up0;      /* [N, H] input_up_proj.0(x) (d != H) */
    float *up1;      /* [N, H] tanh(up0) */
    float *ex;       /* [N, H] input_up_proj.2 output (d != H) */
    float *emb;      /* [N, H] pos + ex + et (LayerNorm input) */
    float *emb_mean, *emb_rstd;  /* [N] */
    float *h0;       /* [N, H] LayerNorm(emb), dropped out in place */
    float *down0;    /* [N, H] output_down_proj.0(h) (d != H) */
    float *down1;    /* [N, H] tanh(down0) */
    float *out;      /* [N, d] f(x_t, t) (d != H) */
    dsq_layer_acts *layers;
} dsq_model_acts;

typedef struct {
    dsq_model_config cfg;
    dsq_backend *be;
    int n_tensors;               /* parameter table */
    dsq_param_info *info;
    size_t n_params;             /* floats in the parameter allocation */
    float *params, *grads;       /* device, [n_params] each (grads NULL
                                    after dsq_model_reserve_inference) */
    dsq_model_views p, g;        /* views into params and grads */
    /* Activations, sized by dsq_model_reserve (or _inference). */
    int B, L;
    int act_sets;                /* layer activation sets: n_layers, or 2
                                    when reserved for inference */
    size_t n_acts, n_dacts;
    float *acts, *dacts;         /* device, [n_acts] and [n_dacts] */
    /* da has the layout of a with ONE layer set (da.layers[0]), reused by
     * each layer in turn during the backward, and dalt[2] ([N, H] each)
     * carrying the gradient of layer outputs: dacts stays a small fraction
     * of acts however deep the encoder. */
    dsq_model_acts a, da;
    float *dalt[2];
    /* The last forward's inputs and batch size, for the backward. */
    const float *x_in, *t_in;
    int fwd_B;
    /* Dropout: active when `training`; stream offsets rng_offset + k for
     * k < dsq_model_rng_streams(cfg), so callers advance rng_offset by that
     * much per forward. */
    int training;
    uint64_t seed, rng_offset;
} dsq_model;

/* Builds the parameter table and allocates parameters and gradients
 * (zeroed) on be.  DSQ_EUSAGE on a bad config. */
int dsq_model_create(dsq_model *m, const dsq_model_config *cfg, dsq_backend *be, dsq_err *e);
void dsq_model_destroy(dsq_model *m);

/* The table entry called `name`, or NULL (lm_head.weight is not one). */
const dsq_param_info *dsq_model_param(const dsq_model *m, const char *name);

/* Number of learned parameters as PyTorch counts them (tied weight once). */
size_t dsq_model_num_params(const dsq_model *m);
/* The same for a config, without allocating (config must be valid). */
size_t dsq_model_config_num_params(const dsq_model_config *cfg);

/* PyTorch default initialisation (doc/model-and-training.md §2), from
 * Philox stream `seed`: N(0,1) embeddings, U(±1/sqrt(fan_in)) linear
 * weights and biases (lm_head.bias: fan_in d), LayerNorm ones/zeros,
 * mean_embed N(0, 1/d).
 * Not bit-identical to torch's generator; the distribution is the same. */
void dsq_model_init_params(dsq_model *m, uint64_t seed);

/* Allocates activations for batches of B sequences of length L (grows
 * only).  DSQ_EUSAGE when L exceeds max_pos. */
int dsq_model_reserve(dsq_model *m, int B, int L, dsq_err *e);

/* For decoding: activations of two layers only (layer i overwrites layer
 * i - 2's), no activation gradients, and the parameter gradients freed;
 * the model runs forwards only from then on.  A bert-base batch needs
 * about 1/6 of the memory of dsq_model_reserve's. */
int dsq_model_reserve_inference(dsq_model *m, int B, int L, dsq_err *e);

/* Dropout streams one forward uses. */
uint64_t dsq_model_rng_streams(const dsq_model_config *cfg);

/* The reference's _scale_timesteps: float32 t * (1000 / T). */
float dsq_model_rescale_t(int t, int T);

/* f(x, t): x[B,L,d] and t[B] (rescaled timesteps) on the device; the
 * pointers are kept for the backward.  Needs dsq_model_reserve(B, L)
 * first.  Returns the output [B,L,d] (inside the activations). */
const float *dsq_model_forward(dsq_model *m, const float *x, const float *t, int B, int L);

/* Backward of the last forward for upstream gradient dout[B,L,d]:
 * accumulates parameter gradients into m->grads and, when dx is non-NULL,
 * the input gradient into dx[B,L,d] (+=). */
void dsq_model_backward(dsq_model *m, float *dx, const float *dout);

/* Zeroes m->grads. */
void dsq_model_zero_grad(dsq_model *m);

#endif

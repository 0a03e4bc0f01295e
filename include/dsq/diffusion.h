/* The DiffuSeq training loss (doc/model-and-training.md §3-4) on the
 * backend: x0 draw, partial noising (with the v2 mean embedding and
 * denoising), the mse / decoder_nll / tT terms and their gradients, which
 * flow through x0 into the word embedding (gather and tied lm_head), and
 * the logged masked nll.
 *
 * Noise lives in device buffers that dsq_diffusion_draw_noise fills from
 * Philox streams; tests may fill them instead (dsq_diffusion_set_noise) to
 * compare with the PyTorch re-statement. */
#ifndef DSQ_DIFFUSION_H
#define DSQ_DIFFUSION_H

#include <stdint.h>

#include "diffusion_schedule.h"
#include "err.h"
#include "model.h"

typedef struct {
    int denoise;         /* v2 --denoise (needs the model's mean_embed) */
    float denoise_rate;  /* v2 --denoise_rate */
    float reg_rate;      /* v2 --reg_rate: reg_rate * ||mean_embed||_2 */
} dsq_diffusion_opts;

/* Per-sequence loss terms (unweighted). */
typedef struct {
    float loss;          /* mse + decoder_nll + tT (+ reg) */
    float mse;           /* mean (x0 - out)^2; (x0_mean - out)^2 at t = 0 */
    float decoder_nll;   /* mean over L of CE(logits(x0), ids) */
    float tT;            /* mean (sqrt(abar_{T-1}) x0)^2 */
    float nll;           /* masked mean CE(logits(out), ids); NaN unless asked */
} dsq_seq_terms;

typedef struct {
    dsq_model *m;
    const dsq_schedule *sch;
    dsq_diffusion_opts o;
    float *sa, *s1;      /* host [T]: float32 sqrt(abar), sqrt(1 - abar) */
    float grad_scale;    /* multiplies the backward's gradients (fp16 loss
                            scaling, lib/model/train.c); 1 after init */
    int cap_B, L;
    /* device buffers; [B,L,d] unless stated */
    int32_t *ids;        /* [B, L] */
    float *mask, *dmask; /* [B, L] input mask, denoise replacement mask */
    float *ca, *cb;      /* [B] q_sample coefficients */
    float *tsc;          /* [B] rescaled timesteps */
    float *gseq, *gtok;  /* [B], [B*L] gradient scales */
    float *eps0, *eps;   /* noises of x0 and of x_t */
    float *x0mean, *x0, *xt, *target;
    float *dx0, *dxt, *dout;
    float *mse, *tT, *tok;  /* [B], [B], [B*L] */
    int32_t *nll_rows, *nll_ids;  /* [B*L] target positions and their ids */
    float *nll_z;        /* out's rows at those positions */
    float *h_tok;        /* host [B*L] */
    int32_t *h_rows;     /* host [2*B*L] */
} dsq_diffusion;

/* The options' own checks, for a model with (mean_embed 1) or without a
 * learned mean embedding: --denoise needs one; rates >= 0.  DSQ_EUSAGE.
 * dsq_diffusion_init makes them too. */
int dsq_diffusion_opts_check(const dsq_diffusion_opts *o, int mean_embed, dsq_err *e);

int dsq_diffusion_init(dsq_diffusion *df, dsq_model *m, const dsq_schedule *sch,
                       const dsq_diffusion_opts *o, dsq_err *e);
void dsq_diffusion_free(dsq_diffusion *df);

/* Room for batches of up to B sequences of length L (also reserves the
 * model's activations). */
int dsq_diffusion_reserve(dsq_diffusion *df, int B, int L, dsq_err *e);

/* Streams one dsq_diffusion_draw_noise uses. */
#define DSQ_DIFFUSION_RNG_STREAMS 3

/* Fills eps0 and eps (Philox normal streams off, off+1) and, with
 * --denoise, the replacement mask (uniform stream off+2: position (b, l)
 * is replaced when u < sqrt(1 - abar_t) * denoise_rate). t[B] host. */
void dsq_diffusion_draw_noise(dsq_diffusion *df, const int *t, int B, int L,
                              uint64_t seed, uint64_t off);

/* Host noises instead ([B,L,d] each; dmask [B,L] may be NULL = none). */
void dsq_diffusion_set_noise(dsq_diffusion *df, const float *eps0, const float *eps,
                             const float *dmask, int B, int L);

/* One microbatch: ids[B,L], mask[B,L] (0 source, 1 target), t[B] and
 * importance weights w[B], all host.  Fills terms[B].  want_nll computes
 * the logged nll (one more vocabulary pass).  backward accumulates into
 * the model's gradients the gradient of mean_b(w_b * loss_b).  Returns
 * mean_b(w_b * loss_b).  The model's training flag and rng_offset are the
 * caller's. */
double dsq_diffusion_loss(dsq_diffusion *df, const int32_t *ids, const uint8_t *mask,
                          const int *t, const float *w, int B, int L, int want_nll,
                          int backward, dsq_seq_terms *terms);

#endif

/* Decoding: the samplers of dsq-sample (doc/sampling.md).
 *
 * A sampler turns a batch of packed examples (ids, input mask) into
 * generated ids: start from noise on the target positions with the source
 * anchored, run the model for a sequence of steps, and take the argmax of
 * the logits of the last state.  The step plan (lib/model/sample_plan.c) fixes,
 * for every sampler, which model times are visited and the float32
 * coefficients of each update; lib/model/sample.c runs it.
 *
 * Where things live: the model (and the rounding / logits GEMMs) run on the
 * model's backend; the sampler state x [B, L, d] and the per-position
 * updates are host arrays (one upload and one download of B·L·d floats per
 * model call: small next to the forward).
 *
 * Randomness: every draw of example `index` comes from Philox keyed by
 * (seed, index) (dsq_sample_example_key), with the purpose, step and redraw
 * number in the stream offset, so the output for an example depends only on
 * the seed and its index: not on batch size, thread count or its neighbours.
 * Tests inject their own draws through dsq_sampler.draw. */
#ifndef DSQ_SAMPLE_H
#define DSQ_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "diffusion_schedule.h"
#include "err.h"
#include "model.h"

typedef enum {
    DSQ_SAMPLER_DDPM,      /* full chain (steps = T) or respaced DDPM */
    DSQ_SAMPLER_DDIM_GAP,  /* the reference's --step S < T path, quirk included */
    DSQ_SAMPLER_DDIM,      /* DDIM (eta 0) respaced to S steps, correctly */
    DSQ_SAMPLER_DPMPP,     /* textbook multistep DPM-Solver++(2M), anchored */
    DSQ_SAMPLER_DPMPP_V2,  /* the DiffuSeq-v2 script's variant */
} dsq_sampler_kind;

/* "ddpm" "ddim-gap" "ddim" "dpm++" "dpm++v2"; 0 and *k, or -1. */
int dsq_sampler_parse(const char *name, dsq_sampler_kind *k);
const char *dsq_sampler_name(dsq_sampler_kind k);

/* Top-p redraws of a row's step noise stop after this many rounds; a
 * component still outside ±top_p then is clamped to it.  The reference
 * redraws without end (and takes only integer top_p, <= 0 off).  At
 * DSQ_TOP_P_MIN, the smallest value dsq-sample takes, a draw lands inside
 * with probability erf(0.05/sqrt 2) = 0.040, so a component is still
 * outside after the last round with probability 0.96^1000 < 2e-18: the
 * clamp is a bound on the time, not a change of the distribution. */
#define DSQ_TOP_P_ROUNDS 1000
#define DSQ_TOP_P_MIN 0.05

typedef struct {
    dsq_sampler_kind kind;
    int steps;          /* S model calls; 0 = the sampler's default (T for
                           ddpm, 10 for dpm++ / dpm++v2; required otherwise) */
    int round;          /* rounding to the nearest embedding (reference: on) */
    int clamp_step;     /* rounding only when i >= clamp_step (clamp_first) */
    int clamp_first;    /* 0: rounding only when i <= clamp_step instead */
    int clip_denoised;  /* clamp x̂0 to [-1, 1] after rounding */
    float top_p;        /* > 0: noise components redrawn until |z| <= top_p,
                           at most DSQ_TOP_P_ROUNDS rounds (see below) */
    float denoise_rate; /* v2 discrete denoise noise (ddpm; 0 = off) */
    int mean_start;     /* v2: start the ddpm chain from x + m·M (needs mean_embed) */
    int order;          /* dpm++: 1 or 2 */
    uint64_t seed;
    size_t act_budget;  /* bytes of model activations (0: 1 GiB); the forward
                           runs on as many rows at a time as fit */
} dsq_sample_opts;

/* Reference defaults: ddpm, full chain, rounding every step, no clipping,
 * order 2, seed 101 (the reference decoding's --seed). */
void dsq_sample_opts_default(dsq_sample_opts *o);

/* One step of a plan.  Coefficients are float32 as the reference's
 * _extract_into_tensor rounds them. */
typedef struct {
    int index;          /* discrete timestep (original numbering); -1 for dpm */
    float tmodel;       /* model time input (rescaled timestep) */
    int round;          /* round x̂0 in this step */
    /* ddpm: x = c1·x̂0 + c2·x + sd·z (+ denoise with probability pden) */
    float c1, c2, sd, pden;
    /* ddim: ε = (ra·x − x̂0)/rm1, x = sp·x̂0 + sq·ε */
    float ra, rm1, sp, sq;
    /* dpm++ update to this step's time (k ≥ 1): x = ratio·x + cm·m1 + cd·(m1 − m2),
     * cd = 0 for a first-order step */
    float ratio, cm, cd;
} dsq_sample_step;

/* A sampler's plan for schedule sch.  dpm plans have steps + 1 entries:
 * entry 0 holds the first model time only; entry k ≥ 1 the update from
 * t_{k−1} to t_k and (for k < steps) the model time of t_k. */
typedef struct {
    dsq_sampler_kind kind;
    int n;              /* entries */
    int calls;          /* model calls */
    dsq_sample_step *step;
} dsq_sample_plan;

int dsq_sample_plan_make(dsq_sample_plan *p, const dsq_schedule *sch, const dsq_sample_opts *o,
                         dsq_err *e);
void dsq_sample_plan_free(dsq_sample_plan *p);

/* The timesteps SpacedDiffusion keeps for S of T steps (space_timesteps
 * with one section): round(i·(T−1)/(S−1)) accumulated as Python does
 * (round half to even), i = 0..S−1.  kept[S]. */
void dsq_sample_spaced_timesteps(int T, int S, int *kept);

/* Philox key of example `index` under `seed` (splitmix64 of both). */
uint64_t dsq_sample_example_key(uint64_t seed, int64_t index);

/* What one random draw is for. */
enum { DSQ_DRAW_START = 0, DSQ_DRAW_STEP = 1, DSQ_DRAW_DENOISE = 2 };
typedef struct {
    int purpose;        /* DSQ_DRAW_*: START and STEP normal, DENOISE uniform */
    int step;           /* plan entry (0 for START) */
    int redraw;         /* top-p redraw round (0 first) */
    int b;              /* row in the batch */
    int64_t index;      /* example index */
} dsq_draw;
/* Fills out[n] (n = L·d for normal draws, L for DENOISE). */
typedef void (*dsq_draw_fn)(void *ctx, const dsq_draw *d, float *out, size_t n);

/* The default draws: element j of Philox stream (key, off) with
 * key = dsq_sample_example_key(seed, index) and
 * off = purpose << 56 | redraw << 32 | step (normal mapping of philox.h;
 * uniforms by dsq_philox_uniform). ctx points to the uint64_t seed. */
void dsq_sample_philox_draw(void *ctx, const dsq_draw *d, float *out, size_t n);

typedef struct dsq_sampler dsq_sampler;

/* Called after every plan entry that changes x (host x [B, L, d]). */
typedef void (*dsq_trace_fn)(void *ctx, int entry, const float *x, int B, int L, int d);

/* A sampler for model m (parameters loaded) and schedule sch; keeps
 * pointers to both.  Batches up to B_max rows of length L. */
int dsq_sampler_create(dsq_sampler **out, dsq_model *m, const dsq_schedule *sch,
                       const dsq_sample_opts *o, int B_max, int L, dsq_err *e);
void dsq_sampler_free(dsq_sampler *s);
const dsq_sample_plan *dsq_sampler_plan(const dsq_sampler *s);
/* Replace the draws (tests) and observe the states. */
void dsq_sampler_set_draw(dsq_sampler *s, dsq_draw_fn fn, void *ctx);
void dsq_sampler_set_trace(dsq_sampler *s, dsq_trace_fn fn, void *ctx);
/* Called after every model call with (ctx, calls done, calls total); a
 * non-zero return stops the run (dsq_sampler_run fails with DSQ_EFAIL
 * "interrupted"). */
typedef int (*dsq_progress_fn)(void *ctx, int done, int total);
void dsq_sampler_set_progress(dsq_sampler *s, dsq_progress_fn fn, void *ctx);

/* Decodes B ≤ B_max examples: ids/mask [B, L] (mask 0 = source), index[B]
 * their example indices; writes tokens[B, L] (the argmax over the whole
 * row; callers decode the target region). */
int dsq_sampler_run(dsq_sampler *s, const int32_t *ids, const uint8_t *mask,
                    const int64_t *index, int B, int32_t *tokens, dsq_err *e);

/* ---- vocabulary searches (lib/model/sample_round.c) ---------------------------
 * Chunked over rows and vocabulary: a [rows, chunk] block of scores is the
 * most ever held, never [N, V].  z[N, d], E[V, d] (the word embedding),
 * enorm[V] = ‖E_v‖² and bias[V] on the device; tok[N] on the host (the
 * only thing downloaded). */
typedef struct {
    dsq_backend *be;
    int rows, chunk;    /* block shape */
    float *scores;      /* device [rows, chunk] */
    float *best;        /* device [rows]: running best value (row_best) */
    int32_t *idx;       /* device [rows]: its vocabulary index */
} dsq_vocab_search;

void dsq_vocab_search_init(dsq_vocab_search *s, dsq_backend *be, int rows, int chunk);
void dsq_vocab_search_free(dsq_vocab_search *s);
/* tok[n] = argmin_v ‖E_v‖² − 2 z_n·E_v (nearest embedding by L2). */
void dsq_vocab_nearest(dsq_vocab_search *s, int32_t *tok, const float *z, const float *E,
                       const float *enorm, int N, int d, int V);
/* tok[n] = argmax_v z_n·E_v + bias_v (the logits' argmax; lowest id on ties). */
void dsq_vocab_argmax(dsq_vocab_search *s, int32_t *tok, const float *z, const float *E,
                      const float *bias, int N, int d, int V);

#endif

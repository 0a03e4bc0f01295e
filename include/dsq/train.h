/* One DiffuSeq training step (doc/model-and-training.md §5-6): schedule
 * sampling, microbatch losses with gradients ADDED over the microbatches
 * (not divided), global-norm clipping, linear learning-rate annealing,
 * PyTorch AdamW and the EMA list.  The trainer owns the optimiser moments
 * and EMA copies (device buffers shaped like the parameters). */
#ifndef DSQ_TRAIN_H
#define DSQ_TRAIN_H

#include <stdint.h>

#include "diffusion.h"
#include "dist.h"
#include "model.h"
#include "schedule_sampler.h"

#define DSQ_MAX_EMA 8

typedef struct {
    float lr;              /* --lr */
    int64_t learning_steps;/* --learning_steps (0: no annealing) */
    float weight_decay;    /* --weight_decay */
    float grad_clip;       /* --gradient_clipping (<= 0: off) */
    int microbatch;        /* --microbatch */
    int n_ema;
    float ema[DSQ_MAX_EMA];/* --ema_rate, comma-separated in the reference */
    uint64_t seed;         /* RNG key of t draws, noises and dropout */
    int precision;         /* DSQ_PREC_*: GEMM arithmetic (the backend's
                              set_precision); fp16 adds loss scaling */
} dsq_train_opts;

/* fp16 dynamic loss scaling, as the reference's TrainLoop with use_fp16:
 * the loss is multiplied by 2^lg_loss_scale before the backward; a
 * non-finite gradient skips the update (the step still counts) and lowers
 * lg_loss_scale by 1, a finite one is unscaled and applied and raises it by
 * DSQ_FP16_SCALE_GROWTH.  Parameters, moments, EMA and losses stay fp32. */
#define DSQ_FP16_INITIAL_LG_LOSS_SCALE 20.0
#define DSQ_FP16_SCALE_GROWTH 1e-3

/* Sums over the sequences of a step (or a log interval) of the
 * importance-weighted terms, as the reference's log_loss_dict logs them
 * (value * weight), and per quarter of t. */
typedef struct {
    double n;               /* sequences */
    double loss, mse, decoder_nll, tT;
    double nll, n_nll;      /* nll is summed over sequences where it was computed */
    double q_loss[4], q_n[4];
    double grad_norm, n_steps;
    double tokens;
} dsq_train_stats;

typedef struct {
    dsq_model *m;
    dsq_diffusion *df;
    dsq_tsampler *ts;
    dsq_train_opts o;
    float *adam_m, *adam_v;     /* device [n_params] */
    float *ema[DSQ_MAX_EMA];    /* device [n_params] each */
    float *scratch;             /* device, 1 float */
    int64_t step;               /* steps done (fp16: skipped ones included) */
    int64_t updates;            /* AdamW steps applied (= step but in fp16) */
    double lg_loss_scale;       /* fp16: log2 of the loss scale */
    float last_lr;
    /* Data parallel (set after init; NULL = one process): each rank takes
     * its shard of every batch, gradients are averaged over the ranks. */
    const dsq_dist *dist;
    float *host_grads;          /* host [n_params], staging for the sum */
    int device_sum;             /* 1: summed by the backend (comm_sum: NCCL) */
} dsq_trainer;

/* Collective, after tr->dist is set: how the ranks' gradients are summed.
 * On the device (the backend's comm_sum, NCCL) when there are 2+ ranks,
 * every rank's backend has one and the environment does not say
 * DSQ_NCCL=0; through host memory and MPI (dsq_dist_sum_float) otherwise.
 * Non-zero, with e set, when setting up the device communicator fails. */
int dsq_trainer_connect(dsq_trainer *tr, dsq_err *e);
/* "nccl 2.28.3" (the backend's comm_name), "mpi" or "none" (one rank). */
const char *dsq_trainer_grad_sum(const dsq_trainer *tr);

/* EMA copies start from the current parameters. */
int dsq_trainer_init(dsq_trainer *tr, dsq_model *m, dsq_diffusion *df, dsq_tsampler *ts,
                     const dsq_train_opts *o, dsq_err *e);
void dsq_trainer_free(dsq_trainer *tr);

/* Learning rate of update number `step` (0-based): lr (1 - step / steps). */
float dsq_trainer_lr(const dsq_trainer *tr, int64_t step);

/* Philox stream offsets of microbatch `micro` of update `step`. */
uint64_t dsq_trainer_rng_offset(const dsq_trainer *tr, int64_t step, int micro);

/* The parts of a step, for tests that supply their own t and noises:
 * zero the gradients; one microbatch (noises already in df, t/w given;
 * its per-sequence terms into terms[B] unless NULL);
 * the update (clip, anneal, AdamW, EMA; step += 1), which returns -1 and
 * changes nothing when the gradient norm is not finite.  In fp16 the
 * microbatches' gradients are scaled by 2^lg_loss_scale (df->grad_scale,
 * set by dsq_trainer_begin) and the update unscales them; a non-finite
 * norm there returns 1: skipped, lg_loss_scale - 1, step += 1 (-1 as in
 * fp32 once the scale is 1 or less: no overflow to blame). */
void dsq_trainer_begin(dsq_trainer *tr);
void dsq_trainer_micro(dsq_trainer *tr, const int32_t *ids, const uint8_t *mask, const int *t,
                       const float *w, int B, int L, int want_nll, dsq_seq_terms *terms,
                       dsq_train_stats *st);
int dsq_trainer_update(dsq_trainer *tr, dsq_train_stats *st);

/* A whole step on a batch of B sequences (B a multiple of the
 * microbatch): draws t, noises and dropout from (seed, step, microbatch).
 * With tr->dist of size W, ids/mask are the GLOBAL batch (the same on every
 * rank), rank r runs rows [r B/W, (r+1) B/W) as microbatches numbered
 * globally (so the draws are the single-process run's), the loss-aware
 * history takes every rank's (t, loss) pairs in rank order after each
 * round of microbatches, gradients are summed over microbatches and
 * averaged over ranks, and the stats are the global ones.  B/W must be a
 * multiple of the microbatch (or smaller than it).
 * Stats are added to st.  Returns the mean weighted loss of the batch, or
 * NaN, without updating anything (st untouched, step not advanced), when
 * the loss or the gradient norm is not finite (fp16: a non-finite gradient
 * skips the update instead, see dsq_trainer_update; the loss is returned). */
double dsq_trainer_step(dsq_trainer *tr, const int32_t *ids, const uint8_t *mask, int B,
                        int L, int want_nll, dsq_train_stats *st);

/* Forward-only losses of a batch (validation): no gradients, no schedule-
 * sampler update, dropout off; t drawn from stream `off` of `seed`. */
void dsq_trainer_eval(dsq_trainer *tr, const int32_t *ids, const uint8_t *mask, int B, int L,
                      uint64_t off, dsq_train_stats *st);

#endif

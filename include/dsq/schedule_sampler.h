/* Schedule samplers (doc/model-and-training.md §5): how t is drawn for
 * each sequence and the importance weight its loss gets.  Host-side.
 *
 * Draws are numpy.random.choice's inverse-CDF rule on a Philox uniform:
 * element i of draw (seed, off) is the first t with u_i < cdf[t] (cdf the
 * running sum of p, divided by its total), u_i a 53-bit double from block
 * i of the stream.  The draw depends only on (seed, off, i) and the
 * sampler's weights, so a resumed run draws what the straight run would.
 * (dsq_tsampler: the sampler of training steps t; sample.h's dsq_sampler
 * is the decoding one.) */
#ifndef DSQ_SCHEDULE_SAMPLER_H
#define DSQ_SCHEDULE_SAMPLER_H

#include <stdint.h>

#include "err.h"

typedef enum { DSQ_TSAMPLER_UNIFORM, DSQ_TSAMPLER_LOSSAWARE, DSQ_TSAMPLER_FIXSTEP } dsq_tsampler_kind;

#define DSQ_LOSSAWARE_HISTORY 10
#define DSQ_LOSSAWARE_UNIFORM_PROB 0.001

typedef struct {
    dsq_tsampler_kind kind;
    int T;
    /* lossaware: the last DSQ_LOSSAWARE_HISTORY losses per t (oldest
     * first), [T * HISTORY], and how many each t holds, [T] */
    double *history;
    int32_t *counts;
    double *w, *cdf;  /* scratch [T] */
} dsq_tsampler;

/* name: uniform | lossaware | fixstep.  DSQ_EUSAGE otherwise. */
int dsq_tsampler_init(dsq_tsampler *s, const char *name, int T, dsq_err *e);
void dsq_tsampler_free(dsq_tsampler *s);

/* The (unnormalised) weights of every t, into w[T]. */
void dsq_tsampler_weights(const dsq_tsampler *s, double *w);

/* n draws: t[n] and importance weights wt[n] = 1 / (T p_t) (float32 as
 * the reference's .float()). */
void dsq_tsampler_sample(dsq_tsampler *s, int n, uint64_t seed, uint64_t off, int *t,
                        float *wt);

/* lossaware: push (t[i], loss[i]) in order (no-op for the others). */
void dsq_tsampler_update(dsq_tsampler *s, const int *t, const double *loss, int n);

/* 1 when every t holds a full history (always 1 for non-lossaware). */
int dsq_tsampler_warmed_up(const dsq_tsampler *s);

#endif

/* BERTScore as the bert_score package computes it (bert_score.score with
 * rescale_with_baseline off; doc/metrics.md §3), on a dsq_bert encoder.
 *
 * Per pair: the texts are encoded as bert_score's sent_encode does (strip,
 * [CLS] ... [SEP], truncation at the model's maximum length); the chosen
 * layer's output vectors are L2-normalised per token; sim = hyp . ref^T;
 * P = sum_i w_i max_j sim_ij, R = sum_j w_j max_i sim_ij with the weights of
 * each side normalised to sum 1; F = 2PR/(P+R).  Weights: 1 per token and
 * 0 for [CLS]/[SEP] (idf off), or idf(t) = ln((M+1)/(df(t)+1)) over the M
 * references (idf on; [CLS]/[SEP] then get 0 since every reference holds
 * them).  Special tokens stay candidates in the max.  A side with only
 * [CLS]/[SEP] gives P = R = F = 0; a side whose weights sum to 0 otherwise
 * (bert_score: NaN) gives 0 as well, and F = 0 whenever it is not a number.
 *
 * bert_score matches the pairs in groups of batch_size (64) consecutive
 * pairs, padded with zero similarities: a hypothesis token's max then also
 * sees 0 when its reference is shorter than the longest reference of the
 * group (and likewise for recall), which shows when all its similarities
 * are negative.  `group` reproduces that (the groups are fixed by the
 * input order, not by how dsq batches its encoder); group 1 is the plain
 * definition.  The encoder uses BERT's attention mask, so no value depends
 * on dsq's own batching or padding. */
#ifndef DSQ_BERTSCORE_H
#define DSQ_BERTSCORE_H

#include <stddef.h>

#include "bert.h"
#include "err.h"

typedef struct {
    int layer;        /* the output of this layer is used (0 = embeddings) */
    int idf;          /* idf weights over the references */
    int group;        /* bert_score's batch_size for the matching (64) */
    int batch;        /* most sentences per forward (64) */
    int max_tokens;   /* most padded positions per forward */
    /* Called after each forward with sentences done / total (may be NULL). */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
} dsq_bertscore_opts;

void dsq_bertscore_opts_default(dsq_bertscore_opts *o);

/* Scores n pairs (hyp[i], ref[i]) into P[n], R[n], F[n].  Texts are UTF-8
 * of the given lengths.  Errors: DSQ_EUSAGE for a layer out of range,
 * DSQ_EDATA for invalid UTF-8 ("hypothesis 12: ..."). */
int dsq_bertscore(dsq_bert *m, const dsq_bertscore_opts *o, char *const *hyp,
                  const size_t *hyp_len, char *const *ref, const size_t *ref_len, size_t n,
                  double *P, double *R, double *F, dsq_err *e);

/* bert_score's rescale_with_baseline: row `layer` (the layer-th data row,
 * pandas' iloc) of a baseline file as the package ships them
 * (rescale_baseline/<lang>/<model>.tsv: a "LAYER,P,R,F" header, then one
 * comma-separated row per layer from 0) into base[P, R, F] as float32.
 * Errors: DSQ_EIO unreadable, DSQ_EDATA malformed or too few rows
 * (file:line and what to do). */
int dsq_bertscore_read_baseline(const char *path, int layer, float base[3], dsq_err *e);
/* x[i] <- (x[i] - b) / (1 - b) in float32 arithmetic, as bert_score
 * rescales its float32 scores. */
void dsq_bertscore_rescale(double *x, size_t n, float b);

/* The greedy matching of one pair from L2-normalised embeddings eh[lh, H]
 * and er[lr, H] with weights wh[lh], wr[lr] (normalised here), including
 * the rules for empty sides above (a side of 2 tokens is [CLS] [SEP]).
 * pad_r / pad_h: the reference / hypothesis was padded in its group, so
 * precision / recall maxima include a 0.  Exposed for tests. */
void dsq_bertscore_pair(const float *eh, int lh, const float *wh, const float *er, int lr,
                        const float *wr, int H, int pad_r, int pad_h, double *P, double *R,
                        double *F);

#endif

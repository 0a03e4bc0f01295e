/* Sentence- and corpus-level text metrics, bit-exact with the DiffuSeq
 * evaluation script (doc/metrics.md): nltk 3.8 sentence BLEU (method4),
 * torchmetrics ROUGE-L F, dist-1, numpy's pairwise mean; and sacreBLEU's
 * corpus BLEU / chrF for quoting next to MT papers. */
#ifndef DSQ_METRICS_H
#define DSQ_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "strutil.h"

typedef struct {
    dsq_span *tok;
    size_t n, cap;
} dsq_tokens;

void dsq_tokens_free(dsq_tokens *t);

/* Python str.split(): runs of Unicode whitespace (doc/metrics.md §0),
 * empty fields dropped. Replaces the contents of out. */
void dsq_split_ws(const char *s, size_t n, dsq_tokens *out);

/* Python `len(s.split(' '))`: single-space fields, empties counted. */
size_t dsq_count_space_fields(const char *s, size_t n);

/* An n-gram context interns tokens and n-grams to exact integer ids.
 * Sentences prepared in the same context (since its last reset) can be
 * compared; BLEU between them is then a merge of sorted integer arrays.
 * Typical use: one context per thread, reset per example (its reference
 * and k candidates). Not thread-safe. */
typedef struct dsq_ngram_ctx dsq_ngram_ctx;
dsq_ngram_ctx *dsq_ngram_ctx_new(void);
void dsq_ngram_ctx_reset(dsq_ngram_ctx *c);  /* invalidates its sentences */
void dsq_ngram_ctx_free(dsq_ngram_ctx *c);

/* A sentence prepared for repeated BLEU: its 1..4-gram multisets as
 * (id, count) runs sorted by id. Comparing sentences of different contexts
 * (or generations) is a fatal internal error. The token strings may be
 * freed after dsq_bleu_prepare. */
typedef struct dsq_bleu_sent dsq_bleu_sent;
dsq_bleu_sent *dsq_bleu_prepare(dsq_ngram_ctx *c, const dsq_tokens *toks);
void dsq_bleu_sent_free(dsq_bleu_sent *p);
/* Token count of a prepared sentence. */
size_t dsq_bleu_sent_len(const dsq_bleu_sent *s);

/* nltk 3.8 sentence_bleu([ref], hyp, weights ¼×4, method4), exactly.
 * NB the script's get_bleu(recover, reference) calls
 * sentence_bleu([recover.split()], reference.split()): nltk's HYPOTHESIS is
 * the script's `reference` argument.  So the script's score of a recover
 * against its reference is dsq_sentence_bleu(hyp = reference, ref = recover),
 * and MBR's M[a][b] = get_bleu(c_a, c_b) = dsq_sentence_bleu(c_b, c_a). */
double dsq_sentence_bleu(const dsq_bleu_sent *hyp, const dsq_bleu_sent *ref);
/* Both directions from one set of clipped matches (they are symmetric):
 * *bleu_ab = dsq_sentence_bleu(a, b), *bleu_ba = dsq_sentence_bleu(b, a). */
void dsq_bleu_pair(const dsq_bleu_sent *a, const dsq_bleu_sent *b, double *bleu_ab,
                   double *bleu_ba);
/* Convenience on raw strings (splits with dsq_split_ws). */
double dsq_sentence_bleu_str(const char *hyp, size_t hn, const char *ref, size_t rn);

/* torchmetrics ROUGEScore() rougeL_fmeasure, rounded to float32 and
 * widened back (doc/metrics.md §2). */
double dsq_rouge_l_str(const char *hyp, size_t hn, const char *ref, size_t rn);

/* dist-1 of one sentence: unique tokens / tokens (0 when none). */
double dsq_distinct1(const dsq_tokens *toks);
/* Distinct n-grams / all n-grams pooled over k tokenised sentences (n-grams
 * never span two sentences); 0 when there are none.  div-4 of
 * doc/metrics.md §4 is dsq_div_n(cands, k, 4); dsq_distinct1(t) is
 * dsq_div_n(t, 1, 1). */
double dsq_div_n(const dsq_tokens *sents, size_t k, int n);
/* The self-BLEU half of the script's diversityOfSet over k sentences
 * prepared in one context: the mean over a < b (a-major order) of
 * BLEU(hyp = c_b, ref = c_a); 0 when k < 2.  Its div-4 half is
 * dsq_div4_prepared.  work: k*(k-1)/2 doubles (at least 1). */
double dsq_self_bleu(dsq_bleu_sent *const *c, size_t k, double *work);
/* div-4 from k sentences prepared in one context: the same value as
 * dsq_div_n(tokens, k, 4), from ids instead of strings. */
double dsq_div4_prepared(dsq_bleu_sent *const *c, size_t k);
/* dist-1 of a prepared sentence: the same value as dsq_distinct1(tokens). */
double dsq_distinct1_prepared(const dsq_bleu_sent *s);

/* numpy.mean: pairwise summation (8 lanes, blocks of 128) then / n. */
double dsq_np_mean(const double *x, size_t n);
/* numpy's pairwise sum alone (used for MBR row sums). */
double dsq_np_sum(const double *x, size_t n);

/* Script cleaning (doc/metrics.md §0): strip, then remove markers by
 * plain substring replacement. Returns a malloc'ed string. */
typedef enum { DSQ_CLEAN_SOURCE, DSQ_CLEAN_REFERENCE, DSQ_CLEAN_RECOVER } dsq_clean_field;
typedef struct {
    const char *sos, *eos, *sep, *pad;  /* "[CLS]" "[SEP]" "[SEP]" "[PAD]" */
} dsq_markers;
extern const dsq_markers DSQ_MARKERS_DEFAULT;
char *dsq_clean(const char *s, size_t n, dsq_clean_field field, const dsq_markers *m, size_t *out_len);

/* sacreBLEU 2.x corpus BLEU (tokenize 13a, smooth exp, one reference
 * stream, lowercase off) and chrF (char order 6, word order 0, beta 2). */
typedef struct {
    double score;        /* 0..100 as sacrebleu prints */
    double precisions[4];
    double bp, ratio;
    int64_t sys_len, ref_len;
    char signature[128]; /* e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0" */
} dsq_sacrebleu;
void dsq_corpus_bleu_13a(const char *const *hyps, const size_t *hlens,
                         const char *const *refs, const size_t *rlens,
                         size_t n, dsq_sacrebleu *out);
typedef struct {
    double score;        /* 0..100 */
    char signature[128];
} dsq_chrf;
void dsq_corpus_chrf(const char *const *hyps, const size_t *hlens,
                     const char *const *refs, const size_t *rlens,
                     size_t n, dsq_chrf *out);

#endif

/* Private to the metrics code and its tests: the pieces of sentence BLEU
 * that sacreBLEU's corpus BLEU and the exactness tests reuse. */
#ifndef DSQ_BLEU_INTERNAL_H
#define DSQ_BLEU_INTERNAL_H

#include <stdint.h>

#include "metrics.h"

/* Clipped n-gram matches m[n-1] = Σ_g min(count_hyp(g), count_ref(g)),
 * n = 1..4 (0 where the hypothesis is shorter than n). */
void dsq_bleu_matches(const dsq_bleu_sent *hyp, const dsq_bleu_sent *ref, int64_t m[4]);

/* nltk's score from the integer statistics (doc/metrics.md §1): matches
 * m, hypothesis and reference lengths. */
double dsq_bleu_from_counts(const int64_t m[4], int64_t hyp_len, int64_t ref_len);

/* The exact id of the pair (prefix id, last id) in the context: how
 * n-grams of order n > 1 are interned. chrF uses it for character n-grams
 * (prefix DSQ_NGRAM_NO_PREFIX for single characters). */
#define DSQ_NGRAM_NO_PREFIX 0xFFFFFFFFu
uint32_t dsq_ngram_intern_pair(dsq_ngram_ctx *c, uint32_t prefix, uint32_t last);
/* Ids handed out since the last reset (all ids are below this). */
uint32_t dsq_ngram_ctx_ids(const dsq_ngram_ctx *c);

/* Python math.fsum: the correctly rounded sum of x[0..n). */
double dsq_fsum(const double *x, int n);

/* sacreBLEU's 13a tokenisation of one line as BLEU applies it (rstrip,
 * Tokenizer13a), returned as ' '.join(tokens) in a malloc'ed string. */
char *dsq_tokenize_13a(const char *s, size_t n, size_t *out_len);

/* Token hashes are and-ed with this before use (default all ones).  Tests
 * set it to a few bits to force collisions and check that equal hashes of
 * different tokens never merge. */
extern uint64_t dsq_bleu_hash_mask;

#endif

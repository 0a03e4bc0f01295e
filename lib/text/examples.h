/* The examples record of a tensor stream (man 5 dsq-stream): packed
 * sequences made by dsq-tokenize and read by dsq-train / dsq-sample.
 *
 *   input_ids   I32 [n, L]  packed ids (doc/model-and-training.md §1)
 *   input_mask  U8  [n, L]  0 on source + separator, 1 on target + padding
 *   index       I64 [n]     0-based position of the example in the input
 *   has_target  U8  [n]     0 for source-only inputs (target region empty)
 *
 * metadata: dsq_kind=examples, seq_len, and the tokenizer identity
 * (dsq_tokenizer_meta below). */
#ifndef DSQ_EXAMPLES_H
#define DSQ_EXAMPLES_H

#include <stdint.h>

#include "err.h"
#include "tensor.h"
#include "tokenizer.h"

/* Writes tokenizer, vocab_size, vocab_digest and the special ids. */
void dsq_tokenizer_meta(dsq_record *r, const dsq_tokenizer *tok);

/* Checks that r was made with this tokenizer (kind, size, digest); the
 * message names `where` and both vocabularies. */
int dsq_check_tokenizer_meta(const dsq_record *r, const dsq_tokenizer *tok,
                             const char *where, dsq_err *e);

/* A validated, read-only view of an examples record. */
typedef struct {
    int64_t n, seq_len;
    const int32_t *input_ids;    /* [n, seq_len] */
    const uint8_t *input_mask;   /* [n, seq_len] */
    const int64_t *index;        /* [n] */
    const uint8_t *has_target;   /* [n] */
} dsq_examples;

/* Validates kind, shapes, dtypes, seq_len metadata, ids < vocab_size
 * (when vocab_size > 0) and the mask's form (zeros then ones, at least
 * one zero). */
int dsq_examples_view(const dsq_record *r, int64_t vocab_size, dsq_examples *v,
                      const char *where, dsq_err *e);

/* Source length of row i: the number of mask-0 positions. */
int64_t dsq_examples_src_len(const dsq_examples *v, int64_t i);

#endif

/* dsq-tokenize's encode pipeline: JSONL (or plain text) → examples records
 * of a tensor stream, multi-threaded with output identical for any thread
 * count (lines are read in order, tokenised in parallel into fixed row
 * slots, written in order). */
#ifndef DSQ_ENCODE_H
#define DSQ_ENCODE_H

#include "err.h"
#include "jsonl.h"
#include "stream.h"
#include "tokenizer.h"
#include "wordvocab.h"

typedef struct {
    const char *src_field;  /* "src" */
    const char *trg_field;  /* "trg"; missing or null → source-only row */
    int plain_text;         /* input is one source sentence per line */
    int seq_len;            /* L */
    int rows_per_record;    /* rows per stream record (memory bound) */
    int threads;            /* 0 = OpenMP default */
} dsq_encode_opts;

/* Encodes every line of `in` into records on `out`. On error nothing more
 * is written and the caller must not close the stream cleanly.
 * *n_examples (optional) receives the number of examples written. */
int dsq_encode_examples(dsq_jsonl_reader *in, dsq_stream_writer *out,
                        const dsq_tokenizer *tok, const dsq_encode_opts *opts,
                        long *n_examples, dsq_err *e);

/* --build-vocab: counts the words of the source and target fields (the
 * source only with plain_text) of every line into w. */
int dsq_count_words(dsq_jsonl_reader *in, dsq_wordcount *w, const dsq_encode_opts *opts,
                    dsq_err *e);

#endif

/* Training examples in memory: a whole examples stream (man 5 dsq-stream)
 * read and checked against the vocabulary, and the per-epoch shuffled
 * order dsq-train draws batches from. */
#ifndef DSQ_TRAIN_DATA_H
#define DSQ_TRAIN_DATA_H

#include <stdint.h>

#include "err.h"
#include "tokenizer.h"

typedef struct {
    int64_t n;
    int L;
    int32_t *ids;     /* [n, L] */
    uint8_t *mask;    /* [n, L] */
} dsq_train_data;

/* Reads every examples record of the stream at path ("-" = stdin).  When
 * tok is non-NULL each record's tokenizer metadata must match it (kind,
 * size, digest); ids must be below vocab_size.  Every example must have a
 * target.  DSQ_EDATA / DSQ_EIO with the file and record named. */
int dsq_train_data_load(dsq_train_data *d, const char *path, const dsq_tokenizer *tok,
                        int64_t vocab_size, dsq_err *e);
void dsq_train_data_free(dsq_train_data *d);

/* The tokenizer kind named in the first record's metadata of the stream
 * at path ("wordpiece" / "word"), for loading --vocab the same way. */
int dsq_train_data_peek_kind(const char *path, dsq_tok_kind *kind, dsq_err *e);

/* Standard input ("-") is read into memory once and can then be opened
 * again; this frees that copy. */
void dsq_train_data_release_stdin(void);

/* perm[n]: the example order of `epoch`, a Fisher-Yates shuffle driven by
 * Philox stream (seed, epoch): the same for a resumed run. */
void dsq_train_data_order(int64_t n, uint64_t seed, int64_t epoch, int64_t *perm);

#endif

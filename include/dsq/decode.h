/* dsq-tokenize --decode: tensor stream → JSONL text.
 *
 *   examples records → {"reference": ..., "source": ...}, the strings
 *     dsq-sample writes for the same rows (source = ids before the target,
 *     reference = the target with trailing [PAD] stripped);
 *   ids records (dsq_kind=ids: `ids` I32 [n, L], optional `input_mask`)
 *     → {"recover": ...} (target region when a mask is present), or
 *     {"text": ...} for whole rows without a mask.
 * Records must carry the given tokenizer's digest. */
#ifndef DSQ_DECODE_H
#define DSQ_DECODE_H

#include <stdio.h>

#include "err.h"
#include "stream.h"
#include "tokenizer.h"

int dsq_decode_stream(dsq_stream_reader *in, const char *in_name, FILE *out,
                      const dsq_tokenizer *tok, dsq_join join, long *n_rows, dsq_err *e);

#endif

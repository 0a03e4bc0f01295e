/* What bert.c takes from bert_config.c: the model directory's config.json
 * and tokenizer files.  Not a public header. */
#ifndef DSQ_BERT_INTERNAL_H
#define DSQ_BERT_INTERNAL_H

#include "bert.h"

/* The tokenizer bert_score would load from dir for c's architecture;
 * lowers c->max_len to tokenizer_config.json's model_max_length. */
int dsq_bert_load_tokenizer(dsq_bert_config *c, const char *dir, dsq_tokenizer **tok,
                            dsq_err *e);

#endif

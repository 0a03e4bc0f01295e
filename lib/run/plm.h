/* dsq-train --init-plm DIR: the reference's --use_plm_init bert.  The
 * reference builds its network, then replaces the word embedding (and so
 * the tied lm_head.weight), position embeddings, the embedding LayerNorm
 * and the whole encoder by those of BertModel.from_pretrained(DIR); the
 * time embedding and lm_head.bias keep their usual initialisation, and
 * the pretrained token-type embeddings and pooler are dropped.  DIR is a
 * HuggingFace BERT directory as dsq-score reads it (bert.h): config.json,
 * model.safetensors (with or without "bert."), vocab.txt. */
#ifndef DSQ_PLM_H
#define DSQ_PLM_H

#include "err.h"
#include "model.h"
#include "tokenizer.h"

/* The encoder's shape from DIR/config.json into mc: num_hidden_layers,
 * hidden_size, num_attention_heads, intermediate_size,
 * max_position_embeddings, layer_norm_eps.  model_type must be "bert"
 * (DSQ_EDATA); mc->d (--hidden-dim) must equal hidden_size, as the
 * reference's network needs (DSQ_EUSAGE saying what to set). */
int dsq_plm_shape(const char *dir, dsq_model_config *mc, dsq_err *e);

/* Overwrites m's pretrained tensors (above) with DIR's, on m's backend,
 * after checking that DIR's vocabulary is the run's `tok` (digest) and
 * that its shape is m's (DSQ_EDATA naming DIR and what differs). */
int dsq_plm_load(const char *dir, dsq_model *m, const dsq_tokenizer *tok, dsq_err *e);

#endif

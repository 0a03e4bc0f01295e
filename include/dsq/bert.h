/* A BERT-family encoder (HuggingFace BertModel, RobertaModel, DebertaModel)
 * loaded from a model directory in the HuggingFace layout, for BERTScore
 * (doc/metrics.md §3):
 *   config.json              model_type "bert", "roberta" or "deberta" (v1):
 *                            sizes, layer_norm_eps, hidden_act "gelu";
 *                            DeBERTa: relative_attention,
 *                            max_relative_positions, pos_att_type,
 *                            position_biased_input
 *   model.safetensors        the model's tensors (optionally under "bert.",
 *                            "roberta." or "deberta.", LayerNorm gamma/beta
 *                            accepted), F32/F16/BF16
 *   vocab.txt                BERT: the WordPiece vocabulary (uncased)
 *   vocab.json, merges.txt   RoBERTa, DeBERTa: byte-level BPE (tokenizer.h)
 *   tokenizer_config.json    optional: the tokenizer class must match;
 *                            model_max_length; special tokens (BPE)
 *   special_tokens_map.json  optional (BPE): special token strings
 *   tokenizer.json           optional (BERT): its model must be WordPiece
 * Forward: word + token-type + position embeddings (those the model has;
 * RoBERTa's positions count from pad_idx + 1 over non-pad tokens), the
 * embedding LayerNorm, then N post-LN layers with the attention padding
 * mask (unlike the DiffuSeq network of model.h); DeBERTa's attention adds
 * the disentangled c2p / p2c terms (backend attention_rel_fwd).
 * Inference only, float32, on any backend that has attention_masked_fwd
 * (and attention_rel_fwd for DeBERTa). */
#ifndef DSQ_BERT_H
#define DSQ_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "err.h"
#include "tokenizer.h"

typedef enum { DSQ_BERT_ARCH_BERT, DSQ_BERT_ARCH_ROBERTA, DSQ_BERT_ARCH_DEBERTA } dsq_bert_arch;

typedef struct {
    dsq_bert_arch arch;
    int vocab, H, nh, I, n_layers, max_pos, type_vocab;  /* type_vocab 0: none */
    float ln_eps;
    int max_len;     /* truncation length in tokens with [CLS]/[SEP]: the
                        tokenizer's model_max_length, else what the
                        positions allow (RoBERTa: max_pos - pad_idx - 1) */
    int pad_idx;     /* RoBERTa: pad_token_id; positions start at pad_idx + 1 */
    int abs_pos;     /* absolute position embeddings (DeBERTa:
                        position_biased_input) */
    int max_rel;     /* DeBERTa relative attention: max_relative_positions
                        (0: none) */
    int c2p, p2c;    /* DeBERTa pos_att_type terms */
    char name[256];  /* config's "_name_or_path", else the directory's name */
} dsq_bert_config;

/* Views into the parameter allocation; shapes in comments. */
typedef struct {
    float *qkvw;  /* [3H, H] query | key | value weights */
    float *qkvb;  /* [3H] */
    float *ow;    /* [H, H] attention.output.dense */
    float *ob;    /* [H] */
    float *ln1w, *ln1b;  /* [H] attention.output.LayerNorm */
    float *fcw;   /* [I, H] intermediate.dense */
    float *fcb;   /* [I] */
    float *pw;    /* [H, I] output.dense */
    float *pb;    /* [H] */
    float *ln2w, *ln2b;  /* [H] output.LayerNorm */
    float *pkw;   /* DeBERTa [H, H] attention.self.pos_proj (c2p) */
    float *pqw;   /* DeBERTa [H, H] attention.self.pos_q_proj (p2c) */
    float *pqb;   /* [H] */
} dsq_bert_layer;

/* Activations of one forward: capN positions, up to capB sequences of
 * capL.  Several workspaces let several threads run forwards at once on
 * the CPU backend (lib/metrics/bertscore.c). */
typedef struct {
    size_t capN;
    int capB, capL;
    float *acts;
    float *h, *t, *qkv, *ctx, *fc, *mean, *rstd, *mask, *typerows, *zeros;
    float *pk, *pq;    /* DeBERTa: [2 * min(L, max_rel), H] position keys / queries */
    int32_t *ids, *pos;
} dsq_bert_ws;

typedef struct {
    dsq_bert_config cfg;
    dsq_backend *be;
    dsq_tokenizer *tok;
    int32_t cls_id, sep_id, pad_id;
    float *params;                /* device, all weights */
    float *wemb, *pemb, *temb;    /* [V,H], [max_pos,H], [type_vocab,H] (NULL: none) */
    float *rel;                   /* DeBERTa [2 * max_rel, H] rel_embeddings */
    float *elnw, *elnb;           /* [H] embeddings.LayerNorm */
    dsq_bert_layer *layers;
    dsq_bert_ws ws;               /* dsq_bert_forward's workspace */
} dsq_bert;

/* dir's config.json alone into c (architecture, sizes, max_len = the
 * longest encoding the positions allow); DSQ_EIO / DSQ_EDATA naming the
 * file and key.  dsq-train --init-plm reads the shape with it. */
int dsq_bert_read_config(dsq_bert_config *c, const char *dir, dsq_err *e);

/* Loads dir (see above).  Errors: DSQ_EIO for a missing or unreadable
 * file (named), DSQ_EDATA for an unsupported architecture, tokenizer or
 * tensor layout (the message says which key or tensor). */
int dsq_bert_load(dsq_bert *m, const char *dir, dsq_backend *be, dsq_err *e);
void dsq_bert_free(dsq_bert *m);

/* bert_score's default layer for a model name (its model2layers table,
 * lib/metrics/bert_layers.h), or -1 when the name is not in the table.  A
 * name without "/" also matches the one entry "ORG/name" (a cloned
 * directory's name: "deberta-xlarge-mnli" is layer 40). */
int dsq_bert_default_layer(const char *name);

/* Token ids as bert_score's sent_encode: Python strip, the tokenizer with
 * [CLS] ... [SEP] (<s> ... </s>), the content cut to max_len - 2 tokens.
 * out is replaced.  Invalid UTF-8 -> DSQ_EDATA. */
int dsq_bert_encode_text(const dsq_bert *m, const char *s, size_t n, dsq_ids *out, dsq_err *e);

/* Encoder forward of B sequences padded to L positions: ids[B*L] (host;
 * entries past lens[b] are ignored), lens[B] (1..L).  Runs the first
 * `layers` layers (0..n_layers; 0 = the embedding block's output) and
 * writes their last output to out[B, L, H] (host).  When all is non-NULL
 * it receives every output 0..layers, all[l][B, L, H].  Values at padded
 * positions are unspecified; real positions do not depend on padding. */
void dsq_bert_forward(dsq_bert *m, const int32_t *ids, const int *lens, int B, int L,
                      int layers, float *out, float *all);
/* The same in a workspace of the caller's (zero-initialised; grows as
 * needed; free with dsq_bert_ws_free).  m is only read, so threads with
 * their own workspaces may run at once when the backend allows it. */
void dsq_bert_forward_ws(const dsq_bert *m, dsq_bert_ws *ws, const int32_t *ids,
                         const int *lens, int B, int L, int layers, float *out, float *all);
void dsq_bert_ws_free(const dsq_bert *m, dsq_bert_ws *ws);

#endif

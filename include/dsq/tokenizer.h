/* Tokenizers of dsq: BERT uncased WordPiece (identical ids to the
 * HuggingFace fast tokenizer DiffuSeq uses), DiffuSeq's custom
 * word-level vocabulary, and byte-level BPE (GPT-2 / RoBERTa / DeBERTa v1,
 * for BERTScore) (doc/tokenizer.md).
 *
 * A loaded dsq_tokenizer is immutable: encode/decode take no locks and may
 * run on many threads at once. */
#ifndef DSQ_TOKENIZER_H
#define DSQ_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "strutil.h"

typedef enum { DSQ_TOK_WORDPIECE, DSQ_TOK_WORD, DSQ_TOK_BPE } dsq_tok_kind;
typedef enum { DSQ_JOIN_MODERN, DSQ_JOIN_LEGACY } dsq_join;
typedef struct dsq_tokenizer dsq_tokenizer;

/* Growable id buffer (zero-initialise; free with dsq_ids_free); text: dsq_str. */
typedef struct { int32_t *ids; size_t n, cap; } dsq_ids;
void dsq_ids_reserve(dsq_ids *v, size_t extra);
static inline void dsq_ids_push(dsq_ids *v, int32_t id) {
    if (v->n == v->cap) dsq_ids_reserve(v, 1);
    v->ids[v->n++] = id;
}
void dsq_ids_free(dsq_ids *v);

/* Loads a vocabulary.
 * WORDPIECE: a vocab.txt, one token per line (trailing whitespace trimmed,
 *   as HF does), id = line index.  [PAD] [UNK] [CLS] [SEP] must be present
 *   ([MASK] optional); blank or duplicate tokens and invalid UTF-8 are
 *   DSQ_EDATA errors naming the line.
 * WORD: a word list (doc/tokenizer.md §3): ids [START]=0 [END]=1 [UNK]=2
 *   [PAD]=3, then the first ' '-separated field of each line (line
 *   stripped of Python whitespace first), in order.  Blank lines and
 *   duplicates (including the four reserved names) are DSQ_EDATA errors:
 *   DiffuSeq's dict would silently give two words one id.
 * Returns 0, or an error code with e filled and *out NULL. */
int dsq_tokenizer_load(dsq_tokenizer **out, const char *vocab_path, dsq_tok_kind kind, dsq_err *e);
/* The same from a vocabulary already in memory (name used in messages). */
int dsq_tokenizer_load_mem(dsq_tokenizer **out, const char *data, size_t n, const char *name,
                           dsq_tok_kind kind, dsq_err *e);
void dsq_tokenizer_free(dsq_tokenizer *t);

/* A byte-level BPE tokenizer (doc/tokenizer.md §4): the special token
 * strings (cls and sep required and wrapping every encoding; the others
 * may be NULL or absent from the vocabulary) and whether a space is put
 * before a text that does not start with whitespace. */
typedef struct {
    const char *cls, *sep, *pad, *unk, *mask;
    int add_prefix_space;
} dsq_bpe_opts;
/* Loads vocab.json ({"token": id}, ids 0..2^24-1) and merges.txt (an
 * optional "#version" line, then "A B" per line, rank = order).  Errors
 * (DSQ_EIO unreadable, DSQ_EDATA malformed) name the file and line. */
int dsq_tokenizer_load_bpe(dsq_tokenizer **out, const char *vocab_json, const char *merges_txt,
                           const dsq_bpe_opts *o, dsq_err *e);

dsq_tok_kind dsq_tokenizer_kind(const dsq_tokenizer *t);
const char *dsq_tokenizer_kind_name(dsq_tok_kind k);      /* "wordpiece" / "word" / "bpe" */
/* 0 and *k for "wordpiece" / "word", -1 otherwise. */
int dsq_tokenizer_kind_parse(const char *name, dsq_tok_kind *k);
int32_t dsq_tokenizer_vocab_size(const dsq_tokenizer *t);

/* "sha256:<64 hex>" of the canonical form
 *   "dsq-vocab 1\n" "kind " <kind name> "\n" then every token string of
 *   ids 0..V-1 followed by "\n"
 * (for WORD the list starts with the four reserved names; for BPE an
 * empty string stands for an id vocab.json lacks, and the line
 * "merges sha256:<hex of merges.txt>" follows).  Two tokenizers encode
 * alike iff their digests are equal (BPE: and their dsq_bpe_opts). */
const char *dsq_tokenizer_digest(const dsq_tokenizer *t);

/* start = [CLS]/[START], end = [SEP]/[END]; sep = the separator packing
 * puts between source and target ([SEP] / [END]). */
typedef struct { int32_t pad, unk, start, end, sep; } dsq_special_ids;
dsq_special_ids dsq_tokenizer_specials(const dsq_tokenizer *t);

/* Appends the ids of UTF-8 text[0..len) to out, with start and end tokens
 * ([CLS] ... [SEP] / [START] ... [END]).  Invalid UTF-8 -> DSQ_EDATA
 * "invalid UTF-8 at byte N" (1-based) and out unchanged. */
int dsq_tokenizer_encode(const dsq_tokenizer *t, const char *text, size_t len, dsq_ids *out, dsq_err *e);

/* Decodes ids to text as DiffuSeq's decode_token does: trailing [PAD] ids
 * are dropped, every other special token is kept.  WORDPIECE joins with
 * `join` (doc/tokenizer.md §2: MODERN = tokenizers' WordPiece decoder,
 * LEGACY = the 2022 toolchain); WORD joins with spaces and deletes "__ "
 * and "@@ "; BPE is not decoded (DSQ_EDATA).  out is replaced (out->n reset) and NUL-terminated.  An id
 * outside the vocabulary is DSQ_EDATA (DiffuSeq would raise KeyError /
 * HF would drop it silently). */
int dsq_tokenizer_decode(const dsq_tokenizer *t, const int32_t *ids, size_t n, dsq_join join,
                         dsq_str *out, dsq_err *e);
/* 0 and *j for "modern" / "legacy", -1 otherwise. */
int dsq_join_parse(const char *name, dsq_join *j);

/* Token string of id, NULL when out of range. */
const char *dsq_tokenizer_token(const dsq_tokenizer *t, int32_t id);
/* Id of an exact token string, -1 when absent. */
int32_t dsq_tokenizer_id(const dsq_tokenizer *t, const char *tok, size_t n);

/* For tests: the normalised text (WORDPIECE: doc/tokenizer.md §1 steps 2-5
 * on text without special tokens) appended to out. */
void dsq_tokenizer_normalize(const dsq_tokenizer *t, const char *text, size_t len, dsq_str *out);

#endif

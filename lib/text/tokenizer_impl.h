/* The dsq_tokenizer structure, shared by tokenizer.c, wordpiece.c,
 * wordvocab.c, bpe.c and detok.c.  Not a public header. */
#ifndef DSQ_TOKENIZER_IMPL_H
#define DSQ_TOKENIZER_IMPL_H

#include "strmap.h"
#include "tokenizer.h"

/* Special tokens matched in raw text before normalisation (WORDPIECE). */
typedef struct {
    const char *s;
    size_t n;
    int32_t id;
} dsq_added_token;

struct dsq_tokenizer {
    dsq_tok_kind kind;
    int32_t n;               /* vocabulary size */
    char **tok;              /* id -> NUL-terminated token (into blob) */
    char *blob;
    dsq_strmap *map;         /* whole token -> id */
    dsq_strmap *cont;        /* WORDPIECE: "##x" stored as "x" -> id */
    size_t max_len, max_cont;/* longest key of map / cont, in bytes */
    dsq_special_ids sp;
    dsq_added_token added[5];
    int nadded;
    struct dsq_bpe *bpe;     /* BPE: merges, byte table, cache (bpe.c) */
    char digest[80];
};

/* tokenizer.c: sets t->digest; extra (may be NULL) is hashed after the
 * token lines. */
void dsq_tokenizer_make_digest(dsq_tokenizer *t, const char *extra);

/* wordpiece.c */
int dsq_wp_setup(dsq_tokenizer *t, const char *name, dsq_err *e);
int dsq_wp_encode(const dsq_tokenizer *t, const char *text, size_t len, dsq_ids *out);
/* wordvocab.c */
int dsq_wv_setup(dsq_tokenizer *t, const char *name, dsq_err *e);
int dsq_wv_encode(const dsq_tokenizer *t, const char *text, size_t len, dsq_ids *out);
/* bpe.c */
int dsq_bpe_encode(const dsq_tokenizer *t, const char *text, size_t len, dsq_ids *out);
void dsq_bpe_free(struct dsq_bpe *b);
/* detok.c */
void dsq_detok_wordpiece(const dsq_tokenizer *t, const int32_t *ids, size_t n, dsq_join join, dsq_str *out);
void dsq_detok_word(const dsq_tokenizer *t, const int32_t *ids, size_t n, dsq_str *out);
/* Python str.replace(a, b) on the whole buffer. */
void dsq_str_replace_all(dsq_str *s, const char *a, const char *b);

#endif

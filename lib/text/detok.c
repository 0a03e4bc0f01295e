/* Decoding ids to text (doc/tokenizer.md §2): the WordPiece join styles and
 * the word-level join. */
#include <string.h>

#include "tokenizer_impl.h"

void dsq_str_replace_all(dsq_str *s, const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (!s->n || na == 0 || !memmem(s->s, s->n, a, na)) return;
    dsq_str r = {0};
    dsq_str_reserve(&r, s->n);
    size_t i = 0;
    for (;;) {
        const char *hit = memmem(s->s + i, s->n - i, a, na);
        if (!hit) break;
        size_t at = (size_t)(hit - s->s);
        dsq_str_append(&r, s->s + i, at - i);
        dsq_str_append(&r, b, nb);
        i = at + na;
    }
    dsq_str_append(&r, s->s + i, s->n - i);
    free(s->s);
    *s = r;
}

/* tokenizers' decoders::wordpiece::cleanup. */
static void rust_cleanup(dsq_str *s) {
    static const char *rep[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                   {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
                                   {" 've", "'ve"}, {" 're", "'re"}};
    if (!memchr(s->s, ' ', s->n)) return;
    for (size_t i = 0; i < sizeof rep / sizeof rep[0]; i++) dsq_str_replace_all(s, rep[i][0], rep[i][1]);
}

/* transformers' PreTrainedTokenizerBase.clean_up_tokenization (2022). */
static void py_cleanup(dsq_str *s) {
    static const char *rep[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                   {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"},
                                   {" 're", "'re"}};
    if (!memchr(s->s, ' ', s->n)) return;
    for (size_t i = 0; i < sizeof rep / sizeof rep[0]; i++) dsq_str_replace_all(s, rep[i][0], rep[i][1]);
}

void dsq_detok_wordpiece(const dsq_tokenizer *t, const int32_t *ids, size_t n, dsq_join join, dsq_str *out) {
    if (join == DSQ_JOIN_LEGACY) {
        /* tokenizers <= 0.12 WordPiece decoder on the joined string, then
         * transformers' clean-up (DiffuSeq 2022: decode() defaults). */
        for (size_t i = 0; i < n; i++) {
            if (i) dsq_str_append(out, " ", 1);
            dsq_str_append(out, t->tok[ids[i]], strlen(t->tok[ids[i]]));
        }
        dsq_str_replace_all(out, " ##", "");
        rust_cleanup(out);
        py_cleanup(out);
        return;
    }
    /* tokenizers 0.23 WordPiece decode_chain: per token, then concatenated. */
    dsq_str tok = {0};
    for (size_t i = 0; i < n; i++) {
        const char *s = t->tok[ids[i]];
        size_t k = strlen(s);
        tok.n = 0;
        if (i && k >= 2 && s[0] == '#' && s[1] == '#') {
            dsq_str_append(&tok, s + 2, k - 2);
        } else {
            if (i) dsq_str_append(&tok, " ", 1);
            dsq_str_append(&tok, s, k);
        }
        rust_cleanup(&tok);
        dsq_str_append(out, tok.s, tok.n);
    }
    dsq_str_free(&tok);
}

void dsq_detok_word(const dsq_tokenizer *t, const int32_t *ids, size_t n, dsq_str *out) {
    for (size_t i = 0; i < n; i++) {
        if (i) dsq_str_append(out, " ", 1);
        dsq_str_append(out, t->tok[ids[i]], strlen(t->tok[ids[i]]));
    }
    dsq_str_replace_all(out, "__ ", "");
    dsq_str_replace_all(out, "@@ ", "");
}

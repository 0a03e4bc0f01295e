/* BERT normaliser and pre-tokeniser character rules, as the HuggingFace
 * `tokenizers` crate (0.23.3) applies them for bert-base-uncased
 * (BertNormalizer clean_text + handle_chinese_chars + strip_accents +
 * lowercase, then BertPreTokenizer).  doc/tokenizer.md §1 steps 2-6.
 *
 * The Unicode data comes from utf8proc; where HF's own tables (Rust std for
 * whitespace and lowercase, the old `unicode_categories` and
 * `unicode-normalization-alignments` crates for categories and NFD) give a
 * different answer, bertnorm.c overrides utf8proc so that the result equals
 * HF.  The overrides are found by the all-code-point sweep in
 * tests/oracles/gen_tokenizer_fixtures.py and tested by test_tokenizer_unicode. */
#ifndef DSQ_BERTNORM_H
#define DSQ_BERTNORM_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer that starts on a caller-provided (stack) array, so
 * that short texts need no allocation. */
typedef struct {
    char *p;
    size_t n, cap;
    int on_heap;
} dsq_bn_buf;

void dsq_bn_buf_init(dsq_bn_buf *b, char *stack, size_t stack_cap);
void dsq_bn_buf_free(dsq_bn_buf *b);
void dsq_bn_buf_reserve(dsq_bn_buf *b, size_t extra);  /* room for n + extra bytes */

/* Unicode version of the utf8proc the override table was generated
 * against, and of the utf8proc linked now; when they differ the table may
 * need regenerating (tests/oracles/gen_bertnorm_tables.py). */
const char *dsq_bn_tables_unicode(void);
const char *dsq_bn_utf8proc_unicode(void);

/* Per-character rules (cp must be a Unicode scalar value). */
int dsq_bn_is_dropped(uint32_t cp);   /* clean_text removes it: NUL, U+FFFD, HF "other" (Cc Cf Co ...) except \t \n \r */
int dsq_bn_is_ws(uint32_t cp);        /* Rust char::is_whitespace, plus \t \n \r */
int dsq_bn_is_cjk(uint32_t cp);       /* handle_chinese_chars ranges */
int dsq_bn_is_punct(uint32_t cp);     /* BertPreTokenizer: ASCII punctuation or P* */

/* Appends the normalised form of the valid UTF-8 text s[0..n) to out
 * (steps 2-5: clean, CJK spacing, NFD, drop Mn, lowercase). */
void dsq_bn_normalize(const char *s, size_t n, dsq_bn_buf *out);

/* Decodes one code point of valid UTF-8 at s (n > 0 bytes left); returns
 * its length in bytes. */
static inline int dsq_utf8_decode(const unsigned char *s, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xE0) { *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu); return 2; }
    if (c < 0xF0) { *cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu); return 3; }
    *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

/* Writes cp as UTF-8 to d (4 bytes of room); returns the length. */
static inline int dsq_utf8_encode(uint32_t cp, char *d) {
    unsigned char *o = (unsigned char *)d;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | (cp >> 6)); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12)); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18)); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif

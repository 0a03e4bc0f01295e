/* Common tokenizer interface: vocabulary files, digest, dispatch to the
 * WordPiece (wordpiece.c), word-level (wordvocab.c) and byte-level BPE
 * (bpe.c) encoders. */
#include "tokenizer.h"

#include <string.h>

#include "bertnorm.h"
#include "jsonl.h"
#include "sha256.h"
#include "strutil.h"
#include "tokenizer_impl.h"
#include "util.h"

void dsq_ids_reserve(dsq_ids *v, size_t extra) {
    if (v->n + extra <= v->cap) return;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < v->n + extra) cap *= 2;
    v->ids = xrealloc(v->ids, cap * sizeof *v->ids);
    v->cap = cap;
}

void dsq_ids_free(dsq_ids *v) {
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

const char *dsq_tokenizer_kind_name(dsq_tok_kind k) {
    return k == DSQ_TOK_WORD ? "word" : k == DSQ_TOK_BPE ? "bpe" : "wordpiece";
}

int dsq_tokenizer_kind_parse(const char *name, dsq_tok_kind *k) {
    if (strcmp(name, "wordpiece") == 0) { *k = DSQ_TOK_WORDPIECE; return 0; }
    if (strcmp(name, "word") == 0) { *k = DSQ_TOK_WORD; return 0; }
    return -1;
}

int dsq_join_parse(const char *name, dsq_join *j) {
    if (strcmp(name, "modern") == 0) { *j = DSQ_JOIN_MODERN; return 0; }
    if (strcmp(name, "legacy") == 0) { *j = DSQ_JOIN_LEGACY; return 0; }
    return -1;
}

dsq_tok_kind dsq_tokenizer_kind(const dsq_tokenizer *t) { return t->kind; }
int32_t dsq_tokenizer_vocab_size(const dsq_tokenizer *t) { return t->n; }
const char *dsq_tokenizer_digest(const dsq_tokenizer *t) { return t->digest; }
dsq_special_ids dsq_tokenizer_specials(const dsq_tokenizer *t) { return t->sp; }

const char *dsq_tokenizer_token(const dsq_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n ? t->tok[id] : NULL;
}

int32_t dsq_tokenizer_id(const dsq_tokenizer *t, const char *tok, size_t n) {
    return dsq_strmap_get(t->map, tok, n);
}

void dsq_tokenizer_free(dsq_tokenizer *t) {
    if (!t) return;
    dsq_strmap_free(t->map);
    dsq_strmap_free(t->cont);
    dsq_bpe_free(t->bpe);
    free(t->tok);
    free(t->blob);
    free(t);
}

/* Splits the file into token strings, NUL-terminated in t->blob, following
 * the reader of each kind:
 *   WORDPIECE  Rust BufRead::lines() + trim_end(): "\n" or "\r\n" ends a
 *              line; trailing Unicode whitespace is dropped.
 *   WORD       Python text-mode iteration (universal newlines: "\n",
 *              "\r\n", "\r"), row.strip().split(' ')[0]; the four reserved
 *              names come first. */
static int split_tokens(dsq_tokenizer *t, const char *data, size_t n, const char *name, dsq_err *e) {
    static const char *reserved[4] = {"[START]", "[END]", "[UNK]", "[PAD]"};
    long bad = dsq_utf8_invalid_at(data, n);
    if (bad >= 0) {
        long line = 1;
        for (long i = 0; i < bad; i++) line += data[i] == '\n';
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: invalid UTF-8 at byte %ld of the file", name, line, bad + 1);
    }
    size_t cap = 64, count = 0;
    size_t *off = xmalloc(cap * sizeof *off);
    t->blob = xmalloc(n + 64);
    size_t bn = 0;
    if (t->kind == DSQ_TOK_WORD) {
        for (int i = 0; i < 4; i++) {
            off[count++] = bn;
            size_t k = strlen(reserved[i]);
            memcpy(t->blob + bn, reserved[i], k + 1);
            bn += k + 1;
        }
    }
    size_t i = 0;
    long lineno = 0;
    int rc = 0;
    while (i < n) {
        size_t a = i, b;
        lineno++;
        if (t->kind == DSQ_TOK_WORDPIECE) {
            while (i < n && data[i] != '\n') i++;
            b = i;
            if (i < n) i++;
            if (b > a && data[b - 1] == '\r') b--;
            /* trim_end: keep up to the end of the last non-space char */
            size_t keep = a;
            for (size_t p = a; p < b;) {
                uint32_t cp;
                p += (size_t)dsq_utf8_decode((const unsigned char *)data + p, &cp);
                if (!dsq_bn_is_ws(cp)) keep = p;
            }
            b = keep;
        } else {
            while (i < n && data[i] != '\n' && data[i] != '\r') i++;
            b = i;
            if (i < n && data[i] == '\r' && i + 1 < n && data[i + 1] == '\n') i++;
            if (i < n) i++;
            dsq_span st = dsq_py_strip(data + a, b - a);
            a = (size_t)(st.s - data);
            b = a + st.len;
            for (size_t p = a; p < b; p++)
                if (data[p] == ' ') { b = p; break; }
        }
        if (b == a) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s:%ld: blank line (a vocabulary has one token per line)", name, lineno);
            break;
        }
        if (count == cap) { cap *= 2; off = xrealloc(off, cap * sizeof *off); }
        off[count++] = bn;
        memcpy(t->blob + bn, data + a, b - a);
        bn += b - a;
        t->blob[bn++] = '\0';
        if (count > INT32_MAX) { rc = dsq_err_set(e, DSQ_EDATA, "%s: too many tokens", name); break; }
    }
    if (rc == 0 && count == (t->kind == DSQ_TOK_WORD ? 4u : 0u))
        rc = dsq_err_set(e, DSQ_EDATA, "%s: empty vocabulary", name);
    if (rc) { free(off); return rc; }
    t->n = (int32_t)count;
    t->tok = xmalloc(count * sizeof *t->tok);
    t->map = dsq_strmap_new(count);
    for (size_t k = 0; k < count; k++) {
        t->tok[k] = t->blob + off[k];
        size_t len = strlen(t->tok[k]);
        if (len > t->max_len) t->max_len = len;
        int32_t prev = dsq_strmap_put(t->map, t->tok[k], len, (int32_t)k);
        if (prev >= 0) {
            long l1 = t->kind == DSQ_TOK_WORD ? (long)k - 3 : (long)k + 1;
            if (t->kind == DSQ_TOK_WORD && prev < 4)
                rc = dsq_err_set(e, DSQ_EDATA, "%s:%ld: token '%s' is reserved (ids 0-3) in a word "
                                 "vocabulary (is this a WordPiece vocabulary? then it is read "
                                 "with --vocab-kind wordpiece)", name, l1, t->tok[k]);
            else
                rc = dsq_err_set(e, DSQ_EDATA, "%s:%ld: duplicate token '%s' (first at line %ld)", name, l1,
                                 t->tok[k], t->kind == DSQ_TOK_WORD ? (long)prev - 3 : (long)prev + 1);
            break;
        }
    }
    free(off);
    return rc;
}

void dsq_tokenizer_make_digest(dsq_tokenizer *t, const char *extra) {
    dsq_sha256 c;
    unsigned char d[32];
    char hex[65];
    dsq_sha256_init(&c);
    const char *kn = dsq_tokenizer_kind_name(t->kind);
    dsq_sha256_update(&c, "dsq-vocab 1\nkind ", 17);
    dsq_sha256_update(&c, kn, strlen(kn));
    dsq_sha256_update(&c, "\n", 1);
    for (int32_t i = 0; i < t->n; i++) {
        dsq_sha256_update(&c, t->tok[i], strlen(t->tok[i]));
        dsq_sha256_update(&c, "\n", 1);
    }
    if (extra) dsq_sha256_update(&c, extra, strlen(extra));
    dsq_sha256_final(&c, d);
    dsq_sha256_hex(d, hex);
    snprintf(t->digest, sizeof t->digest, "sha256:%s", hex);
}

int dsq_tokenizer_load_mem(dsq_tokenizer **out, const char *data, size_t n, const char *name,
                           dsq_tok_kind kind, dsq_err *e) {
    *out = NULL;
    dsq_tokenizer *t = xcalloc(1, sizeof *t);
    t->kind = kind;
    int rc = split_tokens(t, data, n, name, e);
    if (rc == 0) rc = kind == DSQ_TOK_WORDPIECE ? dsq_wp_setup(t, name, e) : dsq_wv_setup(t, name, e);
    if (rc) { dsq_tokenizer_free(t); return rc; }
    dsq_tokenizer_make_digest(t, NULL);
    *out = t;
    return 0;
}

int dsq_tokenizer_load(dsq_tokenizer **out, const char *vocab_path, dsq_tok_kind kind, dsq_err *e) {
    *out = NULL;
    size_t n;
    char *buf = dsq_read_file(vocab_path, "vocabulary", &n, e);
    if (!buf) return e->code;
    int rc = dsq_tokenizer_load_mem(out, buf, n, vocab_path, kind, e);
    free(buf);
    return rc;
}

int dsq_tokenizer_encode(const dsq_tokenizer *t, const char *text, size_t len, dsq_ids *out, dsq_err *e) {
    long bad = dsq_utf8_invalid_at(text, len);
    if (bad >= 0) return dsq_err_set(e, DSQ_EDATA, "invalid UTF-8 at byte %ld", bad + 1);
    if (t->kind == DSQ_TOK_BPE) return dsq_bpe_encode(t, text, len, out);
    return t->kind == DSQ_TOK_WORDPIECE ? dsq_wp_encode(t, text, len, out) : dsq_wv_encode(t, text, len, out);
}

int dsq_tokenizer_decode(const dsq_tokenizer *t, const int32_t *ids, size_t n, dsq_join join,
                         dsq_str *out, dsq_err *e) {
    if (t->kind == DSQ_TOK_BPE)
        return dsq_err_set(e, DSQ_EDATA, "decoding byte-level BPE ids is not supported");
    while (n > 0 && ids[n - 1] == t->sp.pad) n--;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->n)
            return dsq_err_set(e, DSQ_EDATA, "id %ld at position %zu is outside the vocabulary (size %ld)",
                               (long)ids[i], i + 1, (long)t->n);
    out->n = 0;
    dsq_str_reserve(out, 0);
    out->s[0] = '\0';
    if (t->kind == DSQ_TOK_WORDPIECE) dsq_detok_wordpiece(t, ids, n, join, out);
    else dsq_detok_word(t, ids, n, out);
    return 0;
}

void dsq_tokenizer_normalize(const dsq_tokenizer *t, const char *text, size_t len, dsq_str *out) {
    if (t->kind != DSQ_TOK_WORDPIECE) { dsq_str_append(out, text, len); return; }
    char stack[1024];
    dsq_bn_buf b;
    dsq_bn_buf_init(&b, stack, sizeof stack);
    dsq_bn_normalize(text, len, &b);
    dsq_str_append(out, b.p, b.n);
    dsq_bn_buf_free(&b);
}

/* WordPiece encoder; see wordpiece.h. */
#include "wordpiece.h"

#include <pthread.h>
#include <string.h>

#include "bertnorm.h"
#include "tokenizer_impl.h"

/* Pre-tokeniser classes of normalised ASCII bytes. */
enum { PT_WORD = 0, PT_SPACE = 1, PT_PUNCT = 2 };
static unsigned char pt_ascii[128];
static pthread_once_t pt_once = PTHREAD_ONCE_INIT;

static void pt_init(void) {
    for (uint32_t c = 0; c < 128; c++)
        pt_ascii[c] = dsq_bn_is_ws(c) ? PT_SPACE : dsq_bn_is_punct(c) ? PT_PUNCT : PT_WORD;
}

int dsq_wp_setup(dsq_tokenizer *t, const char *name, dsq_err *e) {
    pthread_once(&pt_once, pt_init);
    static const char *names[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int32_t id[5];
    for (int i = 0; i < 5; i++) {
        id[i] = dsq_strmap_get(t->map, names[i], strlen(names[i]));
        if (id[i] < 0 && i < 4)
            return dsq_err_set(e, DSQ_EDATA, "%s: WordPiece vocabulary lacks the token %s (is this "
                               "a word vocabulary? then it is read with --vocab-kind word)",
                               name, names[i]);
        if (id[i] >= 0) t->added[t->nadded++] = (dsq_added_token){names[i], strlen(names[i]), id[i]};
    }
    t->sp = (dsq_special_ids){.pad = id[0], .unk = id[1], .start = id[2], .end = id[3], .sep = id[3]};
    t->cont = dsq_strmap_new((size_t)t->n / 4);
    for (int32_t i = 0; i < t->n; i++) {
        const char *s = t->tok[i];
        size_t len = strlen(s);
        if (len > 2 && s[0] == '#' && s[1] == '#') {
            dsq_strmap_put(t->cont, s + 2, len - 2, i);
            if (len - 2 > t->max_cont) t->max_cont = len - 2;
        }
    }
    return 0;
}

/* Longest-match-first WordPiece of one normalised word w[0..n) of nchars
 * code points. */
static void wordpiece(const dsq_tokenizer *t, const char *w, size_t n, size_t nchars, dsq_ids *out) {
    if (nchars > DSQ_WP_MAX_CHARS) { dsq_ids_push(out, t->sp.unk); return; }
    size_t first = out->n, start = 0;
    /* cut[k]: byte length of the k-th candidate prefix, hash[k] its hash */
    size_t cut[512];
    uint64_t hash[512];
    while (start < n) {
        const dsq_strmap *m = start ? t->cont : t->map;
        size_t lim = n - start, maxb = start ? t->max_cont : t->max_len;
        if (lim > maxb) lim = maxb;
        if (lim > 512) lim = 512;
        const unsigned char *p = (const unsigned char *)w + start;
        uint64_t h = DSQ_STRMAP_H0;
        int nc = 0;
        for (size_t j = 0; j < lim; j++) {
            h = dsq_strmap_step(h, p[j]);
            if (j + 1 == n - start || (p[j + 1] & 0xC0) != 0x80) { cut[nc] = j + 1; hash[nc] = h; nc++; }
        }
        int32_t id = -1;
        int k = nc - 1;
        for (; k >= 0; k--)
            if ((id = dsq_strmap_get_h(m, (const char *)p, cut[k], hash[k])) >= 0) break;
        if (id < 0) {
            out->n = first;
            dsq_ids_push(out, t->sp.unk);
            return;
        }
        dsq_ids_push(out, id);
        start += cut[k];
    }
}

/* Pre-tokenises normalised text and WordPieces each word. */
static void words(const dsq_tokenizer *t, const char *s, size_t n, dsq_ids *out) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, ws = 0, nch = 0;  /* current word: s[ws..i), nch chars */
    int inword = 0;
    while (i < n) {
        unsigned c = p[i];
        int cls, len = 1;
        if (c < 0x80) {
            cls = pt_ascii[c];
        } else {
            uint32_t cp;
            len = dsq_utf8_decode(p + i, &cp);
            cls = dsq_bn_is_ws(cp) ? PT_SPACE : dsq_bn_is_punct(cp) ? PT_PUNCT : PT_WORD;
        }
        if (cls == PT_WORD) {
            if (!inword) { inword = 1; ws = i; nch = 0; }
            nch++;
        } else {
            if (inword) { wordpiece(t, s + ws, i - ws, nch, out); inword = 0; }
            if (cls == PT_PUNCT) wordpiece(t, s + i, (size_t)len, 1, out);
        }
        i += (size_t)len;
    }
    if (inword) wordpiece(t, s + ws, n - ws, nch, out);
}

static void segment(const dsq_tokenizer *t, const char *s, size_t n, dsq_ids *out) {
    if (!n) return;
    char stack[4096];
    dsq_bn_buf b;
    dsq_bn_buf_init(&b, stack, sizeof stack);
    dsq_bn_normalize(s, n, &b);
    words(t, b.p, b.n, out);
    dsq_bn_buf_free(&b);
}

int dsq_wp_encode(const dsq_tokenizer *t, const char *text, size_t len, dsq_ids *out) {
    dsq_ids_reserve(out, len / 3 + 8);
    dsq_ids_push(out, t->sp.start);
    size_t pos = 0, scan = 0;
    while (scan < len) {
        const char *br = memchr(text + scan, '[', len - scan);
        if (!br) break;
        size_t at = (size_t)(br - text);
        const dsq_added_token *hit = NULL;
        for (int k = 0; k < t->nadded; k++)
            if (len - at >= t->added[k].n && memcmp(text + at, t->added[k].s, t->added[k].n) == 0) {
                hit = &t->added[k];
                break;
            }
        if (!hit) { scan = at + 1; continue; }
        segment(t, text + pos, at - pos, out);
        dsq_ids_push(out, hit->id);
        pos = scan = at + hit->n;
    }
    segment(t, text + pos, len - pos, out);
    dsq_ids_push(out, t->sp.end);
    return 0;
}

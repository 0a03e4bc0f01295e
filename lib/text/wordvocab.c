/* Word-level vocabulary encoder, decoder helpers and word counter; see
 * wordvocab.h. */
#include "wordvocab.h"

#include <errno.h>
#include <string.h>

#include "bertnorm.h"
#include "jsonl.h"
#include "strmap.h"
#include "textscan.h"
#include "tokenizer_impl.h"

/* The next word of Python's text.split() at or after *pos: 1 and [*a, *b),
 * or 0 at the end. */
static int next_word(const char *text, size_t n, size_t *pos, size_t *a, size_t *b) {
    const unsigned char *p = (const unsigned char *)text;
    size_t i = *pos;
    int in = 0;
    while (i < n) {
        uint32_t cp = p[i];
        size_t k = cp < 0x80 ? 1 : (size_t)dsq_utf8_decode(p + i, &cp);
        if (dsq_is_py_space(cp)) {
            if (in) break;
        } else if (!in) {
            in = 1;
            *a = i;
        }
        i += k;
    }
    *pos = i;
    *b = i;
    return in;
}

int dsq_wv_setup(dsq_tokenizer *t, const char *name, dsq_err *e) {
    (void)name;
    (void)e;
    t->sp = (dsq_special_ids){.start = 0, .end = 1, .unk = 2, .pad = 3, .sep = 1};
    return 0;
}

int dsq_wv_encode(const dsq_tokenizer *t, const char *text, size_t len, dsq_ids *out) {
    dsq_ids_push(out, t->sp.start);
    size_t pos = 0, a, b;
    while (next_word(text, len, &pos, &a, &b)) {
        int32_t id = dsq_strmap_get(t->map, text + a, b - a);
        dsq_ids_push(out, id >= 0 ? id : t->sp.unk);
    }
    dsq_ids_push(out, t->sp.end);
    return 0;
}

/* ---- word counting ---- */

typedef struct {
    long count;
    size_t first;   /* order of first occurrence */
    const char *s;  /* filled when writing */
    size_t n;
} wc_entry;

struct dsq_wordcount {
    dsq_strmap *map;  /* word -> index into e */
    wc_entry *e;
    size_t n, cap;
    dsq_str keys;     /* words, back to back, in first-occurrence order */
    size_t *keyoff;
};

dsq_wordcount *dsq_wordcount_new(void) {
    dsq_wordcount *w = xcalloc(1, sizeof *w);
    w->map = dsq_strmap_new(1024);
    return w;
}

void dsq_wordcount_free(dsq_wordcount *w) {
    if (!w) return;
    dsq_strmap_free(w->map);
    free(w->e);
    free(w->keyoff);
    dsq_str_free(&w->keys);
    free(w);
}

size_t dsq_wordcount_distinct(const dsq_wordcount *w) { return w->n; }

int dsq_wordcount_add(dsq_wordcount *w, const char *text, size_t len, dsq_err *e) {
    long bad = dsq_utf8_invalid_at(text, len);
    if (bad >= 0) return dsq_err_set(e, DSQ_EDATA, "invalid UTF-8 at byte %ld", bad + 1);
    size_t pos = 0, a, b;
    while (next_word(text, len, &pos, &a, &b)) {
        int32_t *ref = dsq_strmap_ref(w->map, text + a, b - a);
        if (ref) {
            w->e[*ref].count++;
        } else {
            if (w->n == w->cap) {
                w->cap = w->cap ? 2 * w->cap : 1024;
                w->e = xrealloc(w->e, w->cap * sizeof *w->e);
                w->keyoff = xrealloc(w->keyoff, (w->cap + 1) * sizeof *w->keyoff);
            }
            DSQ_CHECK(w->n < INT32_MAX);
            dsq_strmap_put(w->map, text + a, b - a, (int32_t)w->n);
            w->keyoff[w->n] = w->keys.n;
            dsq_str_append(&w->keys, text + a, b - a);
            w->e[w->n] = (wc_entry){.count = 1, .first = w->n, .n = b - a};
            w->n++;
        }
    }
    return 0;
}

static int by_count(const void *x, const void *y) {
    const wc_entry *a = *(wc_entry *const *)x, *b = *(wc_entry *const *)y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

int dsq_wordcount_write(const dsq_wordcount *w, FILE *f, const char *name, long min_count,
                        size_t *written, dsq_err *e) {
    static const char *reserved[4] = {"[START]", "[END]", "[UNK]", "[PAD]"};
    wc_entry **order = xmalloc((w->n ? w->n : 1) * sizeof *order);
    for (size_t i = 0; i < w->n; i++) {
        w->e[i].s = w->keys.s + w->keyoff[i];
        order[i] = &w->e[i];
    }
    qsort(order, w->n, sizeof *order, by_count);
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wc_entry *x = order[i];
        if (x->count < min_count) break;
        int skip = 0;
        for (int r = 0; r < 4; r++)
            if (x->n == strlen(reserved[r]) && memcmp(x->s, reserved[r], x->n) == 0) skip = 1;
        if (skip) continue;
        fwrite(x->s, 1, x->n, f);
        fprintf(f, " %ld\n", x->count);
        k++;
    }
    free(order);
    if (written) *written = k;
    if (fflush(f) != 0 || ferror(f))
        return dsq_err_set(e, DSQ_EIO, "%s: write error: %s", name, strerror(errno));
    return 0;
}

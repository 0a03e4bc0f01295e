/* Text handling of the DiffuSeq evaluation script (doc/metrics.md §0, §4):
 * Python str.strip()/str.split()/split(' '), the marker removal, dist-1
 * and pooled distinct-n. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "metrics.h"
#include "textscan.h"

const dsq_markers DSQ_MARKERS_DEFAULT = {"[CLS]", "[SEP]", "[SEP]", "[PAD]"};

void dsq_tokens_free(dsq_tokens *t) {
    free(t->tok);
    t->tok = NULL;
    t->n = t->cap = 0;
}

static void tokens_push(dsq_tokens *t, const char *s, size_t len) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->tok = xrealloc(t->tok, t->cap * sizeof *t->tok);
    }
    t->tok[t->n].s = s;
    t->tok[t->n].len = (uint32_t)len;
    t->n++;
}

void dsq_split_ws(const char *s, size_t n, dsq_tokens *out) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    out->n = 0;
    while (i < n) {
        size_t w;
        while (i < n && (w = dsq_space_len(u + i, n - i)) > 0) i += w;
        if (i >= n) break;
        size_t start = i;
        while (i < n && dsq_space_len(u + i, n - i) == 0) i++;
        tokens_push(out, s + start, i - start);
    }
}

size_t dsq_count_space_fields(const char *s, size_t n) {
    size_t c = 1;
    for (size_t i = 0; i < n; i++) c += s[i] == ' ';
    return c;
}

/* Python s.replace(pat, '') in place on buf[0..*len); empty pat is a no-op
 * as in Python. */
static void remove_all(char *buf, size_t *len, const char *pat) {
    size_t pl = pat ? strlen(pat) : 0;
    if (pl == 0 || *len < pl) return;
    size_t r = 0, w = 0, n = *len;
    /* Leftmost non-overlapping matches, as str.replace; text between them
     * moves down in chunks. */
    while (r < n) {
        const char *hit = memmem(buf + r, n - r, pat, pl);
        size_t end = hit ? (size_t)(hit - buf) : n;
        if (w != r) memmove(buf + w, buf + r, end - r);
        w += end - r;
        if (!hit) break;
        r = end + pl;
    }
    *len = w;
    buf[w] = '\0';
}

char *dsq_clean(const char *s, size_t n, dsq_clean_field field, const dsq_markers *m,
                size_t *out_len) {
    if (!m) m = &DSQ_MARKERS_DEFAULT;
    dsq_span t = dsq_py_strip(s, n);
    size_t len = t.len;
    char *buf = xmalloc(len + 1);
    memcpy(buf, t.s, len);
    buf[len] = '\0';
    /* The script's order: eos, sos, then sep (reference, recover), then pad
     * (recover only); each a full pass, no second strip. */
    remove_all(buf, &len, m->eos);
    remove_all(buf, &len, m->sos);
    if (field == DSQ_CLEAN_REFERENCE || field == DSQ_CLEAN_RECOVER) remove_all(buf, &len, m->sep);
    if (field == DSQ_CLEAN_RECOVER) remove_all(buf, &len, m->pad);
    if (out_len) *out_len = len;
    return buf;
}

typedef struct {
    uint64_t h;
    uint32_t pos;
} hpos;

static int hpos_cmp(const void *a, const void *b) {
    const hpos *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Token-by-token equality of the n-grams at i and j. */
static int ngram_eq(const dsq_span *const *seq, size_t i, size_t j, int n) {
    for (int k = 0; k < n; k++) {
        const dsq_span *a = seq[i + k], *b = seq[j + k];
        if (a->len != b->len || memcmp(a->s, b->s, a->len) != 0) return 0;
    }
    return 1;
}

/* Counts distinct n-grams among the windows starting at starts[0..m) of the
 * flat span sequence seq.  Sort by hash, then confirm equal hashes by
 * content; a hash run holding several contents counts each once. */
static size_t count_distinct(const dsq_span *const *seq, const uint32_t *starts, size_t m, int n) {
    if (m == 0) return 0;
    hpos *v = xmalloc(m * sizeof *v);
    for (size_t i = 0; i < m; i++) {
        uint64_t h = 0x84222325cbf29ce4ULL;
        for (int k = 0; k < n; k++) {
            const dsq_span *t = seq[starts[i] + k];
            h = dsq_mix64(h ^ dsq_hash_bytes(t->s, t->len)) + (uint64_t)k;
        }
        v[i].h = h;
        v[i].pos = starts[i];
    }
    qsort(v, m, sizeof *v, hpos_cmp);
    size_t distinct = 0;
    for (size_t a = 0; a < m;) {
        size_t b = a + 1;
        while (b < m && v[b].h == v[a].h) b++;
        /* Within the run: an entry is new unless an earlier one equals it. */
        for (size_t i = a; i < b; i++) {
            int seen = 0;
            for (size_t j = a; j < i && !seen; j++) seen = ngram_eq(seq, v[j].pos, v[i].pos, n);
            distinct += !seen;
        }
        a = b;
    }
    free(v);
    return distinct;
}

double dsq_div_n(const dsq_tokens *sents, size_t k, int n) {
    size_t total_tok = 0, total = 0;
    for (size_t i = 0; i < k; i++) {
        total_tok += sents[i].n;
        if (sents[i].n >= (size_t)n) total += sents[i].n - (size_t)n + 1;
    }
    if (total == 0) return 0.0;
    const dsq_span **seq = xmalloc(total_tok * sizeof *seq);
    uint32_t *starts = xmalloc(total * sizeof *starts);
    size_t off = 0, m = 0;
    for (size_t i = 0; i < k; i++) {
        for (size_t t = 0; t < sents[i].n; t++) seq[off + t] = &sents[i].tok[t];
        /* Windows never cross a sentence boundary. */
        for (size_t t = 0; t + (size_t)n <= sents[i].n; t++) starts[m++] = (uint32_t)(off + t);
        off += sents[i].n;
    }
    size_t d = count_distinct(seq, starts, m, n);
    free(seq);
    free(starts);
    return (double)d / (double)total;
}

double dsq_distinct1(const dsq_tokens *toks) {
    return dsq_div_n(toks, 1, 1);
}

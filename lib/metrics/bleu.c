/* nltk 3.8 sentence_bleu (one reference, weights ¼×4, method4), to the
 * bit: doc/metrics.md §1, re-checked against nltk's bleu_score.py.
 *
 * Sentences are prepared in an n-gram context (dsq_ngram_ctx): tokens are
 * interned by content (hash, then a byte comparison), and every n-gram of
 * order n > 1 by the exact pair (id of its first n-1 tokens, id of its
 * last token).  Equal n-grams thus get equal integer ids and different
 * ones different ids — no hash can merge two n-grams — and BLEU of two
 * prepared sentences is four merges of sorted (id, count) arrays. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bleu_internal.h"
#include "err.h"
#include "textscan.h"

uint64_t dsq_bleu_hash_mask = ~(uint64_t)0;

typedef struct {
    uint32_t id;
    uint32_t cnt;
} bleu_ent;

struct dsq_bleu_sent {
    const dsq_ngram_ctx *ctx;
    uint32_t gen;      /* the context generation it was prepared in */
    uint32_t len;
    uint32_t nent[4];
    bleu_ent *ent[4];  /* distinct n-grams of order n+1, sorted by id */
};

/* Open-addressing slot of the token table (key: bytes) or the n-gram table
 * (key: prefix id << 32 | token id).  A slot is live when gen matches. */
typedef struct {
    uint64_t key;      /* token hash, or the n-gram pair */
    uint32_t id, gen;
    uint32_t off, len; /* token bytes in the arena */
} ctx_slot;

struct dsq_ngram_ctx {
    uint32_t gen;         /* bumped by reset: old slots die at once */
    uint32_t next_id;     /* tokens and n-grams share one id space */
    ctx_slot *tok, *gram;
    size_t tok_cap, gram_cap, tok_used, gram_used;
    char *arena;
    size_t arena_len, arena_cap;
};

dsq_ngram_ctx *dsq_ngram_ctx_new(void) {
    dsq_ngram_ctx *c = xcalloc(1, sizeof *c);
    c->gen = 1;
    c->tok_cap = c->gram_cap = 64;  /* grows by doubling */
    c->tok = xcalloc(c->tok_cap, sizeof *c->tok);
    c->gram = xcalloc(c->gram_cap, sizeof *c->gram);
    return c;
}

void dsq_ngram_ctx_reset(dsq_ngram_ctx *c) {
    c->gen++;
    if (c->gen == 0) {  /* wrapped: clear for real */
        memset(c->tok, 0, c->tok_cap * sizeof *c->tok);
        memset(c->gram, 0, c->gram_cap * sizeof *c->gram);
        c->gen = 1;
    }
    c->next_id = 0;
    c->tok_used = c->gram_used = 0;
    c->arena_len = 0;
}

uint32_t dsq_ngram_ctx_ids(const dsq_ngram_ctx *c) { return c->next_id; }

void dsq_ngram_ctx_free(dsq_ngram_ctx *c) {
    if (!c) return;
    free(c->tok);
    free(c->gram);
    free(c->arena);
    free(c);
}

/* Doubles a table, moving its live slots. */
static void grow(dsq_ngram_ctx *c, ctx_slot **tab, size_t *cap) {
    size_t ncap = *cap * 2;
    ctx_slot *nt = xcalloc(ncap, sizeof *nt);
    for (size_t i = 0; i < *cap; i++) {
        ctx_slot *s = &(*tab)[i];
        if (s->gen != c->gen) continue;
        size_t j = (size_t)dsq_mix64(s->key) & (ncap - 1);
        while (nt[j].gen == c->gen) j = (j + 1) & (ncap - 1);
        nt[j] = *s;
    }
    free(*tab);
    *tab = nt;
    *cap = ncap;
}

static uint32_t intern_token(dsq_ngram_ctx *c, const char *s, uint32_t len) {
    if (2 * (c->tok_used + 1) > c->tok_cap) grow(c, &c->tok, &c->tok_cap);
    uint64_t h = dsq_hash_bytes(s, len) & dsq_bleu_hash_mask;
    size_t j = (size_t)dsq_mix64(h) & (c->tok_cap - 1);
    for (;; j = (j + 1) & (c->tok_cap - 1)) {
        ctx_slot *x = &c->tok[j];
        if (x->gen != c->gen) break;
        if (x->key == h && x->len == len && memcmp(c->arena + x->off, s, len) == 0) return x->id;
    }
    if (c->arena_len + len > c->arena_cap) {
        while (c->arena_len + len > c->arena_cap) c->arena_cap = c->arena_cap ? 2 * c->arena_cap : 4096;
        c->arena = xrealloc(c->arena, c->arena_cap);
    }
    memcpy(c->arena + c->arena_len, s, len);
    ctx_slot *x = &c->tok[j];
    *x = (ctx_slot){.key = h, .id = c->next_id++, .gen = c->gen, .off = (uint32_t)c->arena_len, .len = len};
    c->arena_len += len;
    c->tok_used++;
    return x->id;
}

uint32_t dsq_ngram_intern_pair(dsq_ngram_ctx *c, uint32_t prefix, uint32_t last) {
    if (2 * (c->gram_used + 1) > c->gram_cap) grow(c, &c->gram, &c->gram_cap);
    uint64_t key = (uint64_t)prefix << 32 | last;
    size_t j = (size_t)dsq_mix64(key) & (c->gram_cap - 1);
    for (;; j = (j + 1) & (c->gram_cap - 1)) {
        ctx_slot *x = &c->gram[j];
        if (x->gen != c->gen) break;
        if (x->key == key) return x->id;
    }
    c->gram[j] = (ctx_slot){.key = key, .id = c->next_id++, .gen = c->gen};
    c->gram_used++;
    return c->gram[j].id;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sentences are short: insertion sort, qsort for the rare long one. */
static void sort_ids(uint32_t *v, size_t m) {
    if (m > 32) {
        qsort(v, m, sizeof *v, cmp_u32);
        return;
    }
    for (size_t i = 1; i < m; i++) {
        uint32_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
        v[j] = x;
    }
}

size_t dsq_bleu_sent_len(const dsq_bleu_sent *s) { return s->len; }

dsq_bleu_sent *dsq_bleu_prepare(dsq_ngram_ctx *c, const dsq_tokens *toks) {
    size_t H = toks->n, nent = 0, hc = H ? H : 1;
    for (int n = 1; n <= 4; n++) nent += H >= (size_t)n ? H - n + 1 : 0;
    dsq_bleu_sent *s = xmalloc(sizeof *s + nent * sizeof(bleu_ent));
    uint32_t *tid = xmalloc(3 * hc * sizeof *tid);  /* [H] token ids */
    uint32_t *gid = tid + hc;                       /* [H] ids of the n-grams starting at i */
    uint32_t *sorted = gid + hc;                    /* [H] scratch */
    bleu_ent *ent = (bleu_ent *)(s + 1);
    s->ctx = c;
    s->gen = c->gen;
    s->len = (uint32_t)H;
    for (size_t i = 0; i < H; i++) gid[i] = tid[i] = intern_token(c, toks->tok[i].s, toks->tok[i].len);
    for (int n = 1; n <= 4; n++) {
        size_t m = H >= (size_t)n ? H - n + 1 : 0;
        if (n > 1)
            for (size_t i = 0; i < m; i++) gid[i] = dsq_ngram_intern_pair(c, gid[i], tid[i + n - 1]);
        memcpy(sorted, gid, m * sizeof *sorted);
        sort_ids(sorted, m);
        size_t w = 0;
        for (size_t i = 0; i < m; i++) {
            if (w > 0 && ent[w - 1].id == sorted[i]) ent[w - 1].cnt++;
            else ent[w++] = (bleu_ent){sorted[i], 1};
        }
        s->ent[n - 1] = ent;
        s->nent[n - 1] = (uint32_t)w;
        ent += w;
    }
    free(tid);
    return s;
}

void dsq_bleu_sent_free(dsq_bleu_sent *p) { free(p); }

static int64_t merge_order(const dsq_bleu_sent *hy, const dsq_bleu_sent *re, int n) {
    const bleu_ent *a = hy->ent[n - 1], *b = re->ent[n - 1];
    size_t na = hy->nent[n - 1], nb = re->nent[n - 1], i = 0, j = 0;
    int64_t sum = 0;
    while (i < na && j < nb) {
        if (a[i].id < b[j].id) i++;
        else if (a[i].id > b[j].id) j++;
        else { sum += a[i].cnt < b[j].cnt ? a[i].cnt : b[j].cnt; i++; j++; }
    }
    return sum;
}

/* Sentences are comparable only within one context generation. */
static void same_ctx(const dsq_bleu_sent *a, const dsq_bleu_sent *b) {
    DSQ_CHECK(a->ctx == b->ctx && a->gen == b->gen);
}

void dsq_bleu_matches(const dsq_bleu_sent *hyp, const dsq_bleu_sent *ref, int64_t m[4]) {
    same_ctx(hyp, ref);
    for (int n = 1; n <= 4; n++) m[n - 1] = merge_order(hyp, ref, n);
}

/* CPython's math.fsum: Shewchuk's exact partials, then the round-half-even
 * correction of the final two partials. */
double dsq_fsum(const double *x, int n) {
    double p[8];
    int np = 0;
    for (int k = 0; k < n; k++) {
        double v = x[k];
        int i = 0;
        for (int j = 0; j < np; j++) {
            double y = p[j];
            if (fabs(v) < fabs(y)) { double t = v; v = y; y = t; }
            double hi = v + y;
            double lo = y - (hi - v);
            if (lo != 0.0) p[i++] = lo;
            v = hi;
        }
        np = i;
        p[np++] = v;
    }
    double hi = 0.0, lo = 0.0;
    if (np > 0) {
        hi = p[--np];
        while (np > 0) {
            double v = hi, y = p[--np];
            hi = v + y;
            double yr = hi - v;
            lo = y - yr;
            if (lo != 0.0) break;
        }
        if (np > 0 && ((lo < 0.0 && p[np - 1] < 0.0) || (lo > 0.0 && p[np - 1] > 0.0))) {
            double y = lo * 2.0;
            double v = hi + y;
            double yr = v - hi;
            if (y == yr) hi = v;
        }
    }
    return hi;
}

double dsq_bleu_from_counts(const int64_t m[4], int64_t H, int64_t R) {
    if (m[0] == 0) return 0.0;  /* nltk returns 0 before any smoothing */
    double bp;
    if (H > R) bp = 1.0;
    else if (H == 0) bp = 0.0;
    else bp = exp(1.0 - (double)R / (double)H);
    double terms[4];
    int nt = 0, incvnt = 1;
    for (int n = 1; n <= 4; n++) {
        int64_t d = H >= n ? H - n + 1 : 0;
        if (d < 1) d = 1;
        double p;
        if (m[n - 1] == 0 && H > 1) {
            /* method4: 1 / (2**incvnt * k / log(H)) / d, k = 5, in this
             * order of operations (int product, float division). */
            double a = (double)((1 << incvnt) * 5) / log((double)H);
            p = (1.0 / a) / (double)d;
            incvnt++;
        } else if (m[n - 1] == 0) {
            continue;  /* H == 1: the zero order is dropped (p_i > 0 fails) */
        } else {
            p = (double)m[n - 1] / (double)d;  /* Fraction -> float, correctly rounded */
        }
        terms[nt++] = 0.25 * log(p);
    }
    return bp * exp(dsq_fsum(terms, nt));
}

double dsq_sentence_bleu(const dsq_bleu_sent *hyp, const dsq_bleu_sent *ref) {
    int64_t m[4] = {0, 0, 0, 0};
    same_ctx(hyp, ref);
    m[0] = merge_order(hyp, ref, 1);
    if (m[0] == 0) return 0.0;
    for (int n = 2; n <= 4; n++) m[n - 1] = merge_order(hyp, ref, n);
    return dsq_bleu_from_counts(m, hyp->len, ref->len);
}

double dsq_sentence_bleu_str(const char *hyp, size_t hn, const char *ref, size_t rn) {
    dsq_tokens th = {0}, tr = {0};
    dsq_split_ws(hyp, hn, &th);
    dsq_split_ws(ref, rn, &tr);
    dsq_ngram_ctx *c = dsq_ngram_ctx_new();
    dsq_bleu_sent *a = dsq_bleu_prepare(c, &th), *b = dsq_bleu_prepare(c, &tr);
    double r = dsq_sentence_bleu(a, b);
    dsq_bleu_sent_free(a);
    dsq_bleu_sent_free(b);
    dsq_ngram_ctx_free(c);
    dsq_tokens_free(&th);
    dsq_tokens_free(&tr);
    return r;
}

void dsq_bleu_pair(const dsq_bleu_sent *a, const dsq_bleu_sent *b, double *bleu_ab, double *bleu_ba) {
    int64_t m[4] = {0, 0, 0, 0};
    same_ctx(a, b);
    /* Clipped matches are symmetric: min(count_a, count_b). */
    m[0] = merge_order(a, b, 1);
    if (m[0] == 0) {
        *bleu_ab = *bleu_ba = 0.0;
        return;
    }
    for (int n = 2; n <= 4; n++) m[n - 1] = merge_order(a, b, n);
    *bleu_ab = dsq_bleu_from_counts(m, a->len, b->len);
    *bleu_ba = dsq_bleu_from_counts(m, b->len, a->len);
}

double dsq_self_bleu(dsq_bleu_sent *const *c, size_t k, double *work) {
    size_t m = 0;
    for (size_t a = 0; a < k; a++)
        for (size_t b = a + 1; b < k; b++) work[m++] = dsq_sentence_bleu(c[b], c[a]);
    return m ? dsq_np_mean(work, m) : 0.0;
}

double dsq_div4_prepared(dsq_bleu_sent *const *c, size_t k) {
    size_t total = 0, cap = 0;
    for (size_t i = 0; i < k; i++) {
        total += c[i]->len >= 4 ? c[i]->len - 3 : 0;
        cap += c[i]->nent[3];
    }
    if (total == 0) return 0.0;
    for (size_t i = 1; i < k; i++) same_ctx(c[0], c[i]);
    /* Distinct ids over the candidates: gather, sort, count runs. */
    uint32_t *ids = xmalloc(cap * sizeof *ids);
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        for (uint32_t j = 0; j < c[i]->nent[3]; j++) ids[m++] = c[i]->ent[3][j].id;
    qsort(ids, m, sizeof *ids, cmp_u32);
    size_t distinct = 0;
    for (size_t i = 0; i < m; i++) distinct += i == 0 || ids[i] != ids[i - 1];
    free(ids);
    return (double)distinct / (double)total;
}

double dsq_distinct1_prepared(const dsq_bleu_sent *s) {
    return s->len ? (double)s->nent[0] / (double)s->len : 0.0;
}

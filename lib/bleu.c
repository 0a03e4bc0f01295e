/* nltk 3.8 sentence_bleu (one reference, weights ¼×4, method4), to the
 * bit: spec/metrics.md §1, re-checked against nltk's bleu_score.py.
 *
 * A prepared sentence holds, for n = 1..4, its distinct n-grams as
 * (hash, first position, count) sorted by (hash, content), plus a private
 * copy of its tokens, so that BLEU of two prepared sentences is four merges
 * of sorted arrays with no allocation.  Equal hashes are always confirmed
 * by comparing the tokens, so a 64-bit collision cannot merge n-grams. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bleu_internal.h"
#include "err.h"
#include "textscan.h"

uint64_t dsq_bleu_hash_mask = ~(uint64_t)0;

typedef struct {
    uint64_t h;
    uint32_t pos;  /* token index of the first occurrence */
    uint32_t cnt;
} bleu_ent;

struct dsq_bleu_sent {
    uint32_t len;
    uint32_t nent[4];
    bleu_ent *ent[4];
    uint32_t *off;  /* len + 1 offsets into bytes */
    char *bytes;
};

size_t dsq_bleu_sent_len(const dsq_bleu_sent *s) { return s->len; }

/* Orders the n-grams at position p of a and q of b by content: token by
 * token, shorter token first, then bytes.  Any fixed total order works as
 * long as prepare and merge use the same one. */
static int ngram_cmp(const dsq_bleu_sent *a, uint32_t p, const dsq_bleu_sent *b, uint32_t q, int n) {
    for (int k = 0; k < n; k++) {
        uint32_t la = a->off[p + k + 1] - a->off[p + k];
        uint32_t lb = b->off[q + k + 1] - b->off[q + k];
        if (la != lb) return la < lb ? -1 : 1;
        int c = memcmp(a->bytes + a->off[p + k], b->bytes + b->off[q + k], la);
        if (c) return c;
    }
    return 0;
}

static int ent_cmp(const dsq_bleu_sent *s, const bleu_ent *x, const bleu_ent *y, int n) {
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    int c = ngram_cmp(s, x->pos, s, y->pos, n);
    if (c) return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Stable merge sort of v[0..m) by ent_cmp, tmp has room for m. */
static void ent_sort(const dsq_bleu_sent *s, bleu_ent *v, bleu_ent *tmp, size_t m, int n) {
    if (m <= 12) {
        for (size_t i = 1; i < m; i++) {
            bleu_ent x = v[i];
            size_t j = i;
            while (j > 0 && ent_cmp(s, &v[j - 1], &x, n) > 0) { v[j] = v[j - 1]; j--; }
            v[j] = x;
        }
        return;
    }
    size_t h = m / 2;
    ent_sort(s, v, tmp, h, n);
    ent_sort(s, v + h, tmp, m - h, n);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < m) tmp[k++] = ent_cmp(s, &v[j], &v[i], n) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < m) tmp[k++] = v[j++];
    memcpy(v, tmp, m * sizeof *v);
}

dsq_bleu_sent *dsq_bleu_prepare(const dsq_tokens *toks) {
    size_t H = toks->n, nbytes = 0, nent = 0;
    for (size_t i = 0; i < H; i++) nbytes += toks->tok[i].len;
    for (int n = 1; n <= 4; n++) nent += H >= (size_t)n ? H - n + 1 : 0;
    /* One block: header, entries, offsets, token bytes. */
    size_t sz = sizeof(dsq_bleu_sent) + nent * sizeof(bleu_ent) + (H + 1) * sizeof(uint32_t) + nbytes;
    dsq_bleu_sent *s = xmalloc(sz);
    bleu_ent *ent = (bleu_ent *)(s + 1);
    s->off = (uint32_t *)(ent + nent);
    s->bytes = (char *)(s->off + H + 1);
    s->len = (uint32_t)H;
    uint32_t o = 0;
    for (size_t i = 0; i < H; i++) {
        s->off[i] = o;
        memcpy(s->bytes + o, toks->tok[i].s, toks->tok[i].len);
        o += toks->tok[i].len;
    }
    s->off[H] = o;

    /* Scratch: token hashes, per-start rolling n-gram hashes, sort buffer. */
    size_t hc = H ? H : 1;
    uint64_t *tokh = xmalloc(hc * (2 * sizeof(uint64_t) + sizeof(bleu_ent)));
    uint64_t *gh = tokh + hc;
    bleu_ent *tmp = (bleu_ent *)(gh + hc);
    for (size_t i = 0; i < H; i++) gh[i] = tokh[i] = dsq_hash_bytes(toks->tok[i].s, toks->tok[i].len);

    for (int n = 1; n <= 4; n++) {
        size_t m = H >= (size_t)n ? H - n + 1 : 0;
        if (n > 1)
            for (size_t i = 0; i < m; i++)
                gh[i] = dsq_mix64(gh[i] * 0x9E3779B97F4A7C15ULL + tokh[i + n - 1] + (uint64_t)n);
        bleu_ent *v = ent;
        for (size_t i = 0; i < m; i++) {
            v[i].h = gh[i] & dsq_bleu_hash_mask;
            v[i].pos = (uint32_t)i;
            v[i].cnt = 1;
        }
        ent_sort(s, v, tmp, m, n);
        /* Collapse equal contents (adjacent after the sort) into counts. */
        size_t w = 0;
        for (size_t i = 0; i < m; i++) {
            if (w > 0 && v[w - 1].h == v[i].h && ngram_cmp(s, v[w - 1].pos, s, v[i].pos, n) == 0)
                v[w - 1].cnt++;
            else
                v[w++] = v[i];
        }
        s->ent[n - 1] = v;
        s->nent[n - 1] = (uint32_t)w;
        ent += w;
    }
    free(tokh);
    return s;
}

void dsq_bleu_sent_free(dsq_bleu_sent *p) { free(p); }

static int64_t merge_order(const dsq_bleu_sent *hy, const dsq_bleu_sent *re, int n) {
    const bleu_ent *a = hy->ent[n - 1], *b = re->ent[n - 1];
    size_t na = hy->nent[n - 1], nb = re->nent[n - 1], i = 0, j = 0;
    int64_t sum = 0;
    while (i < na && j < nb) {
        if (a[i].h < b[j].h) { i++; continue; }
        if (a[i].h > b[j].h) { j++; continue; }
        int c = ngram_cmp(hy, a[i].pos, re, b[j].pos, n);
        if (c < 0) i++;
        else if (c > 0) j++;
        else { sum += a[i].cnt < b[j].cnt ? a[i].cnt : b[j].cnt; i++; j++; }
    }
    return sum;
}

void dsq_bleu_matches(const dsq_bleu_sent *hyp, const dsq_bleu_sent *ref, int64_t m[4]) {
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
    m[0] = merge_order(hyp, ref, 1);
    if (m[0] == 0) return 0.0;
    for (int n = 2; n <= 4; n++) m[n - 1] = merge_order(hyp, ref, n);
    return dsq_bleu_from_counts(m, hyp->len, ref->len);
}

double dsq_sentence_bleu_str(const char *hyp, size_t hn, const char *ref, size_t rn) {
    dsq_tokens th = {0}, tr = {0};
    dsq_split_ws(hyp, hn, &th);
    dsq_split_ws(ref, rn, &tr);
    dsq_bleu_sent *a = dsq_bleu_prepare(&th), *b = dsq_bleu_prepare(&tr);
    double r = dsq_sentence_bleu(a, b);
    dsq_bleu_sent_free(a);
    dsq_bleu_sent_free(b);
    dsq_tokens_free(&th);
    dsq_tokens_free(&tr);
    return r;
}

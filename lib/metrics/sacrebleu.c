/* sacreBLEU 2.6.0 corpus BLEU (tokenize 13a, smooth exp, one reference,
 * case kept) and chrF (char order 6, word order 0, beta 2, whitespace
 * dropped), re-stated from sacrebleu's metrics/bleu.py, metrics/chrf.py and
 * tokenizers/tokenizer_13a.py; parity 1e-9 with the Python package. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bleu_internal.h"
#include "err.h"
#include "metrics.h"
#include "textscan.h"

#define SACREBLEU_VERSION "2.6.0"

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_reserve(sbuf *b, size_t need) {
    if (need + 1 > b->cap) {
        b->cap = need + 1 > 2 * b->cap ? need + 1 : 2 * b->cap;
        b->p = xrealloc(b->p, b->cap);
    }
}

static void sb_swap(sbuf *a, sbuf *b) {
    sbuf t = *a;
    *a = *b;
    *b = t;
}

/* dst = src with every non-overlapping pat (left to right) replaced by rep
 * (Python str.replace). */
static void replace_all(sbuf *dst, const sbuf *src, const char *pat, const char *rep) {
    size_t pl = strlen(pat), rl = strlen(rep);
    dst->n = 0;
    sb_reserve(dst, src->n * (rl > pl ? rl : 1) + 1);
    for (size_t i = 0; i < src->n;) {
        if (i + pl <= src->n && memcmp(src->p + i, pat, pl) == 0) {
            memcpy(dst->p + dst->n, rep, rl);
            dst->n += rl;
            i += pl;
        } else {
            dst->p[dst->n++] = src->p[i++];
        }
    }
}

/* Rule 1 of the 13a post-tokenizer, r'([\{-\~\[-\` -\&\(-\+\:-\@\/])' ->
 * r' \1 ': these ASCII punctuation bytes and the space. */
static int rule1_char(unsigned c) {
    return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
           (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == 0x2F;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_dotcomma(unsigned char c) { return c == '.' || c == ','; }

/* The two-character rules as re.sub applies them: scan left to right, a
 * match consumes both characters.  Working on UTF-8 bytes gives the same
 * output as on code points: the classes that name a character are ASCII,
 * [^0-9] holds every non-ASCII character, and continuation bytes never
 * start a match.  kind 2: ([^0-9])([.,]) -> '\1 \2 ';
 * 3: ([.,])([^0-9]) -> ' \1 \2'; 4: ([0-9])(-) -> '\1 \2 '. */
static void rule_pair(sbuf *dst, const sbuf *src, int kind) {
    const unsigned char *s = (const unsigned char *)src->p;
    size_t n = src->n;
    dst->n = 0;
    sb_reserve(dst, 2 * n + 2);
    for (size_t i = 0; i < n;) {
        int m = 0;
        if (i + 1 < n) {
            if (kind == 2) m = !is_digit(s[i]) && is_dotcomma(s[i + 1]);
            else if (kind == 3) m = is_dotcomma(s[i]) && !is_digit(s[i + 1]);
            else m = is_digit(s[i]) && s[i + 1] == '-';
        }
        if (!m) { dst->p[dst->n++] = (char)s[i++]; continue; }
        char *o = dst->p + dst->n;
        if (kind == 3) { o[0] = ' '; o[1] = (char)s[i]; o[2] = ' '; o[3] = (char)s[i + 1]; }
        else { o[0] = (char)s[i]; o[1] = ' '; o[2] = (char)s[i + 1]; o[3] = ' '; }
        dst->n += 4;
        i += 2;
    }
}

/* BLEU._preprocess_segment (rstrip) + Tokenizer13a into a (in place of the
 * two scratch buffers); the result is split on whitespace by the caller. */
static void tok13a(const char *line, size_t len, sbuf *a, sbuf *b) {
    len = dsq_py_rstrip_len(line, 0, len);
    a->n = 0;
    sb_reserve(a, len);
    memcpy(a->p, line, len);
    a->n = len;
    replace_all(b, a, "<skipped>", ""); sb_swap(a, b);
    replace_all(b, a, "-\n", ""); sb_swap(a, b);
    replace_all(b, a, "\n", " "); sb_swap(a, b);
    if (memchr(a->p, '&', a->n)) {
        replace_all(b, a, "&quot;", "\""); sb_swap(a, b);
        replace_all(b, a, "&amp;", "&"); sb_swap(a, b);
        replace_all(b, a, "&lt;", "<"); sb_swap(a, b);
        replace_all(b, a, "&gt;", ">"); sb_swap(a, b);
    }
    /* f' {line} ' and rule 1 in one pass. */
    b->n = 0;
    sb_reserve(b, 3 * a->n + 6);
    const unsigned char *s = (const unsigned char *)a->p;
    b->p[b->n++] = ' ';
    b->p[b->n++] = ' ';
    b->p[b->n++] = ' ';
    for (size_t i = 0; i < a->n; i++) {
        if (rule1_char(s[i])) { b->p[b->n++] = ' '; b->p[b->n++] = (char)s[i]; b->p[b->n++] = ' '; }
        else b->p[b->n++] = (char)s[i];
    }
    b->p[b->n++] = ' ';
    b->p[b->n++] = ' ';
    b->p[b->n++] = ' ';
    rule_pair(a, b, 2);
    rule_pair(b, a, 3);
    rule_pair(a, b, 4);
}

char *dsq_tokenize_13a(const char *s, size_t n, size_t *out_len) {
    sbuf a = {0}, b = {0};
    dsq_tokens t = {0};
    tok13a(s, n, &a, &b);
    dsq_split_ws(a.p, a.n, &t);
    size_t len = 0;
    for (size_t i = 0; i < t.n; i++) len += t.tok[i].len + (i > 0);
    char *out = xmalloc(len + 1), *w = out;
    for (size_t i = 0; i < t.n; i++) {
        if (i) *w++ = ' ';
        memcpy(w, t.tok[i].s, t.tok[i].len);
        w += t.tok[i].len;
    }
    *w = '\0';
    if (out_len) *out_len = len;
    dsq_tokens_free(&t);
    free(a.p);
    free(b.p);
    return out;
}

void dsq_corpus_bleu_13a(const char *const *hyps, const size_t *hlens,
                         const char *const *refs, const size_t *rlens,
                         size_t n, dsq_sacrebleu *out) {
    int64_t correct[4] = {0}, total[4] = {0}, sys_len = 0, ref_len = 0;
    sbuf a = {0}, b = {0}, c = {0};
    dsq_tokens th = {0}, tr = {0};
    dsq_ngram_ctx *ctx = dsq_ngram_ctx_new();
    for (size_t i = 0; i < n; i++) {
        tok13a(hyps[i], hlens[i], &a, &b);
        dsq_split_ws(a.p, a.n, &th);
        tok13a(refs[i], rlens[i], &c, &b);
        dsq_split_ws(c.p, c.n, &tr);
        dsq_ngram_ctx_reset(ctx);
        dsq_bleu_sent *hs = dsq_bleu_prepare(ctx, &th), *rs = dsq_bleu_prepare(ctx, &tr);
        int64_t m[4];
        dsq_bleu_matches(hs, rs, m);
        for (int k = 0; k < 4; k++) {
            correct[k] += m[k];
            total[k] += th.n > (size_t)k ? (int64_t)th.n - k : 0;
        }
        sys_len += (int64_t)th.n;
        ref_len += (int64_t)tr.n;
        dsq_bleu_sent_free(hs);
        dsq_bleu_sent_free(rs);
    }
    free(a.p); free(b.p); free(c.p);
    dsq_tokens_free(&th);
    dsq_ngram_ctx_free(ctx);
    dsq_tokens_free(&tr);

    /* BLEU.compute_bleu with smooth_method='exp', effective_order off. */
    memset(out, 0, sizeof *out);
    out->sys_len = sys_len;
    out->ref_len = ref_len;
    out->bp = 1.0;
    if (sys_len < ref_len) out->bp = sys_len > 0 ? exp(1.0 - (double)ref_len / (double)sys_len) : 0.0;
    out->ratio = ref_len ? (double)sys_len / (double)ref_len : 0.0;
    snprintf(out->signature, sizeof out->signature,
             "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" SACREBLEU_VERSION);
    int any = 0;
    for (int k = 0; k < 4; k++) any |= correct[k] != 0;
    if (!any) { out->score = 0.0; return; }
    double smooth = 1.0;
    for (int k = 0; k < 4; k++) {
        if (total[k] == 0) break;  /* the rest stay 0.0 */
        if (correct[k] == 0) {
            smooth *= 2.0;
            out->precisions[k] = 100.0 / (smooth * (double)total[k]);
        } else {
            out->precisions[k] = 100.0 * (double)correct[k] / (double)total[k];
        }
    }
    /* sum() left to right of my_log (log, or -9999999999 for 0), / 4. */
    double s = 0.0;
    for (int k = 0; k < 4; k++) s += out->precisions[k] == 0.0 ? -9999999999.0 : log(out->precisions[k]);
    out->score = out->bp * exp(s / 4.0);
}

/* ''.join(line.split()) as code points into cp; returns the count. */
static size_t chars_no_ws(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += dsq_u8_next(u + i, n - i, &c);
        if (!dsq_is_py_space(c)) cp[k++] = c;
    }
    return k;
}

/* Character n-grams of one segment, interned to exact ids in an n-gram
 * context: order 1 as (DSQ_NGRAM_NO_PREFIX, code point), order n > 1 as
 * (id of the first n-1 characters, last code point).  Counts per id for
 * the hypothesis and the reference then give the clipped matches in one
 * pass, without sorting. */
typedef struct {
    dsq_ngram_ctx *ctx;
    uint32_t *cnt_h, *cnt_r;  /* [ids] */
    uint8_t *order;           /* [ids] 1..6 */
    size_t id_cap;
} cgrams;

static void cg_reset(cgrams *g, size_t need_ids) {
    dsq_ngram_ctx_reset(g->ctx);
    if (need_ids > g->id_cap) {
        g->id_cap = need_ids;
        g->cnt_h = xrealloc(g->cnt_h, need_ids * sizeof *g->cnt_h);
        g->cnt_r = xrealloc(g->cnt_r, need_ids * sizeof *g->cnt_r);
        g->order = xrealloc(g->order, need_ids);
    }
}

/* Counts every n-gram (orders 1..6) of cp[0..len) into cnt; prev is
 * scratch of len ids. */
static void cg_count(cgrams *g, const uint32_t *cp, size_t len, uint32_t *cnt, uint32_t *prev) {
    for (int n = 1; n <= 6; n++) {
        if (len < (size_t)n) break;
        size_t m = len - n + 1;
        for (size_t i = 0; i < m; i++) {
            uint32_t before = dsq_ngram_ctx_ids(g->ctx);
            uint32_t id = dsq_ngram_intern_pair(g->ctx, n == 1 ? DSQ_NGRAM_NO_PREFIX : prev[i],
                                                cp[i + n - 1]);
            if (id == before) {  /* new: start its counts */
                g->cnt_h[id] = g->cnt_r[id] = 0;
                g->order[id] = (uint8_t)n;
            }
            prev[i] = id;
            cnt[id]++;
        }
    }
}

#define CHRF_ORDER 6
#define CHRF_BETA 2

void dsq_corpus_chrf(const char *const *hyps, const size_t *hlens,
                     const char *const *refs, const size_t *rlens,
                     size_t n, dsq_chrf *out) {
    /* stats[k] = {hyp, ref, match} summed over segments, as sum_of_lists. */
    int64_t st[CHRF_ORDER][3] = {{0}};
    cgrams g = {.ctx = dsq_ngram_ctx_new()};
    for (size_t i = 0; i < n; i++) {
        uint32_t *hc = xmalloc((2 * (hlens[i] + rlens[i]) + 2) * sizeof *hc);
        uint32_t *rc = hc + hlens[i] + 1;
        uint32_t *prev = rc + rlens[i] + 1;
        size_t hl = chars_no_ws(hyps[i], hlens[i], hc);
        size_t rl = chars_no_ws(refs[i], rlens[i], rc);
        cg_reset(&g, CHRF_ORDER * (hl + rl) + 1);
        cg_count(&g, hc, hl, g.cnt_h, prev);
        cg_count(&g, rc, rl, g.cnt_r, prev);
        int64_t nh[CHRF_ORDER] = {0}, nr[CHRF_ORDER] = {0}, nm[CHRF_ORDER] = {0};
        for (uint32_t id = 0; id < dsq_ngram_ctx_ids(g.ctx); id++) {
            int k = g.order[id] - 1;
            nh[k] += g.cnt_h[id];
            nr[k] += g.cnt_r[id];
            nm[k] += g.cnt_h[id] < g.cnt_r[id] ? g.cnt_h[id] : g.cnt_r[id];
        }
        for (int k = 0; k < CHRF_ORDER; k++) {
            /* _get_match_statistics: the hypothesis count is 0 when the
             * reference has no n-gram of this order. */
            st[k][0] += nr[k] ? nh[k] : 0;
            st[k][1] += nr[k];
            st[k][2] += nm[k];
        }
        free(hc);
    }
    dsq_ngram_ctx_free(g.ctx);
    free(g.cnt_h);
    free(g.cnt_r);
    free(g.order);
    /* CHRF._compute_f_score with eps_smoothing off. */
    const double factor = CHRF_BETA * CHRF_BETA;
    double avg_prec = 0.0, avg_rec = 0.0;
    int eff = 0;
    for (int k = 0; k < CHRF_ORDER; k++) {
        int64_t nh = st[k][0], nr = st[k][1], nm = st[k][2];
        if (nh > 0 && nr > 0) {
            avg_prec += (double)nm / (double)nh;
            avg_rec += (double)nm / (double)nr;
            eff++;
        }
    }
    if (eff == 0) avg_prec = avg_rec = 0.0;
    else { avg_prec /= eff; avg_rec /= eff; }
    double score = 0.0;
    if (avg_prec + avg_rec != 0.0) {
        score = (1.0 + factor) * avg_prec * avg_rec;
        score /= (factor * avg_prec) + avg_rec;
        score = 100.0 * score;
    }
    out->score = score;
    snprintf(out->signature, sizeof out->signature,
             "nrefs:1|case:mixed|eff:yes|nc:%d|nw:0|space:no|version:" SACREBLEU_VERSION, CHRF_ORDER);
}

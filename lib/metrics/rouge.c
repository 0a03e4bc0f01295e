/* torchmetrics ROUGEScore() rougeL_fmeasure (doc/metrics.md §2): the
 * default normaliser `re.sub(r"[^a-z0-9]+", " ", text.lower())`, a
 * whitespace split, whole-sentence LCS, F rounded to float32. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "metrics.h"
#include "textscan.h"

typedef struct {
    uint32_t off, len;
    uint64_t h;
} rtok;

/* Writes the normalised text of s into buf (at most n bytes: every input
 * byte yields at most one output byte) as NUL-separated [a-z0-9] runs and
 * records the tokens.  Python's lower() maps exactly three kinds of
 * characters into [a-z0-9]: A-Z, U+212A KELVIN SIGN -> "k", and U+0130 ->
 * "i" + U+0307, whose combining dot then separates (checked over all code
 * points with CPython 3.11). */
static size_t rouge_tokens(const char *s, size_t n, char *buf, rtok *tok) {
    const unsigned char *u = (const unsigned char *)s;
    size_t w = 0, nt = 0, i = 0;
    int in_tok = 0;
    while (i < n) {
        unsigned c = u[i];
        char out = 0;
        int sep_after = 0;
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z') out = (char)(c + 32);
            else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out = (char)c;
            i++;
        } else {
            uint32_t cp;
            i += dsq_u8_next(u + i, n - i, &cp);
            if (cp == 0x212A) out = 'k';
            else if (cp == 0x130) { out = 'i'; sep_after = 1; }
        }
        if (out) {
            if (!in_tok) { tok[nt].off = (uint32_t)w; tok[nt].len = 0; in_tok = 1; nt++; }
            buf[w++] = out;
            tok[nt - 1].len++;
        }
        if (!out || sep_after) in_tok = 0;
    }
    for (size_t t = 0; t < nt; t++) tok[t].h = dsq_hash_bytes(buf + tok[t].off, tok[t].len);
    return nt;
}

static int rtok_eq(const char *ba, const rtok *a, const char *bb, const rtok *b) {
    return a->h == b->h && a->len == b->len && memcmp(ba + a->off, bb + b->off, a->len) == 0;
}

double dsq_rouge_l_str(const char *hyp, size_t hn, const char *ref, size_t rn) {
    /* One scratch block: two text buffers, two token arrays, one DP row. */
    size_t nmax_h = hn + 1, nmax_r = rn + 1;  /* tokens <= bytes */
    size_t sz = hn + rn + 2 + (nmax_h + nmax_r) * sizeof(rtok) + (nmax_h + 1) * sizeof(uint32_t);
    char *blk = xmalloc(sz + 16);
    rtok *th = (rtok *)blk;
    rtok *tr = th + nmax_h;
    uint32_t *row = (uint32_t *)(tr + nmax_r);
    char *bh = (char *)(row + nmax_h + 1);
    char *br = bh + hn + 1;
    size_t nh = rouge_tokens(hyp, hn, bh, th);
    size_t nr = rouge_tokens(ref, rn, br, tr);
    double f = 0.0;
    if (nh > 0 && nr > 0) {
        /* LCS with one row over the hypothesis, prev holding row[j-1] of
         * the previous reference token. */
        memset(row, 0, (nh + 1) * sizeof *row);
        for (size_t i = 0; i < nr; i++) {
            uint32_t diag = 0;
            for (size_t j = 1; j <= nh; j++) {
                uint32_t up = row[j];
                if (rtok_eq(br, &tr[i], bh, &th[j - 1])) row[j] = diag + 1;
                else if (row[j - 1] > up) row[j] = row[j - 1];
                diag = up;
            }
        }
        uint32_t lcs = row[nh];
        if (lcs > 0) {
            double p = (double)lcs / (double)nh, r = (double)lcs / (double)nr;
            f = 2.0 * p * r / (p + r);
        }
    }
    free(blk);
    return (double)(float)f;  /* torch.tensor(f): float32 */
}

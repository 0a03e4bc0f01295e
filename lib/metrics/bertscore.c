/* BERTScore (bertscore.h): tokenise every text in parallel, encode the
 * distinct texts of a chunk of pairs in length-sorted padded batches, keep
 * their normalised token vectors, then match each pair (in parallel). */
#include "bertscore.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void dsq_bertscore_opts_default(dsq_bertscore_opts *o) {
    memset(o, 0, sizeof *o);
    o->layer = -1;
    o->group = 64;
    o->batch = 64;
    o->max_tokens = 8192;
}

/* sum_i (w_i / sum w) * best_i in double; NaN when the weights sum to 0
 * (bert_score divides 0 by 0 there). */
static double weighted(const float *w, const float *best, int n) {
    double s = 0, acc = 0;
    for (int i = 0; i < n; i++) s += w[i];
    if (s == 0) return NAN;
    for (int i = 0; i < n; i++) acc += (w[i] / s) * best[i];
    return acc;
}

void dsq_bertscore_pair(const float *eh, int lh, const float *wh, const float *er, int lr,
                        const float *wr, int H, int pad_r, int pad_h, double *P, double *R,
                        double *F) {
    float *sim = xmalloc((size_t)lh * lr * sizeof *sim);
    float *rowmax = xmalloc((size_t)lh * sizeof *rowmax);
    float *colmax = xmalloc((size_t)lr * sizeof *colmax);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, lh, lr, H, 1.0f, eh, H, er, H, 0.0f,
                sim, lr);
    for (int j = 0; j < lr; j++) colmax[j] = pad_h ? 0.0f : -INFINITY;
    for (int i = 0; i < lh; i++) {
        float mx = pad_r ? 0.0f : -INFINITY;
        for (int j = 0; j < lr; j++) {
            float v = sim[(size_t)i * lr + j];
            if (v > mx) mx = v;
            if (v > colmax[j]) colmax[j] = v;
        }
        rowmax[i] = mx;
    }
    double p = weighted(wh, rowmax, lh), r = weighted(wr, colmax, lr);
    double f = 2 * p * r / (p + r);
    if (isnan(f)) f = 0;
    /* bert_score's empty-sentence rule (its F is NaN -> 0 there too, the
     * [CLS]/[SEP] weights being 0). */
    if (lh == 2 || lr == 2) p = r = f = 0;
    if (isnan(p)) p = 0;
    if (isnan(r)) r = 0;
    *P = p;
    *R = r;
    *F = f;
    free(sim);
    free(rowmax);
    free(colmax);
}

/* Distinct texts of a chunk, sorted by length (longest first) then ids. */
static int cmp_texts(const void *a, const void *b, void *ctx) {
    const dsq_ids *t = ctx;
    const dsq_ids *x = &t[*(const size_t *)a], *y = &t[*(const size_t *)b];
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    int c = memcmp(x->ids, y->ids, x->n * sizeof *x->ids);
    if (c) return c;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    return ia < ib ? -1 : ia > ib;
}

typedef struct {
    dsq_bert *m;
    const dsq_bertscore_opts *o;
    const dsq_ids *tok;     /* [2n]: hypotheses then references */
    const float *idf;       /* [V] or NULL */
    const int *gmax;        /* [2 * groups]: longest hypothesis, reference */
    size_t n, done, total;  /* texts encoded so far, of 2n */
} ctx_t;

static float weight_of(const ctx_t *c, int32_t id) {
    if (c->idf) return c->idf[id];
    return id == c->m->cls_id || id == c->m->sep_id ? 0.0f : 1.0f;
}

/* Encodes texts idx[0..k) (sorted as cmp_texts) into emb (normalised rows,
 * text j at off[j]).  On the CPU backend the batches are spread over the
 * threads, each running whole forwards in its own workspace (the
 * operations inside then run on one thread: no barrier per operation, and
 * the same bits as on any other thread count); elsewhere one after the
 * other. */
static void encode_sorted(ctx_t *c, const size_t *idx, size_t k, const size_t *off, float *emb) {
    dsq_bert *m = c->m;
    int H = m->cfg.H;
    /* Batches: start index and size. */
    size_t nb = 0, *start = xmalloc((k + 1) * sizeof *start);
    int *size = xmalloc((k + 1) * sizeof *size);
    for (size_t s = 0; s < k;) {
        int L = (int)c->tok[idx[s]].n;
        int B = c->o->max_tokens / L;
        if (B < 1) B = 1;
        if (B > c->o->batch) B = c->o->batch;
        if ((size_t)B > k - s) B = (int)(k - s);
        start[nb] = s;
        size[nb++] = B;
        s += (size_t)B;
    }
    int par = strcmp(m->be->name, "cpu") == 0 && !omp_in_parallel();
#pragma omp parallel if (par)
    {
        dsq_bert_ws ws = {0};
#pragma omp for schedule(dynamic, 1)
        for (size_t bi = 0; bi < nb; bi++) {
            size_t s = start[bi];
            int B = size[bi], L = (int)c->tok[idx[s]].n;
            int32_t *ids = xcalloc((size_t)B * L, sizeof *ids);
            int *lens = xmalloc((size_t)B * sizeof *lens);
            for (int b = 0; b < B; b++) {
                const dsq_ids *t = &c->tok[idx[s + b]];
                lens[b] = (int)t->n;
                memcpy(ids + (size_t)b * L, t->ids, t->n * sizeof *ids);
            }
            float *out = xmalloc((size_t)B * L * H * sizeof *out);
            dsq_bert_forward_ws(m, &ws, ids, lens, B, L, c->o->layer, out, NULL);
            for (int b = 0; b < B; b++) {
                for (int l = 0; l < lens[b]; l++) {
                    const float *x = out + ((size_t)b * L + l) * H;
                    float *y = emb + (off[s + b] + (size_t)l) * H;
                    double ss = 0;
                    for (int j = 0; j < H; j++) ss += (double)x[j] * x[j];
                    float nrm = (float)sqrt(ss);
                    for (int j = 0; j < H; j++) y[j] = x[j] / nrm;
                }
            }
            free(out);
            free(ids);
            free(lens);
#pragma omp critical(dsq_bertscore_progress)
            {
                c->done += (size_t)B;
                if (c->o->progress && omp_get_thread_num() == 0)
                    c->o->progress(c->o->progress_ctx, c->done, c->total);
            }
        }
        dsq_bert_ws_free(m, &ws);
    }
    free(start);
    free(size);
}

/* Pairs [p0, p1): encode their distinct texts, then match each pair. */
static void score_chunk(ctx_t *c, size_t p0, size_t p1, double *P, double *R, double *F) {
    size_t np = p1 - p0, nt = 2 * np;
    size_t *idx = xmalloc(nt * sizeof *idx);
    for (size_t i = 0; i < np; i++) {
        idx[i] = p0 + i;
        idx[np + i] = c->n + p0 + i;
    }
    qsort_r(idx, nt, sizeof *idx, cmp_texts, (void *)c->tok);
    /* slot[t - base]: the distinct text of text t; base covers 2n texts. */
    size_t *uniq = xmalloc(nt * sizeof *uniq), *off = xmalloc((nt + 1) * sizeof *off);
    size_t *slot_h = xmalloc(np * sizeof *slot_h), *slot_r = xmalloc(np * sizeof *slot_r);
    size_t k = 0, tokens = 0;
    for (size_t i = 0; i < nt; i++) {
        const dsq_ids *t = &c->tok[idx[i]];
        if (k == 0 || t->n != c->tok[uniq[k - 1]].n ||
            memcmp(t->ids, c->tok[uniq[k - 1]].ids, t->n * sizeof *t->ids) != 0) {
            uniq[k] = idx[i];
            off[k] = tokens;
            tokens += t->n;
            k++;
        }
        size_t u = k - 1, ti = idx[i];
        if (ti < c->n) slot_h[ti - p0] = u;
        else slot_r[ti - c->n - p0] = u;
    }
    off[k] = tokens;
    int H = c->m->cfg.H;
    float *emb = xmalloc((tokens ? tokens : 1) * (size_t)H * sizeof *emb);
    encode_sorted(c, uniq, k, off, emb);
    c->done += nt - k;  /* duplicates: encoded once */
    if (c->o->progress) c->o->progress(c->o->progress_ctx, c->done, c->total);
#pragma omp parallel
    {
        float *wh = NULL, *wr = NULL;
        size_t cap = 0;
#pragma omp for schedule(dynamic, 16)
        for (size_t i = 0; i < np; i++) {
            const dsq_ids *th = &c->tok[p0 + i], *tr = &c->tok[c->n + p0 + i];
            size_t need = th->n > tr->n ? th->n : tr->n;
            if (need > cap) {
                cap = need;
                wh = xrealloc(wh, cap * sizeof *wh);
                wr = xrealloc(wr, cap * sizeof *wr);
            }
            for (size_t j = 0; j < th->n; j++) wh[j] = weight_of(c, th->ids[j]);
            for (size_t j = 0; j < tr->n; j++) wr[j] = weight_of(c, tr->ids[j]);
            size_t g = (p0 + i) / (size_t)c->o->group;
            int pad_h = (int)th->n < c->gmax[2 * g], pad_r = (int)tr->n < c->gmax[2 * g + 1];
            dsq_bertscore_pair(emb + off[slot_h[i]] * H, (int)th->n, wh,
                               emb + off[slot_r[i]] * H, (int)tr->n, wr, H, pad_r, pad_h,
                               &P[p0 + i], &R[p0 + i], &F[p0 + i]);
        }
        free(wh);
        free(wr);
    }
    free(emb);
    free(idx);
    free(uniq);
    free(off);
    free(slot_h);
    free(slot_r);
}

int dsq_bertscore(dsq_bert *m, const dsq_bertscore_opts *o, char *const *hyp,
                  const size_t *hyp_len, char *const *ref, const size_t *ref_len, size_t n,
                  double *P, double *R, double *F, dsq_err *e) {
    if (o->layer < 0 || o->layer > m->cfg.n_layers)
        return dsq_err_set(e, DSQ_EUSAGE, "BERTScore layer %d out of range: %s has layers "
                           "0..%d", o->layer, m->cfg.name, m->cfg.n_layers);
    if (n == 0) return 0;
    dsq_ids *tok = xcalloc(2 * n, sizeof *tok);
    /* The first error in text order wins, whatever the thread count. */
    size_t bad = (size_t)-1;
    dsq_err first = {0};
#pragma omp parallel for schedule(dynamic, 64)
    for (size_t i = 0; i < 2 * n; i++) {
        const char *s = i < n ? hyp[i] : ref[i - n];
        size_t len = i < n ? hyp_len[i] : ref_len[i - n];
        dsq_err le = {0};
        if (dsq_bert_encode_text(m, s, len, &tok[i], &le)) {
#pragma omp critical
            if (i < bad) {
                bad = i;
                first = le;
            }
        }
    }
    int rc = 0;
    if (bad != (size_t)-1) {
        rc = dsq_err_set(e, first.code, "%s %zu: %s", bad < n ? "hypothesis" : "reference",
                         (bad < n ? bad : bad - n) + 1, first.msg);
        goto done;
    }
    float *idf = NULL;
    if (o->idf) {
        /* bert_score's get_idf_dict: document frequency over the references'
         * token sets, idf = ln((M + 1) / (df + 1)) in double, stored float. */
        int V = m->cfg.vocab;
        size_t *df = xcalloc((size_t)V, sizeof *df);
        int32_t *seen = xmalloc((size_t)V * sizeof *seen);
        for (int v = 0; v < V; v++) seen[v] = -1;
        for (size_t i = 0; i < n; i++) {
            const dsq_ids *t = &tok[n + i];
            for (size_t j = 0; j < t->n; j++)
                if (seen[t->ids[j]] != (int32_t)i) {
                    seen[t->ids[j]] = (int32_t)i;
                    df[t->ids[j]]++;
                }
        }
        idf = xmalloc((size_t)V * sizeof *idf);
        for (int v = 0; v < V; v++) idf[v] = (float)log((n + 1.0) / (df[v] + 1.0));
        free(df);
        free(seen);
    }
    if (o->group < 1 || o->batch < 1 || o->max_tokens < 1) {
        free(idf);
        rc = dsq_err_set(e, DSQ_EUSAGE, "BERTScore: group, batch and max_tokens must be positive");
        goto done;
    }
    /* bert_score's matching groups: their longest hypothesis and reference. */
    size_t ng = (n + (size_t)o->group - 1) / (size_t)o->group;
    int *gmax = xcalloc(2 * ng, sizeof *gmax);
    for (size_t i = 0; i < n; i++) {
        size_t g = i / (size_t)o->group;
        if ((int)tok[i].n > gmax[2 * g]) gmax[2 * g] = (int)tok[i].n;
        if ((int)tok[n + i].n > gmax[2 * g + 1]) gmax[2 * g + 1] = (int)tok[n + i].n;
    }
    ctx_t c = {m, o, tok, idf, gmax, n, 0, 2 * n};
    /* Chunks bound the memory of the kept vectors (about 1 GiB). */
    size_t budget = ((size_t)1 << 28) / (size_t)m->cfg.H, p0 = 0;
    while (p0 < n) {
        size_t p1 = p0, used = 0;
        while (p1 < n && (p1 == p0 || used + tok[p1].n + tok[n + p1].n <= budget)) {
            used += tok[p1].n + tok[n + p1].n;
            p1++;
        }
        score_chunk(&c, p0, p1, P, R, F);
        p0 = p1;
    }
    free(gmax);
    free(idf);
done:
    for (size_t i = 0; i < 2 * n; i++) dsq_ids_free(&tok[i]);
    free(tok);
    return rc;
}

int dsq_bertscore_read_baseline(const char *path, int layer, float base[3], dsq_err *e) {
    size_t n;
    char *buf = dsq_read_file(path, "BERTScore baseline", &n, e);
    if (!buf) return e->code;
    int rc = 0, line = 0, row = -1;
    char *cur = buf, *end = buf + n;
    while (cur < end && !rc) {
        char *nl = memchr(cur, '\n', (size_t)(end - cur)), *stop = nl ? nl : end;
        *stop = '\0';
        line++;
        if (stop > cur && stop[-1] == '\r') stop[-1] = '\0';
        if (line == 1) {
            if (strncmp(cur, "LAYER,P,R,F", 11) != 0)
                rc = dsq_err_set(e, DSQ_EDATA, "%s:1: not a bert_score baseline file (header "
                                 "\"LAYER,P,R,F\" expected)", path);
        } else if (*cur && ++row == layer) {
            char *p = cur, *q;
            strtol(p, &q, 10);
            int k = 0;
            for (; k < 3 && !rc; k++) {
                if (*q != ',') break;
                double v = strtod(q + 1, &p);
                if (p == q + 1 || !(v > -1e30 && v < 1)) {
                    rc = dsq_err_set(e, DSQ_EDATA, "%s:%d: column %d is not a number below 1",
                                     path, line, k + 2);
                    break;
                }
                base[k] = (float)v;
                q = p;
            }
            if (!rc && (k < 3 || *q != '\0'))
                rc = dsq_err_set(e, DSQ_EDATA, "%s:%d: expected LAYER,P,R,F", path, line);
            break;
        }
        cur = stop + 1;
    }
    if (!rc && row < layer)
        rc = dsq_err_set(e, DSQ_EDATA, "%s: no row for layer %d (%d layer rows): the baseline "
                         "of another model?", path, layer, row + 1);
    free(buf);
    return rc;
}

void dsq_bertscore_rescale(double *x, size_t n, float b) {
    for (size_t i = 0; i < n; i++) x[i] = ((float)x[i] - b) / (1.0f - b);
}

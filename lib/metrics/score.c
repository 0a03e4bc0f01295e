/* Per-file figures and diversity of dsq-score (see score.h). */
#include "score.h"

#include <string.h>

static int same_text(const char *a, size_t an, const char *b, size_t bn) {
    return an == bn && memcmp(a, b, an) == 0;
}

int dsq_decodes_same_inputs(dsq_decodes *const *d, size_t k, dsq_err *e) {
    for (size_t f = 1; f < k; f++) {
        if (d[f]->n != d[0]->n) {
            size_t a = d[f]->n < d[0]->n ? f : 0, b = a ? 0 : f;
            return dsq_err_set(e, DSQ_EDATA,
                               "%s has %zu lines but %s has %zu (files of the same inputs "
                               "have one line per example)",
                               d[a]->name, d[a]->n, d[b]->name, d[b]->n);
        }
    }
    for (size_t i = 0; i < d[0]->n; i++) {
        for (size_t f = 1; f < k; f++) {
            long l = (long)i + 1;
            if (dsq_decodes_same_field("reference", d[0]->ref[i], d[0]->ref_len[i], d[0]->name,
                                       l, d[f]->ref[i], d[f]->ref_len[i], d[f]->name, l, e) ||
                dsq_decodes_same_field("source", d[0]->src[i], d[0]->src_len[i], d[0]->name, l,
                                       d[f]->src[i], d[f]->src_len[i], d[f]->name, l, e))
                return e->code;
        }
    }
    return 0;
}

/* Per-line figures, reduced per file (and for diversity per line) once all
 * are in: [k * nmax] each, file f's line i at f * nmax + i; self-BLEU and
 * div-4 [nmax]. */
typedef struct {
    size_t nmax;
    double *bleu, *rouge, *distinct, *len, *sb, *d4;
} line_figures;

/* One thread's scratch over the k texts of a line. */
typedef struct {
    dsq_tokens *t, rt;        /* the hypotheses' tokens, the reference's */
    dsq_bleu_sent **p;        /* the hypotheses, prepared */
    double *work;             /* self-BLEU pairs */
    dsq_ngram_ctx *ctx;       /* one context per example */
} line_scratch;

static void scratch_init(line_scratch *w, size_t k) {
    *w = (line_scratch){.t = xcalloc(k, sizeof *w->t), .p = xcalloc(k, sizeof *w->p),
                        .work = xmalloc((k * (k - 1) / 2 + 1) * sizeof *w->work),
                        .ctx = dsq_ngram_ctx_new()};
}

static void scratch_free(line_scratch *w, size_t k) {
    for (size_t f = 0; f < k; f++) dsq_tokens_free(&w->t[f]);
    dsq_tokens_free(&w->rt);
    free(w->t);
    free(w->p);
    free(w->work);
    dsq_ngram_ctx_free(w->ctx);
}

/* The figures of line i of every file (and, with do_div, its diversity):
 * each text tokenised and prepared for BLEU once. */
static void score_line(dsq_decodes *const *d, size_t k, size_t i, int do_div, line_scratch *w,
                       line_figures *v) {
    dsq_bleu_sent *refp = NULL;
    const char *refs = NULL;
    size_t refl = 0;
    dsq_ngram_ctx_reset(w->ctx);
    for (size_t f = 0; f < k; f++) {
        const dsq_decodes *x = d[f];
        w->p[f] = NULL;
        if (i >= x->n) continue;  /* only with diversity off */
        dsq_split_ws(x->hyp[i], x->hyp_len[i], &w->t[f]);
        w->p[f] = dsq_bleu_prepare(w->ctx, &w->t[f]);
        /* Files of the same inputs share the reference: prepare it once. */
        if (!refp || !same_text(x->ref[i], x->ref_len[i], refs, refl)) {
            dsq_bleu_sent_free(refp);
            dsq_split_ws(x->ref[i], x->ref_len[i], &w->rt);
            refp = dsq_bleu_prepare(w->ctx, &w->rt);
            refs = x->ref[i];
            refl = x->ref_len[i];
        }
        size_t g = f * v->nmax + i;
        /* get_bleu(recover, reference) = sentence_bleu([recover], reference):
         * the reference text is nltk's hypothesis. */
        v->bleu[g] = dsq_sentence_bleu(refp, w->p[f]);
        v->rouge[g] = dsq_rouge_l_str(x->hyp[i], x->hyp_len[i], x->ref[i], x->ref_len[i]);
        v->distinct[g] = dsq_distinct1_prepared(w->p[f]);
        v->len[g] = (double)dsq_count_space_fields(x->hyp[i], x->hyp_len[i]);
    }
    if (do_div) {
        v->sb[i] = dsq_self_bleu(w->p, k, w->work);
        v->d4[i] = dsq_div4_prepared(w->p, k);
    }
    for (size_t f = 0; f < k; f++) dsq_bleu_sent_free(w->p[f]);
    dsq_bleu_sent_free(refp);
}

/* sacreBLEU's BLEU (j even) or chrF (j odd) of file j / 2. */
static void corpus_figure(const dsq_decodes *x, size_t j, dsq_file_scores *out) {
    const char *const *hyp = (const char *const *)x->hyp, *const *ref = (const char *const *)x->ref;
    if (j % 2 == 0)
        dsq_corpus_bleu_13a(hyp, x->hyp_len, ref, x->ref_len, x->n, &out->sacrebleu);
    else
        dsq_corpus_chrf(hyp, x->hyp_len, ref, x->ref_len, x->n, &out->chrf);
}

/* Each file's figures (and the diversity) from the per-line ones. */
static void reduce(dsq_decodes *const *d, size_t k, const dsq_score_opts *o, int do_div,
                   const line_figures *v, dsq_file_scores *out, dsq_diversity *div) {
    size_t nmax = v->nmax;
    for (size_t f = 0; f < k; f++) {
        size_t n = d[f]->n, g = f * nmax;
        out[f].n = n;
        out[f].has_sacrebleu = o->sacrebleu;
        out[f].bleu = dsq_np_mean(v->bleu + g, n);
        out[f].rouge_l = dsq_np_mean(v->rouge + g, n);
        out[f].distinct1 = dsq_np_mean(v->distinct + g, n);
        out[f].avg_len = dsq_np_mean(v->len + g, n);
    }
    if (do_div) {
        div->k = k;
        div->n = nmax;
        div->self_bleu = dsq_np_mean(v->sb, nmax);
        div->div4 = dsq_np_mean(v->d4, nmax);
    }
}

int dsq_score_run(dsq_decodes *const *d, size_t k, const dsq_score_opts *o, dsq_file_scores *out,
                  dsq_diversity *div, dsq_err *e) {
    size_t nmax = 0;
    memset(div, 0, sizeof *div);
    for (size_t f = 0; f < k; f++) {
        memset(&out[f], 0, sizeof out[f]);
        if (dsq_decodes_need_lines(d[f]->name, d[f]->n, e)) return e->code;
        if (d[f]->n > nmax) nmax = d[f]->n;
    }
    int do_div = o->diversity && k >= 2;
    if (do_div && dsq_decodes_same_inputs(d, k, e)) return e->code;
    double *buf = xmalloc((4 * k + 2) * nmax * sizeof *buf);
    line_figures v = {nmax, buf, buf + k * nmax, buf + 2 * k * nmax, buf + 3 * k * nmax,
                      buf + 4 * k * nmax, buf + (4 * k + 1) * nmax};
#pragma omp parallel
    {
        line_scratch w;
        scratch_init(&w, k);
#pragma omp for schedule(dynamic, 16)
        for (size_t i = 0; i < nmax; i++) score_line(d, k, i, do_div, &w, &v);
        scratch_free(&w, k);
        /* Corpus metrics are serial per file: spread the files. */
#pragma omp for schedule(dynamic, 1)
        for (size_t j = 0; j < (o->sacrebleu ? 2 * k : 0); j++)
            corpus_figure(d[j / 2], j, &out[j / 2]);
    }
    reduce(d, k, o, do_div, &v, out, div);
    free(buf);
    return 0;
}

int dsq_score_file(const dsq_decodes *d, dsq_file_scores *out, dsq_err *e) {
    dsq_decodes *p = (dsq_decodes *)d;
    dsq_score_opts o = {1, 0};
    dsq_diversity div;
    return dsq_score_run(&p, 1, &o, out, &div, e);
}

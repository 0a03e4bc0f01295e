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
            if (!same_text(d[f]->ref[i], d[f]->ref_len[i], d[0]->ref[i], d[0]->ref_len[i]))
                return dsq_err_set(e, DSQ_EDATA,
                                   "%s:%zu: reference differs from %s:%zu (line i must be "
                                   "the same example in every file)",
                                   d[f]->name, i + 1, d[0]->name, i + 1);
            if (d[f]->src[i] && d[0]->src[i] &&
                !same_text(d[f]->src[i], d[f]->src_len[i], d[0]->src[i], d[0]->src_len[i]))
                return dsq_err_set(e, DSQ_EDATA,
                                   "%s:%zu: source differs from %s:%zu (line i must be "
                                   "the same example in every file)",
                                   d[f]->name, i + 1, d[0]->name, i + 1);
        }
    }
    return 0;
}

int dsq_score_run(dsq_decodes *const *d, size_t k, const dsq_score_opts *o, dsq_file_scores *out,
                  dsq_diversity *div, dsq_err *e) {
    size_t nmax = 0;
    memset(div, 0, sizeof *div);
    for (size_t f = 0; f < k; f++) {
        memset(&out[f], 0, sizeof out[f]);
        if (d[f]->n == 0) return dsq_err_set(e, DSQ_EDATA, "%s: no lines to score", d[f]->name);
        if (d[f]->n > nmax) nmax = d[f]->n;
    }
    int do_div = o->diversity && k >= 2;
    if (do_div && dsq_decodes_same_inputs(d, k, e)) return e->code;
    double *v = xmalloc((4 * k + 2) * nmax * sizeof *v);
    double *bleu = v, *rouge = v + k * nmax, *distinct = v + 2 * k * nmax;
    double *len = v + 3 * k * nmax;
    double *sb = v + 4 * k * nmax, *d4 = sb + nmax;
#pragma omp parallel
    {
        dsq_tokens *t = xcalloc(k, sizeof *t), rt = {0};
        dsq_bleu_sent **p = xcalloc(k, sizeof *p);
        double *work = xmalloc((k * (k - 1) / 2 + 1) * sizeof *work);
        dsq_ngram_ctx *ctx = dsq_ngram_ctx_new();
#pragma omp for schedule(dynamic, 16)
        for (size_t i = 0; i < nmax; i++) {
            dsq_bleu_sent *refp = NULL;
            const char *refs = NULL;
            dsq_ngram_ctx_reset(ctx);  /* one context per example */
            size_t refl = 0;
            for (size_t f = 0; f < k; f++) {
                const dsq_decodes *x = d[f];
                p[f] = NULL;
                if (i >= x->n) continue;  /* only with diversity off */
                dsq_split_ws(x->hyp[i], x->hyp_len[i], &t[f]);
                p[f] = dsq_bleu_prepare(ctx, &t[f]);
                /* Files of the same inputs share the reference: prepare it once. */
                if (!refp || !same_text(x->ref[i], x->ref_len[i], refs, refl)) {
                    dsq_bleu_sent_free(refp);
                    dsq_split_ws(x->ref[i], x->ref_len[i], &rt);
                    refp = dsq_bleu_prepare(ctx, &rt);
                    refs = x->ref[i];
                    refl = x->ref_len[i];
                }
                size_t g = f * nmax + i;
                /* get_bleu(recover, reference) = sentence_bleu([recover], reference):
                 * the reference text is nltk's hypothesis. */
                bleu[g] = dsq_sentence_bleu(refp, p[f]);
                rouge[g] = dsq_rouge_l_str(x->hyp[i], x->hyp_len[i], x->ref[i], x->ref_len[i]);
                distinct[g] = dsq_distinct1_prepared(p[f]);
                len[g] = (double)dsq_count_space_fields(x->hyp[i], x->hyp_len[i]);
            }
            if (do_div) {
                sb[i] = dsq_self_bleu(p, k, work);
                d4[i] = dsq_div4_prepared(p, k);
            }
            for (size_t f = 0; f < k; f++) dsq_bleu_sent_free(p[f]);
            dsq_bleu_sent_free(refp);
        }
        for (size_t f = 0; f < k; f++) dsq_tokens_free(&t[f]);
        dsq_tokens_free(&rt);
        free(t);
        free(p);
        free(work);
        dsq_ngram_ctx_free(ctx);
        /* Corpus metrics are serial per file: spread the files. */
#pragma omp for schedule(dynamic, 1)
        for (size_t j = 0; j < (o->sacrebleu ? 2 * k : 0); j++) {
            const dsq_decodes *x = d[j / 2];
            if (j % 2 == 0)
                dsq_corpus_bleu_13a((const char *const *)x->hyp, x->hyp_len,
                                    (const char *const *)x->ref, x->ref_len, x->n,
                                    &out[j / 2].sacrebleu);
            else
                dsq_corpus_chrf((const char *const *)x->hyp, x->hyp_len,
                                (const char *const *)x->ref, x->ref_len, x->n, &out[j / 2].chrf);
        }
    }
    for (size_t f = 0; f < k; f++) {
        size_t n = d[f]->n, g = f * nmax;
        out[f].n = n;
        out[f].has_sacrebleu = o->sacrebleu;
        out[f].bleu = dsq_np_mean(bleu + g, n);
        out[f].rouge_l = dsq_np_mean(rouge + g, n);
        out[f].distinct1 = dsq_np_mean(distinct + g, n);
        out[f].avg_len = dsq_np_mean(len + g, n);
    }
    if (do_div) {
        div->k = k;
        div->n = nmax;
        div->self_bleu = dsq_np_mean(sb, nmax);
        div->div4 = dsq_np_mean(d4, nmax);
    }
    free(v);
    return 0;
}

int dsq_score_file(const dsq_decodes *d, dsq_file_scores *out, dsq_err *e) {
    dsq_decodes *p = (dsq_decodes *)d;
    dsq_score_opts o = {1, 0};
    dsq_diversity div;
    return dsq_score_run(&p, 1, &o, out, &div, e);
}

/* Per-file figures, diversity and the report of dsq-score (see score.h). */
#include "score.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonl.h"
#include "jsonscan.h"
#include "mbr.h"
#include "util.h"
#include "version.h"

void dsq_fields_default(dsq_fields *f) {
    f->hyp_field = "recover";
    f->ref_field = "reference";
    f->src_field = "source";
    f->markers = DSQ_MARKERS_DEFAULT;
    f->clean = 1;
}

char *dsq_fields_clean(const dsq_fields *f, dsq_clean_field which, const char *s, size_t n,
                       size_t *out_len) {
    if (f->clean) return dsq_clean(s, n, which, &f->markers, out_len);
    char *c = xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    *out_len = n;
    return c;
}

/* ---- reading ---------------------------------------------------------- */

static void decodes_push(dsq_decodes *d, size_t *cap, char *hyp, size_t hl, char *ref, size_t rl,
                         char *src, size_t sl) {
    if (d->n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        d->hyp = xrealloc(d->hyp, *cap * sizeof *d->hyp);
        d->ref = xrealloc(d->ref, *cap * sizeof *d->ref);
        d->src = xrealloc(d->src, *cap * sizeof *d->src);
        d->hyp_len = xrealloc(d->hyp_len, *cap * sizeof *d->hyp_len);
        d->ref_len = xrealloc(d->ref_len, *cap * sizeof *d->ref_len);
        d->src_len = xrealloc(d->src_len, *cap * sizeof *d->src_len);
    }
    d->hyp[d->n] = hyp;
    d->ref[d->n] = ref;
    d->src[d->n] = src;
    d->hyp_len[d->n] = hl;
    d->ref_len[d->n] = rl;
    d->src_len[d->n] = sl;
    d->n++;
}

/* ---- raw lines and examples ------------------------------------------- */

int dsq_rawlines_read(dsq_jsonl_reader *r, size_t max, dsq_rawlines *rl, dsq_err *e) {
    if (!rl->off) {
        rl->ncap = 256;
        rl->off = xmalloc((rl->ncap + 1) * sizeof *rl->off);
        rl->lineno = xmalloc(rl->ncap * sizeof *rl->lineno);
        rl->off[0] = 0;
    }
    for (size_t got_here = 0; !max || got_here < max; got_here++) {
        const char *line;
        size_t len;
        int got = dsq_jsonl_next_line(r, &line, &len, e);
        if (got < 0) return e->code;
        if (got == 0) break;
        if (rl->n == rl->ncap) {
            rl->ncap *= 2;
            rl->off = xrealloc(rl->off, (rl->ncap + 1) * sizeof *rl->off);
            rl->lineno = xrealloc(rl->lineno, rl->ncap * sizeof *rl->lineno);
        }
        if (rl->len + len + 1 > rl->cap) {
            rl->cap = 2 * (rl->len + len + 1) + 4096;
            rl->buf = xrealloc(rl->buf, rl->cap);
        }
        memcpy(rl->buf + rl->len, line, len);
        rl->buf[rl->len + len] = '\0';
        rl->len += len + 1;
        rl->lineno[rl->n] = dsq_jsonl_lineno(r);
        rl->off[++rl->n] = rl->len;
    }
    return 0;
}

void dsq_rawlines_clear(dsq_rawlines *rl) {
    rl->n = 0;
    rl->len = 0;
}

void dsq_rawlines_free(dsq_rawlines *rl) {
    free(rl->buf);
    free(rl->off);
    free(rl->lineno);
    memset(rl, 0, sizeof *rl);
}

void dsq_example_free(dsq_example *ex) {
    free(ex->hyp);
    free(ex->ref);
    free(ex->src);
    memset(ex, 0, sizeof *ex);
}

/* "field 'X': missing" / "not a string" as dsq_json_string_field words it. */
static int need_string(const char *name, long lineno, const dsq_jfield *fd, dsq_err *e) {
    if (!fd->present)
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: field '%s': missing", name, lineno, fd->key);
    if (!fd->is_string)
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: field '%s': not a string", name, lineno, fd->key);
    return 0;
}

int dsq_example_parse(const char *name, long lineno, const char *line, size_t len,
                      const dsq_fields *f, int need_ref, dsq_example *ex, const char *extra_key,
                      dsq_err *e) {
    memset(ex, 0, sizeof *ex);
    dsq_jfield fd[4] = {{.key = f->hyp_field}, {.key = f->ref_field}, {.key = f->src_field},
                        {.key = extra_key}};
    int nf = extra_key ? 4 : 3;
    int rc = dsq_json_scan(name, lineno, line, len, fd, nf, e);
    if (rc) return rc;
    if ((rc = need_string(name, lineno, &fd[0], e))) goto done;
    if ((need_ref || fd[1].present) && (rc = need_string(name, lineno, &fd[1], e))) goto done;
    if (fd[2].present && (rc = need_string(name, lineno, &fd[2], e))) goto done;
    ex->hyp = dsq_fields_clean(f, DSQ_CLEAN_RECOVER, fd[0].val, fd[0].val_len, &ex->hyp_len);
    if (fd[1].present)
        ex->ref = dsq_fields_clean(f, DSQ_CLEAN_REFERENCE, fd[1].val, fd[1].val_len, &ex->ref_len);
    if (fd[2].present)
        ex->src = dsq_fields_clean(f, DSQ_CLEAN_SOURCE, fd[2].val, fd[2].val_len, &ex->src_len);
    if (extra_key && fd[3].present) {
        ex->extra_present = 1;
        ex->extra_start = fd[3].raw_start;
        ex->extra_end = fd[3].raw_end;
    }
done:
    dsq_jfields_free(fd, nf);
    return rc;
}

/* ---- reading ---------------------------------------------------------- */

static void decodes_alloc(dsq_decodes *d, size_t n) {
    d->n = n;
    d->hyp = xcalloc(n, sizeof *d->hyp);
    d->ref = xcalloc(n, sizeof *d->ref);
    d->src = xcalloc(n, sizeof *d->src);
    d->hyp_len = xcalloc(n, sizeof *d->hyp_len);
    d->ref_len = xcalloc(n, sizeof *d->ref_len);
    d->src_len = xcalloc(n, sizeof *d->src_len);
}

int dsq_decodes_read_jsonl_many(char *const *paths, size_t k, const dsq_fields *f,
                                dsq_decodes *out, dsq_err *e) {
    memset(out, 0, k * sizeof *out);
    dsq_rawlines *raw = xcalloc(k, sizeof *raw);
    size_t *first = xcalloc(k + 1, sizeof *first);  /* flattened index of file f's line 0 */
    int rc = 0;
    for (size_t f = 0; f < k && !rc; f++) {
        dsq_jsonl_reader *r = dsq_jsonl_open(paths[f], e);
        if (!r) {
            rc = e->code;
            break;
        }
        out[f].name = xstrdup(dsq_jsonl_name(r));
        rc = dsq_rawlines_read(r, 0, &raw[f], e);
        dsq_jsonl_close(r);
        first[f + 1] = first[f] + raw[f].n;
    }
    if (!rc) {
        size_t total = first[k];
        for (size_t f = 0; f < k; f++) decodes_alloc(&out[f], raw[f].n);
        /* Errors are kept per line and the first in order is reported, so
         * the message does not depend on the thread count. */
        size_t first_bad = total;
#pragma omp parallel
        {
            dsq_err le = {0};
            size_t my_bad = total;
            dsq_err my_err = {0};
#pragma omp for schedule(dynamic, 64)
            for (size_t g = 0; g < total; g++) {
                size_t fi = 0;
                while (first[fi + 1] <= g) fi++;
                size_t i = g - first[fi], len;
                const char *line = dsq_rawline(&raw[fi], i, &len);
                dsq_example ex;
                if (dsq_example_parse(out[fi].name, raw[fi].lineno[i], line, len, f, 1, &ex, NULL,
                                      &le)) {
                    if (g < my_bad) {
                        my_bad = g;
                        my_err = le;
                    }
                    continue;
                }
                dsq_decodes *d = &out[fi];
                d->hyp[i] = ex.hyp;
                d->ref[i] = ex.ref;
                d->src[i] = ex.src;
                d->hyp_len[i] = ex.hyp_len;
                d->ref_len[i] = ex.ref_len;
                d->src_len[i] = ex.src_len;
            }
#pragma omp critical
            if (my_bad < first_bad) {
                first_bad = my_bad;
                *e = my_err;
            }
        }
        if (first_bad < total) rc = e->code;
    }
    for (size_t f = 0; f < k; f++) dsq_rawlines_free(&raw[f]);
    free(raw);
    free(first);
    if (rc)
        for (size_t f = 0; f < k; f++) dsq_decodes_free(&out[f]);
    return rc;
}

int dsq_decodes_read_jsonl(const char *path, const dsq_fields *f, dsq_decodes *out, dsq_err *e) {
    char *p = (char *)path;
    return dsq_decodes_read_jsonl_many(&p, 1, f, out, e);
}

int dsq_decodes_read_text(const char *hyp_path, const char *ref_path, const dsq_fields *f,
                          dsq_decodes *out, dsq_err *e) {
    memset(out, 0, sizeof *out);
    if (strcmp(hyp_path, "-") == 0 && strcmp(ref_path, "-") == 0)
        return dsq_err_set(e, DSQ_EUSAGE, "--hyp and --ref cannot both be standard input");
    dsq_jsonl_reader *rh = dsq_jsonl_open(hyp_path, e);
    if (!rh) return e->code;
    dsq_jsonl_reader *rr = dsq_jsonl_open(ref_path, e);
    if (!rr) {
        dsq_jsonl_close(rh);
        return e->code;
    }
    out->name = xstrdup(dsq_jsonl_name(rh));
    out->ref_name = xstrdup(dsq_jsonl_name(rr));
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        const char *h, *rf;
        size_t hl, rl;
        int gh = dsq_jsonl_next_line(rh, &h, &hl, e);
        if (gh < 0) { rc = e->code; break; }
        /* The hypothesis is cleaned before the next read reuses the buffer. */
        size_t chl = 0;
        char *ch = gh ? dsq_fields_clean(f, DSQ_CLEAN_RECOVER, h, hl, &chl) : NULL;
        int gr = dsq_jsonl_next_line(rr, &rf, &rl, e);
        if (gr < 0) { free(ch); rc = e->code; break; }
        if (gh != gr) {
            free(ch);
            rc = dsq_err_set(e, DSQ_EDATA,
                             "%s has %zu lines but %s has more (line i of the hypotheses "
                             "pairs with line i of the references)",
                             gh ? dsq_jsonl_name(rr) : dsq_jsonl_name(rh), out->n,
                             gh ? dsq_jsonl_name(rh) : dsq_jsonl_name(rr));
            break;
        }
        if (!gh) break;
        size_t crl;
        char *cr = dsq_fields_clean(f, DSQ_CLEAN_REFERENCE, rf, rl, &crl);
        decodes_push(out, &cap, ch, chl, cr, crl, NULL, 0);
    }
    dsq_jsonl_close(rh);
    dsq_jsonl_close(rr);
    if (rc) dsq_decodes_free(out);
    return rc;
}

void dsq_decodes_free(dsq_decodes *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->hyp[i]);
        free(d->ref[i]);
        free(d->src[i]);
    }
    free(d->hyp);
    free(d->ref);
    free(d->src);
    free(d->hyp_len);
    free(d->ref_len);
    free(d->src_len);
    free(d->name);
    free(d->ref_name);
    memset(d, 0, sizeof *d);
}

/* ---- figures ---------------------------------------------------------- */

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
    double *bleu = v, *rouge = v + k * nmax, *dist = v + 2 * k * nmax, *len = v + 3 * k * nmax;
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
                dist[g] = dsq_dist1_prepared(p[f]);
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
        out[f].dist1 = dsq_np_mean(dist + g, n);
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

/* ---- report ----------------------------------------------------------- */

void dsq_put_double(FILE *f, double x) {
    if (isfinite(x)) fprintf(f, "%.17g", x);
    else fputs("null", f);
}

static void put_key(FILE *f, const char *k) {
    dsq_json_put_string(f, k, strlen(k));
    putc(':', f);
}

static void put_num_kv(FILE *f, const char *k, double x) {
    put_key(f, k);
    dsq_put_double(f, x);
    putc(',', f);
}

/* The keys of one file, without braces, each followed by a comma. */
static void put_file_keys(FILE *f, const dsq_decodes *d, const dsq_file_scores *s) {
    put_key(f, "file");
    dsq_json_put_string(f, d->name, strlen(d->name));
    putc(',', f);
    if (d->ref_name) {
        put_key(f, "ref_file");
        dsq_json_put_string(f, d->ref_name, strlen(d->ref_name));
        putc(',', f);
    }
    put_key(f, "n");
    fprintf(f, "%zu,", s->n);
    put_num_kv(f, "bleu", s->bleu);
    put_num_kv(f, "rougeL", s->rouge_l);
    put_num_kv(f, "dist1", s->dist1);
    put_num_kv(f, "avg_len", s->avg_len);
    /* The BERTScore slot: these keys appear once a scorer fills them. */
    if (s->has_bertscore) {
        put_num_kv(f, "bertscore_p", s->bertscore_p);
        put_num_kv(f, "bertscore_r", s->bertscore_r);
        put_num_kv(f, "bertscore_f1", s->bertscore_f1);
    }
    if (!s->has_sacrebleu) return;
    put_num_kv(f, "sacrebleu", s->sacrebleu.score);
    put_key(f, "sacrebleu_signature");
    dsq_json_put_string(f, s->sacrebleu.signature, strlen(s->sacrebleu.signature));
    putc(',', f);
    put_key(f, "sacrebleu_precisions");
    for (int i = 0; i < 4; i++) {
        putc(i ? ',' : '[', f);
        dsq_put_double(f, s->sacrebleu.precisions[i]);
    }
    fputs("],", f);
    put_num_kv(f, "sacrebleu_bp", s->sacrebleu.bp);
    put_num_kv(f, "sacrebleu_ratio", s->sacrebleu.ratio);
    put_key(f, "sacrebleu_sys_len");
    fprintf(f, "%lld,", (long long)s->sacrebleu.sys_len);
    put_key(f, "sacrebleu_ref_len");
    fprintf(f, "%lld,", (long long)s->sacrebleu.ref_len);
    put_num_kv(f, "chrf", s->chrf.score);
    put_key(f, "chrf_signature");
    dsq_json_put_string(f, s->chrf.signature, strlen(s->chrf.signature));
    putc(',', f);
}

/* The put_* helpers end every key with a comma; each object closes with
 * a key written without one. */
void dsq_score_write_json(FILE *f, const dsq_score_report *r) {
    putc('{', f);
    put_key(f, "version");
    dsq_json_put_string(f, DSQ_VERSION, strlen(DSQ_VERSION));
    putc(',', f);
    if (r->nfiles == 1) put_file_keys(f, r->files[0], &r->scores[0]);
    put_key(f, "files");
    putc('[', f);
    for (size_t i = 0; i < r->nfiles; i++) {
        if (i) putc(',', f);
        putc('{', f);
        put_file_keys(f, r->files[i], &r->scores[i]);
        put_key(f, "index");
        fprintf(f, "%zu}", i);
    }
    fputs("],", f);
    put_key(f, "diversity");
    if (r->div) {
        putc('{', f);
        put_key(f, "k");
        fprintf(f, "%zu,", r->div->k);
        put_key(f, "n");
        fprintf(f, "%zu,", r->div->n);
        put_num_kv(f, "self_bleu", r->div->self_bleu);
        put_key(f, "div4");
        dsq_put_double(f, r->div->div4);
        putc('}', f);
    } else {
        fputs("null", f);
    }
    fputs("}\n", f);
}

void dsq_score_write_table(FILE *f, const dsq_score_report *r) {
    int w = 4;
    for (size_t i = 0; i < r->nfiles; i++) {
        int l = (int)strlen(r->files[i]->name);
        if (l > w) w = l;
    }
    int bert = 0;
    for (size_t i = 0; i < r->nfiles; i++) bert |= r->scores[i].has_bertscore;
    fprintf(f, "%-*s %7s %7s %7s %7s %7s %9s %7s%s\n", w, "file", "n", "BLEU", "ROUGE-L",
            "dist-1", "avg-len", "sacreBLEU", "chrF", bert ? "  BERTScore" : "");
    for (size_t i = 0; i < r->nfiles; i++) {
        const dsq_file_scores *s = &r->scores[i];
        fprintf(f, "%-*s %7zu %7.4f %7.4f %7.4f %7.2f", w, r->files[i]->name, s->n, s->bleu,
                s->rouge_l, s->dist1, s->avg_len);
        if (s->has_sacrebleu) fprintf(f, " %9.2f %7.2f", s->sacrebleu.score, s->chrf.score);
        else fprintf(f, " %9s %7s", "-", "-");
        if (s->has_bertscore) fprintf(f, "  %9.4f", s->bertscore_f1);
        putc('\n', f);
    }
    if (r->div)
        fprintf(f, "diversity over %zu files, %zu examples: self-BLEU %.4f  div-4 %.4f\n",
                r->div->k, r->div->n, r->div->self_bleu, r->div->div4);
    if (r->nfiles && r->scores[0].has_sacrebleu) {
        fprintf(f, "sacreBLEU: %s\n", r->scores[0].sacrebleu.signature);
        fprintf(f, "chrF: %s\n", r->scores[0].chrf.signature);
    }
}

/* ---- input lists ------------------------------------------------------ */

static int is_json_name(const char *s) {
    size_t n = strlen(s);
    return (n > 5 && strcmp(s + n - 5, ".json") == 0) || (n > 6 && strcmp(s + n - 6, ".jsonl") == 0);
}

int dsq_expand_inputs(char *const *args, size_t nargs, int sort, char ***out, size_t *nout,
                      dsq_err *e) {
    char **v = NULL;
    size_t n = 0, cap = 0;
#define PUSH(s)                                                 \
    do {                                                        \
        if (n == cap) {                                         \
            cap = cap ? 2 * cap : 16;                           \
            v = xrealloc(v, cap * sizeof *v);                   \
        }                                                       \
        v[n++] = (s);                                           \
    } while (0)
    for (size_t i = 0; i < nargs; i++) {
        struct stat st;
        if (strcmp(args[i], "-") == 0 || stat(args[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            PUSH(xstrdup(args[i]));
            continue;
        }
        DIR *dir = opendir(args[i]);
        if (!dir) {
            dsq_err_set(e, DSQ_EIO, "%s: cannot open directory: %s", args[i], strerror(errno));
            dsq_free_inputs(v, n);
            return DSQ_EIO;
        }
        size_t first = n;
        size_t dl = strlen(args[i]);
        while (dl > 1 && args[i][dl - 1] == '/') dl--;
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (!is_json_name(de->d_name)) continue;
            int root = dl == 1 && args[i][0] == '/';
            size_t pre = root ? 1 : dl + 1;
            char *p = xmalloc(pre + strlen(de->d_name) + 1);
            memcpy(p, args[i], dl);
            p[dl] = '/';
            strcpy(p + pre, de->d_name);
            PUSH(p);
        }
        closedir(dir);
        if (n == first) {
            dsq_err_set(e, DSQ_EDATA, "%s: no *.json or *.jsonl files in this directory", args[i]);
            dsq_free_inputs(v, n);
            return DSQ_EDATA;
        }
        qsort(v + first, n - first, sizeof *v, dsq_cmp_str);
    }
#undef PUSH
    if (sort) qsort(v, n, sizeof *v, dsq_cmp_str);
    *out = v;
    *nout = n;
    return 0;
}

void dsq_free_inputs(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

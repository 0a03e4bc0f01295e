/* selectBest and the dsq-mbr driver (see mbr.h). */
#include "mbr.h"

#include <math.h>
#include <string.h>

#include "jsonl.h"

size_t dsq_mbr_select_bleu(dsq_bleu_sent *const *c, size_t k, double *work) {
    /* M[a][b] = BLEU(hyp c_b, ref c_a); one merge gives M[a][b] and M[b][a]. */
    for (size_t a = 0; a < k; a++) {
        work[a * k + a] = 0.0;
        for (size_t b = a + 1; b < k; b++)
            dsq_bleu_pair(c[b], c[a], &work[a * k + b], &work[b * k + a]);
    }
    size_t best = 0;
    double best_sum = -INFINITY;
    for (size_t a = 0; a < k; a++) {
        /* The zeroed diagonal stays in the row so numpy's lanes line up. */
        double s = dsq_np_sum(work + a * k, k);
        if (s > best_sum) {  /* strict: np.argmax keeps the first maximum */
            best_sum = s;
            best = a;
        }
    }
    return best;
}

size_t dsq_mbr_select_rouge(const char *const *c, const size_t *len, size_t k, double *work) {
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++)
            work[a * k + b] = a == b ? 0.0 : dsq_rouge_l_str(c[b], len[b], c[a], len[a]);
    size_t best = 0;
    double best_sum = -INFINITY;
    for (size_t a = 0; a < k; a++) {
        double s = dsq_np_sum(work + a * k, k);
        if (s > best_sum) {
            best_sum = s;
            best = a;
        }
    }
    return best;
}

/* ---- dsq-mbr driver --------------------------------------------------- */

/* The chosen line as it was read, with index_field set to idx: its value
 * replaced in place when the line has the key, else appended as the last
 * member. Field order and spelling of the input are kept. */
static void put_choice(FILE *f, const char *line, size_t len, const dsq_example *ex,
                       const char *index_field, size_t idx) {
    if (ex->extra_present) {
        fwrite(line, 1, ex->extra_start, f);
        fprintf(f, "%zu", idx);
        fwrite(line + ex->extra_end, 1, len - ex->extra_end, f);
    } else {
        /* The closing brace: the last non-blank byte of a valid object. */
        size_t close = len;
        while (close > 0 && line[close - 1] != '}') close--;
        size_t before = close - 1;  /* skip blanks back to '{' or a value */
        while (before > 0 && (line[before - 1] == ' ' || line[before - 1] == '\t' ||
                              line[before - 1] == '\r' || line[before - 1] == '\n'))
            before--;
        int empty = before > 0 && line[before - 1] == '{';
        fwrite(line, 1, before, f);
        fputs(empty ? "" : ", ", f);
        dsq_json_put_string(f, index_field, strlen(index_field));
        fprintf(f, ": %zu", idx);
        fwrite(line + close - 1, 1, len - (close - 1), f);
    }
    putc('\n', f);
}

/* Line `line` of file f against file 0: the same example? */
static int check_same(const char *field, const char *a, size_t an, const char *na, long la,
                      const char *b, size_t bn, const char *nb, long lb, dsq_err *e) {
    if (!a && !b) return 0;
    if (!a || !b)
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: field '%s' is %s here but %s in %s:%ld", nb, lb,
                           field, b ? "present" : "missing", a ? "present" : "missing", na, la);
    if (an != bn || memcmp(a, b, an) != 0)
        return dsq_err_set(e, DSQ_EDATA,
                           "%s:%ld: %s differs from %s:%ld (line i must be the same example "
                           "in every file)",
                           nb, lb, field, na, la);
    return 0;
}

int dsq_mbr_run(char *const *paths, size_t k, const dsq_mbr_opts *o, FILE *out, size_t *nlines,
                dsq_err *e) {
    size_t B = o->chunk ? o->chunk : 1024;
    size_t nstdin = 0;
    for (size_t f = 0; f < k; f++) nstdin += strcmp(paths[f], "-") == 0;
    if (nstdin > 1) return dsq_err_set(e, DSQ_EUSAGE, "standard input ('-') given more than once");
    dsq_jsonl_reader **r = xcalloc(k, sizeof *r);
    dsq_rawlines *raw = xcalloc(k, sizeof *raw);
    dsq_example *ex = xcalloc(k * B, sizeof *ex);  /* ex[f * B + i] */
    size_t *pick = xmalloc(B * sizeof *pick);
    char **line_out = xcalloc(B, sizeof *line_out);  /* each chosen line, serialised */
    size_t *line_len = xcalloc(B, sizeof *line_len);
    int rc = 0;
    size_t done = 0;
    for (size_t f = 0; f < k && !rc; f++)
        if (!(r[f] = dsq_jsonl_open(paths[f], e))) rc = e->code;
    while (!rc) {
        /* Lines are read in order, then parsed, checked and scored in
         * parallel, one example per iteration. */
        for (size_t f = 0; f < k && !rc; f++) {
            dsq_rawlines_clear(&raw[f]);
            rc = dsq_rawlines_read(r[f], B, &raw[f], e);
            if (!rc && raw[f].n != raw[0].n) {
                size_t a = raw[f].n < raw[0].n ? f : 0, b = a ? 0 : f;
                rc = dsq_err_set(e, DSQ_EDATA,
                                 "%s has %zu lines but %s has more (files of the same inputs "
                                 "have one line per example)",
                                 dsq_jsonl_name(r[a]), done + raw[a].n, dsq_jsonl_name(r[b]));
            }
        }
        size_t cnt = rc ? 0 : raw[0].n;
        if (cnt == 0) break;
        size_t first_bad = cnt;
#pragma omp parallel
        {
            dsq_tokens *t = xcalloc(k, sizeof *t);
            dsq_bleu_sent **p = xcalloc(k, sizeof *p);
            const char **s = xcalloc(k, sizeof *s);
            size_t *sl = xcalloc(k, sizeof *sl);
            double *work = xmalloc(k * k * sizeof *work);
            dsq_ngram_ctx *ctx = dsq_ngram_ctx_new();
            dsq_err le = {0}, my_err = {0};
            size_t my_bad = cnt;
#pragma omp for schedule(dynamic, 8)
            for (size_t i = 0; i < cnt; i++) {
                int bad = 0;
                for (size_t f = 0; f < k && !bad; f++) {
                    size_t len;
                    const char *line = dsq_rawline(&raw[f], i, &len);
                    bad = dsq_example_parse(dsq_jsonl_name(r[f]), raw[f].lineno[i], line, len,
                                            &o->fields, 0, &ex[f * B + i], o->index_field, &le);
                }
                const dsq_example *x0 = &ex[i];
                for (size_t f = 1; f < k && !bad; f++) {
                    const dsq_example *xf = &ex[f * B + i];
                    bad = check_same("reference", x0->ref, x0->ref_len, dsq_jsonl_name(r[0]),
                                     raw[0].lineno[i], xf->ref, xf->ref_len, dsq_jsonl_name(r[f]),
                                     raw[f].lineno[i], &le);
                    if (!bad)
                        bad = check_same("source", x0->src, x0->src_len, dsq_jsonl_name(r[0]),
                                         raw[0].lineno[i], xf->src, xf->src_len,
                                         dsq_jsonl_name(r[f]), raw[f].lineno[i], &le);
                }
                if (bad) {
                    /* Keep the first failing example: the message does not
                     * depend on the thread count. */
                    if (i < my_bad) {
                        my_bad = i;
                        my_err = le;
                    }
                    continue;
                }
                if (o->utility == DSQ_MBR_BLEU) {
                    dsq_ngram_ctx_reset(ctx);
                    for (size_t f = 0; f < k; f++) {
                        dsq_split_ws(ex[f * B + i].hyp, ex[f * B + i].hyp_len, &t[f]);
                        p[f] = dsq_bleu_prepare(ctx, &t[f]);
                    }
                    pick[i] = dsq_mbr_select_bleu(p, k, work);
                    for (size_t f = 0; f < k; f++) dsq_bleu_sent_free(p[f]);
                } else {
                    for (size_t f = 0; f < k; f++) {
                        s[f] = ex[f * B + i].hyp;
                        sl[f] = ex[f * B + i].hyp_len;
                    }
                    pick[i] = dsq_mbr_select_rouge(s, sl, k, work);
                }
                /* Serialised here, written in order below. */
                FILE *m = open_memstream(&line_out[i], &line_len[i]);
                DSQ_CHECK(m != NULL);
                size_t chosen_len;
                const char *chosen = dsq_rawline(&raw[pick[i]], i, &chosen_len);
                put_choice(m, chosen, chosen_len, &ex[pick[i] * B + i], o->index_field, pick[i]);
                DSQ_CHECK(fclose(m) == 0);
                for (size_t f = 0; f < k; f++) dsq_example_free(&ex[f * B + i]);
            }
#pragma omp critical
            if (my_bad < first_bad) {
                first_bad = my_bad;
                *e = my_err;
            }
            for (size_t f = 0; f < k; f++) dsq_tokens_free(&t[f]);
            free(t);
            free(p);
            free(s);
            free(sl);
            free(work);
            dsq_ngram_ctx_free(ctx);
        }
        if (first_bad < cnt) rc = e->code;
        for (size_t i = 0; i < cnt; i++) {
            if (!rc && line_out[i]) fwrite(line_out[i], 1, line_len[i], out);
            free(line_out[i]);
            line_out[i] = NULL;
        }
        /* What a failed example left behind. */
        if (rc)
            for (size_t j = 0; j < k * B; j++) dsq_example_free(&ex[j]);
        done += cnt;
        if (!rc && ferror(out)) rc = dsq_err_set(e, DSQ_EIO, "write error");
    }
    for (size_t f = 0; f < k; f++) {
        dsq_jsonl_close(r[f]);
        dsq_rawlines_free(&raw[f]);
    }
    free(r);
    free(raw);
    free(ex);
    free(pick);
    free(line_out);
    free(line_len);
    if (nlines) *nlines = done;
    return rc;
}

/* selectBest, per-example diversity and the dsq-mbr driver (see mbr.h). */
#include "mbr.h"

#include <math.h>
#include <string.h>

#include "jsonl.h"

size_t dsq_mbr_select_bleu(dsq_bleu_sent *const *c, size_t k, double *work) {
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++)
            work[a * k + b] = a == b ? 0.0 : dsq_sentence_bleu(c[b], c[a]);
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

double dsq_self_bleu(dsq_bleu_sent *const *c, size_t k, double *work) {
    size_t m = 0;
    for (size_t a = 0; a < k; a++)
        for (size_t b = a + 1; b < k; b++) work[m++] = dsq_sentence_bleu(c[b], c[a]);
    return m ? dsq_np_mean(work, m) : 0.0;
}

/* ---- dsq-mbr driver --------------------------------------------------- */

/* Writes v as JSON; strings through dsq_json_put_string (UTF-8 kept). */
static void put_value(FILE *f, json_t *v) {
    const char *key;
    json_t *x;
    size_t i;
    int first = 1;
    switch (json_typeof(v)) {
    case JSON_STRING:
        dsq_json_put_string(f, json_string_value(v), json_string_length(v));
        break;
    case JSON_OBJECT:
        putc('{', f);
        json_object_foreach(v, key, x) {
            if (!first) putc(',', f);
            first = 0;
            dsq_json_put_string(f, key, strlen(key));
            putc(':', f);
            put_value(f, x);
        }
        putc('}', f);
        break;
    case JSON_ARRAY:
        putc('[', f);
        json_array_foreach(v, i, x) {
            if (i) putc(',', f);
            put_value(f, x);
        }
        putc(']', f);
        break;
    default: {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        DSQ_CHECK(s != NULL);
        fputs(s, f);
        free(s);
    }
    }
}

/* The chosen object with index_field set (in place when it exists). */
static void put_choice(FILE *f, json_t *o, const char *index_field, size_t idx) {
    const char *key;
    json_t *x;
    int first = 1, done = 0;
    putc('{', f);
    json_object_foreach(o, key, x) {
        if (!first) putc(',', f);
        first = 0;
        dsq_json_put_string(f, key, strlen(key));
        putc(':', f);
        if (strcmp(key, index_field) == 0) {
            fprintf(f, "%zu", idx);
            done = 1;
        } else {
            put_value(f, x);
        }
    }
    if (!done) {
        if (!first) putc(',', f);
        dsq_json_put_string(f, index_field, strlen(index_field));
        fprintf(f, ":%zu", idx);
    }
    fputs("}\n", f);
}

typedef struct {
    json_t *obj;
    char *hyp, *ref, *src;  /* cleaned; ref/src NULL when absent */
    size_t hyp_len, ref_len, src_len;
} cand;

static void cand_clear(cand *c) {
    json_decref(c->obj);
    free(c->hyp);
    free(c->ref);
    free(c->src);
    memset(c, 0, sizeof *c);
}

/* Reads one line of file f into c. Returns 1, 0 at end, -1 on error. */
static int read_cand(dsq_jsonl_reader *r, const dsq_fields *fl, cand *c, dsq_err *e) {
    json_t *o;
    int got = dsq_jsonl_next(r, &o, e);
    if (got <= 0) return got;
    c->obj = o;
    size_t n;
    const char *s = dsq_jsonl_string(r, o, fl->hyp_field, &n, e);
    if (!s) return -1;
    c->hyp = dsq_fields_clean(fl, DSQ_CLEAN_RECOVER, s, n, &c->hyp_len);
    if (json_object_get(o, fl->ref_field)) {
        if (!(s = dsq_jsonl_string(r, o, fl->ref_field, &n, e))) return -1;
        c->ref = dsq_fields_clean(fl, DSQ_CLEAN_REFERENCE, s, n, &c->ref_len);
    }
    if (json_object_get(o, fl->src_field)) {
        if (!(s = dsq_jsonl_string(r, o, fl->src_field, &n, e))) return -1;
        c->src = dsq_fields_clean(fl, DSQ_CLEAN_SOURCE, s, n, &c->src_len);
    }
    return 1;
}

/* Line `line` of file f against file 0: the same example? */
static int check_same(const char *field, const char *a, size_t an, const char *na, const char *b,
                      size_t bn, const char *nb, size_t line, dsq_err *e) {
    if (!a && !b) return 0;
    if (!a || !b)
        return dsq_err_set(e, DSQ_EDATA, "%s:%zu: field '%s' is %s here but %s in %s:%zu", nb, line,
                           field, b ? "present" : "missing", a ? "present" : "missing", na, line);
    if (an != bn || memcmp(a, b, an) != 0)
        return dsq_err_set(e, DSQ_EDATA,
                           "%s:%zu: %s differs from %s:%zu (line i must be the same example "
                           "in every file)",
                           nb, line, field, na, line);
    return 0;
}

int dsq_mbr_run(char *const *paths, size_t k, const dsq_mbr_opts *o, FILE *out, size_t *nlines,
                dsq_err *e) {
    size_t B = o->chunk ? o->chunk : 1024;
    size_t nstdin = 0;
    for (size_t f = 0; f < k; f++) nstdin += strcmp(paths[f], "-") == 0;
    if (nstdin > 1) return dsq_err_set(e, DSQ_EUSAGE, "standard input ('-') given more than once");
    dsq_jsonl_reader **r = xcalloc(k, sizeof *r);
    cand *c = xcalloc(k * B, sizeof *c);  /* c[f * B + i] */
    size_t *pick = xmalloc(B * sizeof *pick);
    int rc = 0;
    size_t done = 0;
    for (size_t f = 0; f < k && !rc; f++)
        if (!(r[f] = dsq_jsonl_open(paths[f], e))) rc = e->code;
    while (!rc) {
        size_t cnt0 = 0;
        for (size_t f = 0; f < k && !rc; f++) {
            size_t cnt = 0;
            while (cnt < B) {
                int got = read_cand(r[f], &o->fields, &c[f * B + cnt], e);
                if (got < 0) {
                    rc = e->code;
                    break;
                }
                if (got == 0) break;
                cnt++;
            }
            if (rc) break;
            if (f == 0) {
                cnt0 = cnt;
            } else if (cnt != cnt0) {
                size_t a = cnt < cnt0 ? f : 0, b = a ? 0 : f;
                rc = dsq_err_set(e, DSQ_EDATA,
                                 "%s has %zu lines but %s has more (files of the same inputs "
                                 "have one line per example)",
                                 dsq_jsonl_name(r[a]), done + (cnt < cnt0 ? cnt : cnt0),
                                 dsq_jsonl_name(r[b]));
            }
        }
        if (rc || cnt0 == 0) break;
        for (size_t i = 0; i < cnt0 && !rc; i++) {
            const cand *c0 = &c[i];
            for (size_t f = 1; f < k && !rc; f++) {
                const cand *cf = &c[f * B + i];
                rc = check_same("reference", c0->ref, c0->ref_len, dsq_jsonl_name(r[0]), cf->ref,
                                cf->ref_len, dsq_jsonl_name(r[f]), done + i + 1, e);
                if (!rc)
                    rc = check_same("source", c0->src, c0->src_len, dsq_jsonl_name(r[0]), cf->src,
                                    cf->src_len, dsq_jsonl_name(r[f]), done + i + 1, e);
            }
        }
        if (rc) break;
#pragma omp parallel
        {
            dsq_tokens *t = xcalloc(k, sizeof *t);
            dsq_bleu_sent **p = xcalloc(k, sizeof *p);
            const char **s = xcalloc(k, sizeof *s);
            size_t *sl = xcalloc(k, sizeof *sl);
            double *work = xmalloc(k * k * sizeof *work);
#pragma omp for schedule(dynamic, 8)
            for (size_t i = 0; i < cnt0; i++) {
                if (o->utility == DSQ_MBR_BLEU) {
                    for (size_t f = 0; f < k; f++) {
                        dsq_split_ws(c[f * B + i].hyp, c[f * B + i].hyp_len, &t[f]);
                        p[f] = dsq_bleu_prepare(&t[f]);
                    }
                    pick[i] = dsq_mbr_select_bleu(p, k, work);
                    for (size_t f = 0; f < k; f++) dsq_bleu_sent_free(p[f]);
                } else {
                    for (size_t f = 0; f < k; f++) {
                        s[f] = c[f * B + i].hyp;
                        sl[f] = c[f * B + i].hyp_len;
                    }
                    pick[i] = dsq_mbr_select_rouge(s, sl, k, work);
                }
            }
            for (size_t f = 0; f < k; f++) dsq_tokens_free(&t[f]);
            free(t);
            free(p);
            free(s);
            free(sl);
            free(work);
        }
        for (size_t i = 0; i < cnt0; i++) put_choice(out, c[pick[i] * B + i].obj, o->index_field, pick[i]);
        for (size_t f = 0; f < k; f++)
            for (size_t i = 0; i < cnt0; i++) cand_clear(&c[f * B + i]);
        done += cnt0;
        if (ferror(out)) rc = dsq_err_set(e, DSQ_EIO, "write error");
    }
    for (size_t j = 0; j < k * B; j++) cand_clear(&c[j]);
    for (size_t f = 0; f < k; f++) dsq_jsonl_close(r[f]);
    free(r);
    free(c);
    free(pick);
    if (nlines) *nlines = done;
    return rc;
}

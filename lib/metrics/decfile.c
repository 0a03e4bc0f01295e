/* Decode files: the fields a line's texts are in and their cleaning,
 * lines read in order and parsed in parallel, JSONL and plain-text decode
 * files, and the input lists of dsq-score and dsq-mbr (see decfile.h). */
#include "decfile.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonscan.h"
#include "util.h"

void dsq_fields_default(dsq_fields *f) {
    f->hyp_field = "recover";
    f->ref_field = "reference";
    f->src_field = "source";
    f->markers = DSQ_MARKERS_DEFAULT;
    f->clean = 1;
}

int dsq_fields_option(dsq_fields *f, int c, const char *arg) {
    switch (c) {
    case DSQ_FIELDS_OPT_HYP: f->hyp_field = arg; break;
    case DSQ_FIELDS_OPT_REF: f->ref_field = arg; break;
    case DSQ_FIELDS_OPT_SRC: f->src_field = arg; break;
    case DSQ_FIELDS_OPT_SOS: f->markers.sos = arg; break;
    case DSQ_FIELDS_OPT_EOS: f->markers.eos = arg; break;
    case DSQ_FIELDS_OPT_SEP: f->markers.sep = arg; break;
    case DSQ_FIELDS_OPT_PAD: f->markers.pad = arg; break;
    case DSQ_FIELDS_OPT_NOCLEAN: f->clean = 0; break;
    default: return 0;
    }
    return 1;
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

void dsq_first_err_note(dsq_first_err *f, size_t at, const dsq_err *e) {
    if (at < f->at) {
        f->at = at;
        f->err = *e;
    }
}

void dsq_first_err_merge(dsq_first_err *all, const dsq_first_err *mine) {
#pragma omp critical(dsq_first_err)
    dsq_first_err_note(all, mine->at, &mine->err);
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


/* ---- decode files ----------------------------------------------------- */

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


static void decodes_alloc(dsq_decodes *d, size_t n) {
    d->n = n;
    d->hyp = xcalloc(n, sizeof *d->hyp);
    d->ref = xcalloc(n, sizeof *d->ref);
    d->src = xcalloc(n, sizeof *d->src);
    d->hyp_len = xcalloc(n, sizeof *d->hyp_len);
    d->ref_len = xcalloc(n, sizeof *d->ref_len);
    d->src_len = xcalloc(n, sizeof *d->src_len);
}

/* Every line of the k files, in order, into raw[f]; first[f + 1] =
 * first[f] + raw[f].n (the flattened index of file f + 1's line 0). */
static int read_all_lines(char *const *paths, size_t k, dsq_decodes *out, dsq_rawlines *raw,
                          size_t *first, dsq_err *e) {
    for (size_t f = 0; f < k; f++) {
        dsq_jsonl_reader *r = dsq_jsonl_open(paths[f], e);
        if (!r) return e->code;
        out[f].name = xstrdup(dsq_jsonl_name(r));
        int rc = dsq_rawlines_read(r, 0, &raw[f], e);
        dsq_jsonl_close(r);
        if (rc) return rc;
        first[f + 1] = first[f] + raw[f].n;
    }
    return 0;
}

/* Parses and cleans every line of read_all_lines in parallel; an error is
 * the first in (file, line) order. */
static int parse_all_lines(const dsq_rawlines *raw, const size_t *first, size_t k,
                           const dsq_fields *f, dsq_decodes *out, dsq_err *e) {
    size_t total = first[k];
    for (size_t i = 0; i < k; i++) decodes_alloc(&out[i], raw[i].n);
    dsq_first_err bad = {.at = total};
#pragma omp parallel
    {
        dsq_first_err mine = {.at = total};
        dsq_err le = {0};
#pragma omp for schedule(dynamic, 64)
        for (size_t g = 0; g < total; g++) {
            size_t fi = 0;
            while (first[fi + 1] <= g) fi++;
            size_t i = g - first[fi], len;
            const char *line = dsq_rawline(&raw[fi], i, &len);
            dsq_example ex;
            if (dsq_example_parse(out[fi].name, raw[fi].lineno[i], line, len, f, 1, &ex, NULL,
                                  &le)) {
                dsq_first_err_note(&mine, g, &le);
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
        dsq_first_err_merge(&bad, &mine);
    }
    if (bad.at == total) return 0;
    *e = bad.err;
    return e->code;
}

int dsq_decodes_read_jsonl_many(char *const *paths, size_t k, const dsq_fields *f,
                                dsq_decodes *out, dsq_err *e) {
    memset(out, 0, k * sizeof *out);
    dsq_rawlines *raw = xcalloc(k, sizeof *raw);
    size_t *first = xcalloc(k + 1, sizeof *first);
    int rc = read_all_lines(paths, k, out, raw, first, e);
    if (!rc) rc = parse_all_lines(raw, first, k, f, out, e);
    for (size_t i = 0; i < k; i++) dsq_rawlines_free(&raw[i]);
    free(raw);
    free(first);
    if (rc)
        for (size_t i = 0; i < k; i++) dsq_decodes_free(&out[i]);
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

/* ---- the rules dsq-score and dsq-mbr share ------------------------------ */

int dsq_decodes_need_lines(const char *name, size_t n, dsq_err *e) {
    if (n) return 0;
    return dsq_err_set(e, DSQ_EDATA, "%s: no lines (an empty decode file: nothing to score or "
                       "select; check that decoding wrote it)", name);
}

int dsq_decodes_same_field(const char *field, const char *a, size_t an, const char *na, long la,
                           const char *b, size_t bn, const char *nb, long lb, dsq_err *e) {
    if (!a || !b) return 0;
    if (an != bn || memcmp(a, b, an) != 0)
        return dsq_err_set(e, DSQ_EDATA,
                           "%s:%ld: %s differs from %s:%ld (line i must be the same example "
                           "in every file)",
                           nb, lb, field, na, la);
    return 0;
}

/* selectBest and the dsq-mbr driver (see mbr.h). */
#include "mbr.h"

#include <math.h>
#include <string.h>

#include "jsonl.h"

/* The row a of the k x k matrix work with the largest numpy pairwise sum;
 * the first on ties (strict >, as np.argmax).  The zeroed diagonal stays
 * in the row so numpy's lanes line up. */
static size_t argmax_row_sum(const double *work, size_t k) {
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

size_t dsq_mbr_select_bleu(dsq_bleu_sent *const *c, size_t k, double *work) {
    /* M[a][b] = BLEU(hyp c_b, ref c_a); one merge gives M[a][b] and M[b][a]. */
    for (size_t a = 0; a < k; a++) {
        work[a * k + a] = 0.0;
        for (size_t b = a + 1; b < k; b++)
            dsq_bleu_pair(c[b], c[a], &work[a * k + b], &work[b * k + a]);
    }
    return argmax_row_sum(work, k);
}

size_t dsq_mbr_select_rouge(const char *const *c, const size_t *len, size_t k, double *work) {
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++)
            work[a * k + b] = a == b ? 0.0 : dsq_rouge_l_str(c[b], len[b], c[a], len[a]);
    return argmax_row_sum(work, k);
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

/* A chunk: up to B lines of each of the k files, read in lockstep. */
typedef struct {
    size_t k, B;
    dsq_jsonl_reader **r;    /* [k] */
    dsq_rawlines *raw;       /* [k] */
    dsq_example *ex;         /* [k * B], ex[f * B + i] */
    size_t *pick;            /* [B] the chosen file of each example */
    char **line_out;         /* [B] each chosen line, serialised */
    size_t *line_len;        /* [B] */
} mbr_chunk;

static void chunk_init(mbr_chunk *c, size_t k, size_t B) {
    c->k = k;
    c->B = B;
    c->r = xcalloc(k, sizeof *c->r);
    c->raw = xcalloc(k, sizeof *c->raw);
    c->ex = xcalloc(k * B, sizeof *c->ex);
    c->pick = xmalloc(B * sizeof *c->pick);
    c->line_out = xcalloc(B, sizeof *c->line_out);
    c->line_len = xcalloc(B, sizeof *c->line_len);
}

static void chunk_free(mbr_chunk *c) {
    for (size_t f = 0; f < c->k; f++) {
        dsq_jsonl_close(c->r[f]);
        dsq_rawlines_free(&c->raw[f]);
    }
    free(c->r);
    free(c->raw);
    free(c->ex);
    free(c->pick);
    free(c->line_out);
    free(c->line_len);
}

/* The next chunk's lines, *cnt of each file (0 at the end); every file
 * must have as many as file 0.  done: the lines of the earlier chunks. */
static int read_chunk(mbr_chunk *c, size_t done, size_t *cnt, dsq_err *e) {
    *cnt = 0;
    for (size_t f = 0; f < c->k; f++) {
        dsq_rawlines_clear(&c->raw[f]);
        if (dsq_rawlines_read(c->r[f], c->B, &c->raw[f], e)) return e->code;
        if (c->raw[f].n != c->raw[0].n) {
            size_t a = c->raw[f].n < c->raw[0].n ? f : 0, b = a ? 0 : f;
            return dsq_err_set(e, DSQ_EDATA,
                               "%s has %zu lines but %s has more (files of the same inputs "
                               "have one line per example)",
                               dsq_jsonl_name(c->r[a]), done + c->raw[a].n,
                               dsq_jsonl_name(c->r[b]));
        }
    }
    *cnt = c->raw[0].n;
    return 0;
}

/* Line i of file f against file 0: the same example? */
static int check_same(const mbr_chunk *c, size_t f, size_t i, dsq_err *e) {
    const dsq_example *x0 = &c->ex[i], *xf = &c->ex[f * c->B + i];
    const char *n0 = dsq_jsonl_name(c->r[0]), *nf = dsq_jsonl_name(c->r[f]);
    long l0 = c->raw[0].lineno[i], lf = c->raw[f].lineno[i];
    return dsq_decodes_same_field("reference", x0->ref, x0->ref_len, n0, l0, xf->ref, xf->ref_len,
                                  nf, lf, e) ||
           dsq_decodes_same_field("source", x0->src, x0->src_len, n0, l0, xf->src, xf->src_len,
                                  nf, lf, e);
}

/* Parses line i of every file and checks they are one example. */
static int parse_example(mbr_chunk *c, const dsq_mbr_opts *o, size_t i, dsq_err *e) {
    for (size_t f = 0; f < c->k; f++) {
        size_t len;
        const char *line = dsq_rawline(&c->raw[f], i, &len);
        if (dsq_example_parse(dsq_jsonl_name(c->r[f]), c->raw[f].lineno[i], line, len,
                              &o->fields, 0, &c->ex[f * c->B + i], o->index_field, e))
            return e->code;
    }
    for (size_t f = 1; f < c->k; f++)
        if (check_same(c, f, i, e)) return e->code;
    return 0;
}

/* Per-thread scratch of the utility over k candidates. */
typedef struct {
    dsq_tokens *t;
    dsq_bleu_sent **p;
    const char **s;
    size_t *sl;
    double *work;            /* k * k */
    dsq_ngram_ctx *ctx;
} mbr_scratch;

static void scratch_init(mbr_scratch *w, size_t k) {
    w->t = xcalloc(k, sizeof *w->t);
    w->p = xcalloc(k, sizeof *w->p);
    w->s = xcalloc(k, sizeof *w->s);
    w->sl = xcalloc(k, sizeof *w->sl);
    w->work = xmalloc(k * k * sizeof *w->work);
    w->ctx = dsq_ngram_ctx_new();
}

static void scratch_free(mbr_scratch *w, size_t k) {
    for (size_t f = 0; f < k; f++) dsq_tokens_free(&w->t[f]);
    free(w->t);
    free(w->p);
    free(w->s);
    free(w->sl);
    free(w->work);
    dsq_ngram_ctx_free(w->ctx);
}

/* The chosen candidate of parsed example i. */
static size_t choose(const mbr_chunk *c, dsq_mbr_utility u, size_t i, mbr_scratch *w) {
    size_t k = c->k, pick;
    if (u == DSQ_MBR_BLEU) {
        dsq_ngram_ctx_reset(w->ctx);
        for (size_t f = 0; f < k; f++) {
            const dsq_example *x = &c->ex[f * c->B + i];
            dsq_split_ws(x->hyp, x->hyp_len, &w->t[f]);
            w->p[f] = dsq_bleu_prepare(w->ctx, &w->t[f]);
        }
        pick = dsq_mbr_select_bleu(w->p, k, w->work);
        for (size_t f = 0; f < k; f++) dsq_bleu_sent_free(w->p[f]);
    } else {
        for (size_t f = 0; f < k; f++) {
            w->s[f] = c->ex[f * c->B + i].hyp;
            w->sl[f] = c->ex[f * c->B + i].hyp_len;
        }
        pick = dsq_mbr_select_rouge(w->s, w->sl, k, w->work);
    }
    return pick;
}

/* Example i's chosen line, serialised into line_out[i] (written in order
 * later); its parsed fields are freed. */
static void serialise_choice(mbr_chunk *c, const dsq_mbr_opts *o, size_t i) {
    size_t p = c->pick[i], len;
    FILE *m = open_memstream(&c->line_out[i], &c->line_len[i]);
    DSQ_CHECK(m != NULL);
    const char *chosen = dsq_rawline(&c->raw[p], i, &len);
    put_choice(m, chosen, len, &c->ex[p * c->B + i], o->index_field, p);
    DSQ_CHECK(fclose(m) == 0);
    for (size_t f = 0; f < c->k; f++) dsq_example_free(&c->ex[f * c->B + i]);
}

/* Parses, checks and scores the chunk's cnt examples in parallel; an error
 * is the first in line order. */
static int choose_chunk(mbr_chunk *c, const dsq_mbr_opts *o, size_t cnt, dsq_err *e) {
    dsq_first_err bad = {.at = cnt};
#pragma omp parallel
    {
        mbr_scratch w;
        scratch_init(&w, c->k);
        dsq_first_err mine = {.at = cnt};
        dsq_err le = {0};
#pragma omp for schedule(dynamic, 8)
        for (size_t i = 0; i < cnt; i++) {
            if (parse_example(c, o, i, &le)) {
                dsq_first_err_note(&mine, i, &le);
                continue;
            }
            c->pick[i] = choose(c, o->utility, i, &w);
            serialise_choice(c, o, i);
        }
        dsq_first_err_merge(&bad, &mine);
        scratch_free(&w, c->k);
    }
    if (bad.at == cnt) return 0;
    *e = bad.err;
    return e->code;
}

/* Writes the chunk's lines in order unless rc; frees them (and, after an
 * error, what the failed examples left parsed). */
static int write_chunk(mbr_chunk *c, size_t cnt, int rc, FILE *out, dsq_err *e) {
    for (size_t i = 0; i < cnt; i++) {
        if (!rc && c->line_out[i]) fwrite(c->line_out[i], 1, c->line_len[i], out);
        free(c->line_out[i]);
        c->line_out[i] = NULL;
    }
    if (rc)
        for (size_t j = 0; j < c->k * c->B; j++) dsq_example_free(&c->ex[j]);
    if (!rc && ferror(out)) rc = dsq_err_set(e, DSQ_EIO, "write error");
    return rc;
}

int dsq_mbr_run(char *const *paths, size_t k, const dsq_mbr_opts *o, FILE *out, size_t *nlines,
                dsq_err *e) {
    size_t nstdin = 0;
    for (size_t f = 0; f < k; f++) nstdin += strcmp(paths[f], "-") == 0;
    if (nstdin > 1) return dsq_err_set(e, DSQ_EUSAGE, "standard input ('-') given more than once");
    mbr_chunk c;
    chunk_init(&c, k, o->chunk ? o->chunk : 1024);
    int rc = 0;
    size_t done = 0, cnt;
    for (size_t f = 0; f < k && !rc; f++)
        if (!(c.r[f] = dsq_jsonl_open(paths[f], e))) rc = e->code;
    /* Lines are read in order, then parsed, checked and scored in
     * parallel, one example per iteration, and written in order. */
    while (!rc && !(rc = read_chunk(&c, done, &cnt, e)) && cnt) {
        rc = choose_chunk(&c, o, cnt, e);
        rc = write_chunk(&c, cnt, rc, out, e);
        done += cnt;
    }
    if (!rc && !done) rc = dsq_decodes_need_lines(dsq_jsonl_name(c.r[0]), 0, e);
    chunk_free(&c);
    if (nlines) *nlines = done;
    return rc;
}

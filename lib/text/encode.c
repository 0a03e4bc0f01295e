#include "encode.h"

#include <inttypes.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "examples.h"
#include "jsonscan.h"
#include "pack.h"

/* One record's worth of input lines, copied out of the reader. */
typedef struct {
    char *text;        /* all lines back to back, each NUL-terminated */
    size_t text_len, text_cap;
    size_t *offset;    /* [rows] start of line i in text */
    size_t *length;    /* [rows] */
    long *lineno;      /* [rows] */
    int rows;
} line_batch;

static void batch_push(line_batch *b, const char *line, size_t len, long lineno) {
    if (b->text_len + len + 1 > b->text_cap) {
        while (b->text_len + len + 1 > b->text_cap) b->text_cap = b->text_cap ? 2 * b->text_cap : 1 << 16;
        b->text = xrealloc(b->text, b->text_cap);
    }
    memcpy(b->text + b->text_len, line, len);
    b->text[b->text_len + len] = '\0';
    b->offset[b->rows] = b->text_len;
    b->length[b->rows] = len;
    b->lineno[b->rows] = lineno;
    b->text_len += len + 1;
    b->rows++;
}

/* Tokenises and packs line i of the batch into its row slot. */
static int encode_row(const line_batch *b, int i, const dsq_tokenizer *tok, const dsq_encode_opts *o,
                      const char *name, dsq_ids *src, dsq_ids *trg, int32_t *ids_row,
                      uint8_t *mask_row, uint8_t *has_target, dsq_err *e) {
    const char *line = b->text + b->offset[i];
    size_t len = b->length[i];
    long lineno = b->lineno[i];
    const char *s = line, *t = NULL;
    size_t sn = len, tn = 0;
    dsq_jfield fd[2] = {{.key = o->src_field}, {.key = o->trg_field}};
    if (!o->plain_text) {
        if (dsq_json_scan(name, lineno, line, len, fd, 2, e)) return e->code;
        if (!fd[0].present || !fd[0].is_string) {
            dsq_err_set(e, DSQ_EDATA, "%s:%ld: field '%s': %s", name, lineno, o->src_field,
                        fd[0].present ? "not a string" : "missing");
            goto fail;
        }
        s = fd[0].val;
        sn = fd[0].val_len;
        /* A missing or null target makes a source-only example. */
        int is_null = fd[1].present && fd[1].raw_end - fd[1].raw_start == 4 &&
                      memcmp(line + fd[1].raw_start, "null", 4) == 0;
        if (fd[1].present && !is_null) {
            if (!fd[1].is_string) {
                dsq_err_set(e, DSQ_EDATA, "%s:%ld: field '%s': not a string", name, lineno,
                            o->trg_field);
                goto fail;
            }
            t = fd[1].val;
            tn = fd[1].val_len;
        }
    }
    src->n = 0;
    trg->n = 0;
    if (dsq_tokenizer_encode(tok, s, sn, src, e)) {
        dsq_err_prefix(e, "%s:%ld: field '%s'", name, lineno, o->plain_text ? "text" : o->src_field);
        goto fail;
    }
    if (t && dsq_tokenizer_encode(tok, t, tn, trg, e)) {
        dsq_err_prefix(e, "%s:%ld: field '%s'", name, lineno, o->trg_field);
        goto fail;
    }
    if (dsq_pack(ids_row, mask_row, src->ids, src->n, trg->ids, trg->n, t != NULL, o->seq_len,
                 dsq_tokenizer_specials(tok)) < 0) {
        dsq_err_set(e, DSQ_EUSAGE, "seq_len %d is too small to pack an example", o->seq_len);
        goto fail;
    }
    *has_target = t != NULL;
    dsq_jfields_free(fd, 2);
    return 0;
fail:
    dsq_jfields_free(fd, 2);
    return e->code;
}

int dsq_encode_examples(dsq_jsonl_reader *in, dsq_stream_writer *out, const dsq_tokenizer *tok,
                        const dsq_encode_opts *o, long *n_examples, dsq_err *e) {
    const int R = o->rows_per_record > 0 ? o->rows_per_record : 1024;
    const int L = o->seq_len;
    const char *name = dsq_jsonl_name(in);
    line_batch b = {0};
    b.offset = xmalloc(R * sizeof *b.offset);
    b.length = xmalloc(R * sizeof *b.length);
    b.lineno = xmalloc(R * sizeof *b.lineno);
    int32_t *ids = xmalloc((size_t)R * L * sizeof *ids);      /* [R, L] */
    uint8_t *mask = xmalloc((size_t)R * L);                    /* [R, L] */
    uint8_t *has_target = xmalloc(R);                          /* [R] */
    int64_t *index = xmalloc(R * sizeof *index);               /* [R] */
    int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    dsq_err *row_err = xcalloc(threads, sizeof *row_err);      /* first error per thread */
    int *err_row = xmalloc(threads * sizeof *err_row);
    long total = 0;
    int rc = 0;
    for (;;) {
        b.rows = 0;
        b.text_len = 0;
        const char *line;
        size_t len;
        int got = 1;
        while (b.rows < R && (got = dsq_jsonl_next_line(in, &line, &len, e)) > 0)
            batch_push(&b, line, len, dsq_jsonl_lineno(in));
        if (got < 0) { rc = e->code; break; }
        if (b.rows == 0) break;
        for (int k = 0; k < threads; k++) err_row[k] = -1;
#pragma omp parallel num_threads(threads)
        {
            int me = omp_get_thread_num();
            dsq_ids src = {0}, trg = {0};
#pragma omp for schedule(dynamic, 16)
            for (int i = 0; i < b.rows; i++) {
                if (err_row[me] >= 0) continue;  /* this thread already failed earlier */
                if (encode_row(&b, i, tok, o, name, &src, &trg, ids + (size_t)i * L,
                               mask + (size_t)i * L, has_target + i, &row_err[me]))
                    err_row[me] = i;
            }
            free(src.ids);
            free(trg.ids);
        }
        /* Report the earliest failing line, whatever thread found it. */
        int first = -1;
        for (int k = 0; k < threads; k++)
            if (err_row[k] >= 0 && (first < 0 || err_row[k] < err_row[first])) first = k;
        if (first >= 0) {
            *e = row_err[first];
            rc = e->code;
            break;
        }
        for (int i = 0; i < b.rows; i++) index[i] = total + i;
        dsq_record rec;
        dsq_record_init(&rec);
        dsq_record_set_meta(&rec, "dsq_kind", "examples");
        char sl[16];
        snprintf(sl, sizeof sl, "%d", L);
        dsq_record_set_meta(&rec, "seq_len", sl);
        dsq_tokenizer_meta(&rec, tok);
        int64_t shape2[2] = {b.rows, L}, shape1[1] = {b.rows};
        dsq_record_add(&rec, "input_ids", DSQ_I32, 2, shape2, ids);
        dsq_record_add(&rec, "input_mask", DSQ_U8, 2, shape2, mask);
        dsq_record_add(&rec, "index", DSQ_I64, 1, shape1, index);
        dsq_record_add(&rec, "has_target", DSQ_U8, 1, shape1, has_target);
        rc = dsq_stream_write(out, &rec, e);
        dsq_record_free(&rec);
        if (rc) break;
        total += b.rows;
        if (got == 0) break;
    }
    free(b.text);
    free(b.offset);
    free(b.length);
    free(b.lineno);
    free(ids);
    free(mask);
    free(has_target);
    free(index);
    free(row_err);
    free(err_row);
    if (n_examples) *n_examples = total;
    return rc;
}

int dsq_count_words(dsq_jsonl_reader *in, dsq_wordcount *w, const dsq_encode_opts *o, dsq_err *e) {
    const char *name = dsq_jsonl_name(in);
    const char *line;
    size_t len;
    int got;
    while ((got = dsq_jsonl_next_line(in, &line, &len, e)) > 0) {
        long lineno = dsq_jsonl_lineno(in);
        if (o->plain_text) {
            if (dsq_wordcount_add(w, line, len, e)) return e->code;
            continue;
        }
        dsq_jfield fd[2] = {{.key = o->src_field}, {.key = o->trg_field}};
        if (dsq_json_scan(name, lineno, line, len, fd, 2, e)) return e->code;
        for (int k = 0; k < 2; k++) {
            int is_null = fd[k].present && fd[k].raw_end - fd[k].raw_start == 4 &&
                          memcmp(line + fd[k].raw_start, "null", 4) == 0;
            if (k == 1 && (!fd[k].present || is_null)) continue;  /* source-only line */
            int rc = 0;
            if (!fd[k].present || !fd[k].is_string)
                rc = dsq_err_set(e, DSQ_EDATA, "%s:%ld: field '%s': %s", name, lineno, fd[k].key,
                                 fd[k].present ? "not a string" : "missing");
            else
                rc = dsq_wordcount_add(w, fd[k].val, fd[k].val_len, e);
            if (rc) {
                dsq_jfields_free(fd, 2);
                return rc;
            }
        }
        dsq_jfields_free(fd, 2);
    }
    return got < 0 ? e->code : 0;
}

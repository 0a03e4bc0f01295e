#include "decode.h"

#include <inttypes.h>
#include <string.h>

#include "examples.h"
#include "jsonl.h"

static int put_decoded(FILE *out, const char *key, const dsq_tokenizer *tok, const int32_t *ids,
                       size_t n, dsq_join join, dsq_str *buf, dsq_err *e) {
    buf->n = 0;
    if (dsq_tokenizer_decode(tok, ids, n, join, buf, e)) return e->code;
    fprintf(out, "\"%s\": ", key);
    dsq_json_put_string(out, buf->s, buf->n);
    return 0;
}

static int decode_examples(const dsq_record *rec, const char *where, FILE *out,
                           const dsq_tokenizer *tok, dsq_join join, dsq_str *buf, long *rows,
                           dsq_err *e) {
    dsq_examples v;
    if (dsq_examples_view(rec, dsq_tokenizer_vocab_size(tok), &v, where, e)) return e->code;
    for (int64_t i = 0; i < v.n; i++) {
        const int32_t *row = v.input_ids + i * v.seq_len;
        int64_t len_x = dsq_examples_src_len(&v, i);
        putc('{', out);
        if (put_decoded(out, "reference", tok, row + len_x, v.seq_len - len_x, join, buf, e))
            return e->code;
        fputs(", ", out);
        if (put_decoded(out, "source", tok, row, len_x, join, buf, e)) return e->code;
        fputs("}\n", out);
        (*rows)++;
    }
    return 0;
}

static int decode_ids(const dsq_record *rec, const char *where, FILE *out,
                      const dsq_tokenizer *tok, dsq_join join, dsq_str *buf, long *rows,
                      dsq_err *e) {
    const dsq_tensor *ids = dsq_record_find(rec, "ids");
    if (!ids || ids->dtype != DSQ_I32 || ids->ndim != 2)
        return dsq_err_set(e, DSQ_EDATA, "%s: ids record needs tensor 'ids' I32 [n, L]", where);
    const dsq_tensor *mask = dsq_record_find(rec, "input_mask");
    int64_t n = ids->shape[0], L = ids->shape[1];
    if (mask && (mask->dtype != DSQ_U8 || mask->ndim != 2 || mask->shape[0] != n ||
                 mask->shape[1] != L))
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor 'input_mask' must be U8 [%" PRId64
                           ", %" PRId64 "] like 'ids'", where, n, L);
    const int32_t *id = ids->data;
    int32_t V = dsq_tokenizer_vocab_size(tok);
    for (int64_t i = 0; i < n * L; i++)
        if (id[i] < 0 || id[i] >= V)
            return dsq_err_set(e, DSQ_EDATA, "%s: row %" PRId64 ": id %" PRId32
                               " outside the vocabulary (size %" PRId32 ")", where, i / L, id[i], V);
    for (int64_t i = 0; i < n; i++) {
        const int32_t *row = id + i * L;
        int64_t start = 0;
        if (mask) {
            const uint8_t *m = (const uint8_t *)mask->data + i * L;
            while (start < L && m[start] == 0) start++;
        }
        putc('{', out);
        if (put_decoded(out, mask ? "recover" : "text", tok, row + start, L - start, join, buf, e))
            return e->code;
        fputs("}\n", out);
        (*rows)++;
    }
    return 0;
}

int dsq_decode_stream(dsq_stream_reader *in, const char *in_name, FILE *out,
                      const dsq_tokenizer *tok, dsq_join join, long *n_rows, dsq_err *e) {
    dsq_record rec;
    dsq_record_init(&rec);
    dsq_str buf = {0};
    long rows = 0;
    int rc = 0, got;
    while ((got = dsq_stream_read(in, &rec, e)) > 0) {
        char where[512];
        snprintf(where, sizeof where, "%s: record %ld", in_name, dsq_stream_records_read(in));
        const char *kind = dsq_record_meta(&rec, "dsq_kind");
        if ((rc = dsq_check_tokenizer_meta(&rec, tok, where, e))) break;
        if (kind && strcmp(kind, "examples") == 0)
            rc = decode_examples(&rec, where, out, tok, join, &buf, &rows, e);
        else if (kind && strcmp(kind, "ids") == 0)
            rc = decode_ids(&rec, where, out, tok, join, &buf, &rows, e);
        else
            rc = dsq_err_set(e, DSQ_EDATA, "%s: dsq_kind '%s' cannot be decoded (want examples or ids)",
                             where, kind ? kind : "missing");
        if (rc) break;
    }
    if (got < 0) rc = e->code;
    dsq_record_free(&rec);
    free(buf.s);
    if (n_rows) *n_rows = rows;
    return rc;
}

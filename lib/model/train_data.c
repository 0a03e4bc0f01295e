/* Loading training examples and shuffling them per epoch. */
#include "train_data.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "examples.h"
#include "philox.h"
#include "stream.h"

/* Standard input is read once into memory, so that it can be opened twice
 * (peek at the tokenizer kind, then load). */
static char *stdin_buf;
static size_t stdin_len;

void dsq_train_data_release_stdin(void) {
    free(stdin_buf);
    stdin_buf = NULL;
    stdin_len = 0;
}

static FILE *open_in(const char *path, dsq_err *e) {
    if (!strcmp(path, "-")) {
        if (!stdin_buf) {
            size_t cap = 1 << 20, k;
            stdin_buf = xmalloc(cap);
            while ((k = fread(stdin_buf + stdin_len, 1, cap - stdin_len, stdin)) > 0) {
                stdin_len += k;
                if (stdin_len == cap) stdin_buf = xrealloc(stdin_buf, cap *= 2);
            }
            if (ferror(stdin)) {
                dsq_err_set(e, DSQ_EIO, "<stdin>: read error: %s", strerror(errno));
                return NULL;
            }
        }
        FILE *f = fmemopen(stdin_buf, stdin_len ? stdin_len : 1, "rb");
        if (f && !stdin_len) fseek(f, 0, SEEK_END);
        if (!f) dsq_err_set(e, DSQ_EIO, "<stdin>: %s", strerror(errno));
        return f;
    }
    FILE *f = fopen(path, "rb");
    if (!f) dsq_err_set(e, DSQ_EIO, "%s: %s", path, strerror(errno));
    return f;
}

int dsq_train_data_load(dsq_train_data *d, const char *path, const dsq_tokenizer *tok,
                        int64_t vocab_size, dsq_err *e) {
    memset(d, 0, sizeof *d);
    FILE *f = open_in(path, e);
    if (!f) return e->code;
    dsq_stream_reader *rd = dsq_stream_reader_open(f, path, 0);
    dsq_record r;
    dsq_record_init(&r);
    int rc = 0, got;
    int64_t cap = 0;
    char where[512];
    while ((got = dsq_stream_read(rd, &r, e)) == 1) {
        snprintf(where, sizeof where, "%s: record %ld", path, dsq_stream_records_read(rd));
        if (tok && (rc = dsq_check_tokenizer_meta(&r, tok, where, e))) break;
        dsq_examples v;
        if ((rc = dsq_examples_view(&r, vocab_size, &v, where, e))) break;
        if (d->n && v.seq_len != d->L) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: seq_len %" PRId64 ", earlier records %d", where,
                             v.seq_len, d->L);
            break;
        }
        d->L = (int)v.seq_len;
        for (int64_t i = 0; i < v.n; i++)
            if (!v.has_target[i]) {
                rc = dsq_err_set(e, DSQ_EDATA, "%s: example %" PRId64 " (input line %" PRId64
                                 ") has no target: training needs src and trg", where, i,
                                 v.index[i] + 1);
                break;
            }
        if (rc) break;
        if (d->n + v.n > cap) {
            cap = (d->n + v.n) * 2;
            d->ids = xrealloc(d->ids, (size_t)cap * d->L * sizeof *d->ids);
            d->mask = xrealloc(d->mask, (size_t)cap * d->L);
        }
        memcpy(d->ids + d->n * d->L, v.input_ids, (size_t)v.n * d->L * sizeof *d->ids);
        memcpy(d->mask + d->n * d->L, v.input_mask, (size_t)v.n * d->L);
        d->n += v.n;
    }
    if (got < 0) rc = e->code ? e->code : DSQ_EDATA;
    if (!rc && d->n == 0) rc = dsq_err_set(e, DSQ_EDATA, "%s: no examples", path);
    dsq_record_free(&r);
    dsq_stream_reader_close(rd);
    fclose(f);
    if (rc) dsq_train_data_free(d);
    return rc;
}

void dsq_train_data_free(dsq_train_data *d) {
    free(d->ids);
    free(d->mask);
    memset(d, 0, sizeof *d);
}

int dsq_train_data_peek_kind(const char *path, dsq_tok_kind *kind, dsq_err *e) {
    FILE *f = open_in(path, e);
    if (!f) return e->code;
    dsq_stream_reader *rd = dsq_stream_reader_open(f, path, 0);
    dsq_record r;
    dsq_record_init(&r);
    int rc = 0, got = dsq_stream_read(rd, &r, e);
    if (got < 0) rc = e->code ? e->code : DSQ_EDATA;
    else if (got == 0) rc = dsq_err_set(e, DSQ_EDATA, "%s: empty stream", path);
    else {
        const char *k = dsq_record_meta(&r, "tokenizer");
        if (!k || dsq_tokenizer_kind_parse(k, kind))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: record 1: no tokenizer kind in the metadata "
                             "(not made by dsq-tokenize?)", path);
    }
    dsq_record_free(&r);
    dsq_stream_reader_close(rd);
    fclose(f);
    return rc;
}

void dsq_train_data_order(int64_t n, uint64_t seed, int64_t epoch, int64_t *perm) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t x[4];
        dsq_philox_block(seed ^ 0x5eed0da7a0000000ull, (uint64_t)epoch, (uint64_t)i, x);
        uint64_t u = ((uint64_t)x[0] << 32) | x[1];
        int64_t j = (int64_t)(u % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

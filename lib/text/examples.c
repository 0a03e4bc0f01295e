#include "examples.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_meta_i64(dsq_record *r, const char *key, int64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    dsq_record_set_meta(r, key, buf);
}

void dsq_tokenizer_meta(dsq_record *r, const dsq_tokenizer *tok) {
    dsq_special_ids sp = dsq_tokenizer_specials(tok);
    dsq_record_set_meta(r, "tokenizer", dsq_tokenizer_kind_name(dsq_tokenizer_kind(tok)));
    set_meta_i64(r, "vocab_size", dsq_tokenizer_vocab_size(tok));
    dsq_record_set_meta(r, "vocab_digest", dsq_tokenizer_digest(tok));
    set_meta_i64(r, "pad_id", sp.pad);
    set_meta_i64(r, "unk_id", sp.unk);
    set_meta_i64(r, "start_id", sp.start);
    set_meta_i64(r, "end_id", sp.end);
    set_meta_i64(r, "sep_id", sp.sep);
}

int dsq_check_tokenizer_meta(const dsq_record *r, const dsq_tokenizer *tok, const char *where,
                             dsq_err *e) {
    const char *kind = dsq_record_meta(r, "tokenizer");
    const char *size = dsq_record_meta(r, "vocab_size");
    const char *digest = dsq_record_meta(r, "vocab_digest");
    if (!kind || !size || !digest)
        return dsq_err_set(e, DSQ_EDATA,
                           "%s: metadata lacks tokenizer/vocab_size/vocab_digest "
                           "(not made by dsq-tokenize?)", where);
    const char *want_kind = dsq_tokenizer_kind_name(dsq_tokenizer_kind(tok));
    const char *want_digest = dsq_tokenizer_digest(tok);
    char want_size[32];
    snprintf(want_size, sizeof want_size, "%" PRId32, dsq_tokenizer_vocab_size(tok));
    if (strcmp(kind, want_kind) || strcmp(size, want_size) || strcmp(digest, want_digest))
        return dsq_err_set(e, DSQ_EDATA,
                           "%s: tokenized with another vocabulary: stream has %s, %s tokens, %s; "
                           "the given vocabulary is %s, %s tokens, %s (give the vocabulary the "
                           "stream was made with%s)",
                           where, kind, size, digest, want_kind, want_size, want_digest,
                           strcmp(kind, want_kind) ? ", of its kind" : "");
    return 0;
}

/* Finds a tensor and checks its dtype and rank. */
static const dsq_tensor *need(const dsq_record *r, const char *name, dsq_dtype dt, int ndim,
                              const char *where, dsq_err *e) {
    const dsq_tensor *t = dsq_record_find(r, name);
    if (!t) {
        dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s' missing", where, name);
        return NULL;
    }
    if (t->dtype != dt || t->ndim != ndim) {
        dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': expected %s with %d dimension%s, got %s with %d",
                    where, name, dsq_dtype_name(dt), ndim, ndim == 1 ? "" : "s",
                    dsq_dtype_name(t->dtype), t->ndim);
        return NULL;
    }
    return t;
}

int dsq_examples_view(const dsq_record *r, int64_t vocab_size, dsq_examples *v, const char *where,
                      dsq_err *e) {
    memset(v, 0, sizeof *v);
    const char *kind = dsq_record_meta(r, "dsq_kind");
    if (!kind || strcmp(kind, "examples") != 0)
        return dsq_err_set(e, DSQ_EDATA, "%s: not an examples record (dsq_kind=%s)", where,
                           kind ? kind : "missing");
    const dsq_tensor *ids = need(r, "input_ids", DSQ_I32, 2, where, e);
    const dsq_tensor *mask = ids ? need(r, "input_mask", DSQ_U8, 2, where, e) : NULL;
    const dsq_tensor *index = mask ? need(r, "index", DSQ_I64, 1, where, e) : NULL;
    const dsq_tensor *has_t = index ? need(r, "has_target", DSQ_U8, 1, where, e) : NULL;
    if (!has_t) return e->code;
    int64_t n = ids->shape[0], L = ids->shape[1];
    if (mask->shape[0] != n || mask->shape[1] != L || index->shape[0] != n || has_t->shape[0] != n)
        return dsq_err_set(e, DSQ_EDATA,
                           "%s: tensor shapes disagree (input_ids [%" PRId64 ", %" PRId64 "])",
                           where, n, L);
    const char *sl = dsq_record_meta(r, "seq_len");
    char *end = NULL;
    long long meta_len = sl ? strtoll(sl, &end, 10) : -1;
    if (!sl || *end || meta_len != L)
        return dsq_err_set(e, DSQ_EDATA, "%s: metadata seq_len=%s does not match input_ids width %" PRId64,
                           where, sl ? sl : "missing", L);
    if (L < 2) return dsq_err_set(e, DSQ_EDATA, "%s: seq_len %" PRId64 " too small", where, L);
    const int32_t *id = ids->data;
    const uint8_t *m = mask->data;
    for (int64_t i = 0; i < n; i++) {
        const int32_t *row = id + i * L;
        const uint8_t *mrow = m + i * L;
        for (int64_t j = 0; j < L; j++) {
            if (row[j] < 0 || (vocab_size > 0 && row[j] >= vocab_size))
                return dsq_err_set(e, DSQ_EDATA,
                                   "%s: row %" PRId64 ": input_ids[%" PRId64 "] = %" PRId32
                                   " outside the vocabulary (size %" PRId64 ")",
                                   where, i, j, row[j], vocab_size);
            if (mrow[j] > 1 || (j > 0 && mrow[j] < mrow[j - 1]) || (j == 0 && mrow[j] != 0))
                return dsq_err_set(e, DSQ_EDATA,
                                   "%s: row %" PRId64 ": input_mask is not zeros (source) then "
                                   "ones (target) at position %" PRId64, where, i, j);
        }
    }
    v->n = n;
    v->seq_len = L;
    v->input_ids = ids->data;
    v->input_mask = mask->data;
    v->index = index->data;
    v->has_target = has_t->data;
    return 0;
}

int64_t dsq_examples_src_len(const dsq_examples *v, int64_t i) {
    const uint8_t *m = v->input_mask + i * v->seq_len;
    int64_t k = 0;
    while (k < v->seq_len && m[k] == 0) k++;
    return k;
}

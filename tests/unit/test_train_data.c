/* Training data: loading examples streams (records concatenated, the
 * vocabulary check, ids range, seq_len agreement, examples without target,
 * empty and missing streams) and the per-epoch order (a permutation, the
 * same for the same seed and epoch, different across epochs and seeds). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "examples.h"
#include "stream.h"
#include "tokenizer.h"
#include "train_data.h"

static char dir[] = "/tmp/dsq_tdata_XXXXXX";
static dsq_tokenizer *tok, *other;

/* A record of n examples of length L; has_target[i] = (i != no_target). */
static void make_record(dsq_record *r, const dsq_tokenizer *t, int n, int L, int32_t id_base,
                        int no_target) {
    dsq_record_init(r);
    int64_t s2[2] = {n, L}, s1[1] = {n};
    int32_t *ids = xmalloc((size_t)n * L * 4);
    uint8_t *mask = xmalloc((size_t)n * L), *ht = xmalloc((size_t)n);
    int64_t *idx = xmalloc((size_t)n * 8);
    for (int i = 0; i < n; i++) {
        for (int l = 0; l < L; l++) {
            ids[i * L + l] = id_base + (i + l) % 3;
            mask[i * L + l] = l >= 2;
        }
        idx[i] = i;
        ht[i] = i != no_target;
    }
    dsq_record_add_owned(r, "input_ids", DSQ_I32, 2, s2, ids);
    dsq_record_add_owned(r, "input_mask", DSQ_U8, 2, s2, mask);
    dsq_record_add_owned(r, "index", DSQ_I64, 1, s1, idx);
    dsq_record_add_owned(r, "has_target", DSQ_U8, 1, s1, ht);
    dsq_record_set_meta(r, "dsq_kind", "examples");
    char b[16];
    snprintf(b, sizeof b, "%d", L);
    dsq_record_set_meta(r, "seq_len", b);
    dsq_tokenizer_meta(r, t);
}

/* Writes the records as one stream file; returns its path (static). */
static const char *write_stream(const char *name, dsq_record *recs, int n) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    dsq_stream_writer *w = dsq_stream_writer_open(f, path, 3);
    dsq_err e = {0};
    for (int i = 0; i < n; i++) DSQ_CHECK(dsq_stream_write(w, &recs[i], &e) == 0);
    DSQ_CHECK(dsq_stream_writer_close(w, &e) == 0);
    fclose(f);
    for (int i = 0; i < n; i++) dsq_record_free(&recs[i]);
    return path;
}

static void test_load(void) {
    dsq_err e = {0};
    dsq_train_data d;
    dsq_record r[2];
    int V = dsq_tokenizer_vocab_size(tok);
    make_record(&r[0], tok, 3, 6, 4, -1);
    make_record(&r[1], tok, 2, 6, 5, -1);
    const char *p = write_stream("ok.dsq", r, 2);
    EXPECT(dsq_train_data_load(&d, p, tok, V, &e) == 0, "%s", e.msg);
    EXPECT(d.n == 5 && d.L == 6, "n %lld L %d", (long long)d.n, d.L);
    EXPECT(d.ids[0] == 4 && d.ids[3 * 6] == 5 && d.mask[1] == 0 && d.mask[2] == 1,
           "records concatenated in order");
    dsq_tok_kind k;
    EXPECT(dsq_train_data_peek_kind(p, &k, &e) == 0 && k == DSQ_TOK_WORD, "peek kind");
    dsq_train_data_free(&d);

    EXPECT(dsq_train_data_load(&d, p, other, dsq_tokenizer_vocab_size(other), &e) == DSQ_EDATA &&
           strstr(e.msg, "another vocabulary") && strstr(e.msg, "record 1"), "vocab: %s", e.msg);
    make_record(&r[0], tok, 2, 6, V - 1, -1);  /* ids V-1, V, V+1 */
    p = write_stream("range.dsq", r, 1);
    EXPECT(dsq_train_data_load(&d, p, tok, V, &e) == DSQ_EDATA, "id out of range: %s", e.msg);
    make_record(&r[0], tok, 2, 6, 4, -1);
    make_record(&r[1], tok, 2, 8, 4, -1);
    p = write_stream("len.dsq", r, 2);
    EXPECT(dsq_train_data_load(&d, p, tok, V, &e) == DSQ_EDATA && strstr(e.msg, "record 2") &&
           strstr(e.msg, "seq_len 8"), "seq_len: %s", e.msg);
    make_record(&r[0], tok, 3, 6, 4, 1);
    p = write_stream("notrg.dsq", r, 1);
    EXPECT(dsq_train_data_load(&d, p, tok, V, &e) == DSQ_EDATA && strstr(e.msg, "no target") &&
           strstr(e.msg, "input line 2"), "no target: %s", e.msg);
    p = write_stream("empty.dsq", r, 0);
    EXPECT(dsq_train_data_load(&d, p, tok, V, &e) == DSQ_EDATA && strstr(e.msg, "no examples"),
           "empty: %s", e.msg);
    EXPECT(dsq_train_data_load(&d, "/nonexistent/x.dsq", tok, V, &e) == DSQ_EIO, "missing");
}

static void test_order(void) {
    enum { n = 1000 };
    int64_t *a = xmalloc(n * 8), *b = xmalloc(n * 8), *c = xmalloc(n * 8);
    char *seen = xcalloc(n, 1);
    dsq_train_data_order(n, 102, 3, a);
    dsq_train_data_order(n, 102, 3, b);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        ok &= a[i] >= 0 && a[i] < n && !seen[a[i]];
        if (a[i] >= 0 && a[i] < n) seen[a[i]] = 1;
    }
    EXPECT(ok, "a permutation");
    EXPECT(!memcmp(a, b, n * 8), "same seed and epoch, same order");
    dsq_train_data_order(n, 102, 4, c);
    EXPECT(memcmp(a, c, n * 8), "another epoch, another order");
    dsq_train_data_order(n, 103, 3, c);
    EXPECT(memcmp(a, c, n * 8), "another seed, another order");
    int fixed = 0;
    for (int i = 0; i < n; i++) fixed += a[i] == i;
    EXPECT(fixed < 10, "shuffled: %d fixed points", fixed);
    free(a); free(b); free(c); free(seen);
}

int main(void) {
    if (!mkdtemp(dir)) { printf("FAIL setup: mkdtemp\n"); return 1; }
    static const char words[] = "alpha\nbeta\ngamma\ndelta\n", words2[] = "alpha\nbeta\n";
    dsq_err e = {0};
    if (dsq_tokenizer_load_mem(&tok, words, sizeof words - 1, "w1", DSQ_TOK_WORD, &e) ||
        dsq_tokenizer_load_mem(&other, words2, sizeof words2 - 1, "w2", DSQ_TOK_WORD, &e)) {
        printf("FAIL setup: %s\n", e.msg);
        return 1;
    }
    RUN_TEST(test_load);
    RUN_TEST(test_order);
    dsq_tokenizer_free(tok);
    dsq_tokenizer_free(other);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) printf("FAIL cleanup\n");
    TEST_MAIN_END();
}

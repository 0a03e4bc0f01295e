/* Byte-level BPE (lib/text/bpe.c) against transformers' RobertaTokenizer and
 * DebertaTokenizer as bert_score calls them, on the fixtures of
 * tests/oracles/gen_bpe_fixtures.py (tests/fixtures/bpe/): the
 * pre-tokeniser's classes over all code points, the hand-made cases
 * (invalid UTF-8 included), every src/trg of data/qqp, data/iwslt14 and
 * data/conversation (ids must be identical), the same on 4 threads sharing
 * the merge cache, and malformed vocabulary files. */
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "check.h"
#include "tokfix.h"

#define BPE_DIR "tests/fixtures/bpe/"

static dsq_tokenizer *tk[2];  /* roberta, deberta */
static const char *tk_name[2] = {"roberta", "deberta"};

static dsq_tokenizer *load(int deberta, dsq_err *e) {
    dsq_bpe_opts ro = {"<s>", "</s>", "<pad>", "<unk>", "<mask>", 1};
    dsq_bpe_opts de = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", 0};
    dsq_tokenizer *t = NULL;
    const char *d = deberta ? BPE_DIR "deberta/" : BPE_DIR "roberta/";
    char v[256], m[256];
    snprintf(v, sizeof v, "%svocab.json", d);
    snprintf(m, sizeof m, "%smerges.txt", d);
    dsq_tokenizer_load_bpe(&t, v, m, deberta ? &de : &ro, e);
    return t;
}

static int cmp(const char *what, const dsq_ids *got, const dsq_ids *want) {
    if (ids_equal(got, want)) return 1;
    char a[512], b[512];
    fprintf(stderr, "  %s\n    got  %s\n    want %s\n", what, ids_str(got->ids, got->n, a, sizeof a),
            ids_str(want->ids, want->n, b, sizeof b));
    return 0;
}

static void test_classes(void) {
    char *buf = fix_read(BPE_DIR "classes.txt", NULL), *cur = buf, *line;
    EXPECT(buf != NULL, "classes.txt");
    uint32_t start[8192];
    int cls[8192], n = 0;
    while (buf && (line = fix_line(&cur)) && n < 8191) {
        char k;
        unsigned long cp;
        if (sscanf(line, "%lx %c", &cp, &k) != 2) continue;
        start[n] = (uint32_t)cp;
        cls[n++] = k == 'L' ? DSQ_BPE_LETTER : k == 'N' ? DSQ_BPE_NUMBER
                   : k == 'S' ? DSQ_BPE_SPACE : DSQ_BPE_OTHER;
    }
    EXPECT(n > 100, "only %d class runs", n);
    start[n] = 0x110000;
    long bad = 0;
    for (int r = 0; r < n; r++)
        for (uint32_t cp = start[r]; cp < start[r + 1]; cp++) {
            if (cp >= 0xD800 && cp < 0xE000) continue;
            int got = dsq_bpe_class(cp);
            if (got != cls[r]) {
                if (bad < 5) fprintf(stderr, "  U+%04X: class %d, regex %d\n", cp, got, cls[r]);
                bad++;
            }
        }
    EXPECT(bad == 0, "%ld code points classified unlike the regex module", bad);
    free(buf);
}

static void test_hard_cases(void) {
    char *buf = fix_read(BPE_DIR "hard.jsonl", NULL), *cur = buf, *line;
    EXPECT(buf != NULL, "hard.jsonl");
    dsq_ids got = {0}, want = {0};
    int n = 0;
    while (buf && (line = fix_line(&cur))) {
        json_t *o = json_loads(line, JSON_ALLOW_NUL, NULL);
        EXPECT(o != NULL, "hard.jsonl: unparsable line %d", n + 1);
        if (!o) continue;
        long cs = (long)json_integer_value(json_object_get(o, "case"));
        n++;
        for (int k = 0; k < 2; k++) {
            dsq_err e = {0};
            got.n = 0;
            if (json_object_get(o, "hex")) {
                const char *hx = json_string_value(json_object_get(o, "hex"));
                size_t bl = strlen(hx) / 2;
                char raw[256], msg[64];
                for (size_t i = 0; i < bl; i++) sscanf(hx + 2 * i, "%2hhx", (unsigned char *)&raw[i]);
                int rc = dsq_tokenizer_encode(tk[k], raw, bl, &got, &e);
                snprintf(msg, sizeof msg, "invalid UTF-8 at byte %ld",
                         (long)json_integer_value(json_object_get(o, "error_at")));
                EXPECT(rc == DSQ_EDATA && strstr(e.msg, msg) && got.n == 0,
                       "case %ld %s: rc %d msg '%s' want '%s'", cs, tk_name[k], rc, e.msg, msg);
                continue;
            }
            json_t *tx = json_object_get(o, "text");
            int rc = dsq_tokenizer_encode(tk[k], json_string_value(tx), json_string_length(tx),
                                          &got, &e);
            EXPECT(rc == 0, "case %ld: %s", cs, e.msg);
            fix_ids(json_object_get(o, tk_name[k]), &want);
            char what[128];
            snprintf(what, sizeof what, "hard case %ld (%s)", cs, tk_name[k]);
            EXPECT(cmp(what, &got, &want), "%s", what);
        }
        json_decref(o);
    }
    EXPECT(n >= 140, "only %d hard cases", n);
    dsq_ids_free(&got);
    dsq_ids_free(&want);
    free(buf);
}

/* The fixture's records with their texts from data/. */
typedef struct {
    size_t n;
    char **text;
    size_t *len;
    json_t **want;  /* [2n]: roberta, deberta */
} dataset;

static void data_free(dataset *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->text[i]);
        json_decref(d->want[2 * i]);
        json_decref(d->want[2 * i + 1]);
    }
    free(d->text);
    free(d->len);
    free(d->want);
}

static int data_load(dataset *d) {
    memset(d, 0, sizeof *d);
    char *buf = fix_read(BPE_DIR "data.jsonl.zst", NULL), *cur = buf, *line;
    if (!buf) return 0;
    char cur_set[64] = "";
    char *dbuf = NULL, *dcur = NULL;
    long dline = 0;
    json_t *row = NULL;
    size_t cap = 0;
    int ok = 1;
    while ((line = fix_line(&cur))) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) { ok = 0; break; }
        const char *set = json_string_value(json_object_get(o, "set"));
        long ln = (long)json_integer_value(json_object_get(o, "line"));
        const char *field = json_string_value(json_object_get(o, "field"));
        if (strcmp(set, cur_set) != 0) {
            free(dbuf);
            char path[128];
            snprintf(path, sizeof path, "data/%s.jsonl", set);
            dcur = dbuf = fix_read(path, NULL);
            snprintf(cur_set, sizeof cur_set, "%s", set);
            dline = 0;
        }
        while (dbuf && dline < ln) {
            char *l = fix_line(&dcur);
            if (!l) break;
            json_decref(row);
            row = json_loads(l, 0, NULL);
            dline++;
        }
        json_t *tx = row ? json_object_get(row, field) : NULL;
        if (dline != ln || !json_is_string(tx)) {
            fprintf(stderr, "  data/%s.jsonl:%ld: no %s field\n", set, ln, field);
            json_decref(o);
            ok = 0;
            break;
        }
        if (d->n == cap) {
            cap = cap ? 2 * cap : 1024;
            d->text = xrealloc(d->text, cap * sizeof *d->text);
            d->len = xrealloc(d->len, cap * sizeof *d->len);
            d->want = xrealloc(d->want, 2 * cap * sizeof *d->want);
        }
        d->len[d->n] = json_string_length(tx);
        d->text[d->n] = xmalloc(d->len[d->n] + 1);
        memcpy(d->text[d->n], json_string_value(tx), d->len[d->n] + 1);
        d->want[2 * d->n] = json_incref(json_object_get(o, "roberta"));
        d->want[2 * d->n + 1] = json_incref(json_object_get(o, "deberta"));
        d->n++;
        json_decref(o);
    }
    json_decref(row);
    free(dbuf);
    free(buf);
    return ok;
}

static dataset data;

/* Every text on `threads` threads; returns the number of mismatches. */
static long check_data(int threads) {
    long bad = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16) reduction(+ : bad)
    for (size_t i = 0; i < data.n; i++) {
        dsq_ids got = {0}, want = {0};
        for (int k = 0; k < 2; k++) {
            dsq_err e = {0};
            got.n = 0;
            fix_ids(data.want[2 * i + (size_t)k], &want);
            if (dsq_tokenizer_encode(tk[k], data.text[i], data.len[i], &got, &e) ||
                !ids_equal(&got, &want)) {
#pragma omp critical
                if (bad < 5) {
                    char what[160];
                    snprintf(what, sizeof what, "text %zu (%s) '%.60s'", i, tk_name[k],
                             data.text[i]);
                    cmp(what, &got, &want);
                }
                bad++;
            }
        }
        dsq_ids_free(&got);
        dsq_ids_free(&want);
    }
    return bad;
}

static void test_datasets(void) {
    EXPECT(data.n > 18000, "data.jsonl.zst: %zu texts", data.n);
    long bad = check_data(1);
    EXPECT(bad == 0, "%ld of %zu texts differ from transformers", bad, 2 * data.n);
}

/* A fresh pair of tokenizers (empty caches) on 4 threads. */
static void test_threads(void) {
    dsq_err e = {0};
    dsq_tokenizer *keep[2] = {tk[0], tk[1]};
    tk[0] = load(0, &e);
    tk[1] = load(1, &e);
    EXPECT(tk[0] && tk[1], "reload: %s", e.msg);
    if (tk[0] && tk[1]) {
        long bad = check_data(4);
        EXPECT(bad == 0, "%ld texts differ on 4 threads", bad);
        EXPECT(strcmp(dsq_tokenizer_digest(tk[0]), dsq_tokenizer_digest(keep[0])) == 0, "digest");
    }
    dsq_tokenizer_free(tk[0]);
    dsq_tokenizer_free(tk[1]);
    tk[0] = keep[0];
    tk[1] = keep[1];
}

static void test_api(void) {
    EXPECT(dsq_tokenizer_kind(tk[0]) == DSQ_TOK_BPE, "kind");
    EXPECT(strcmp(dsq_tokenizer_kind_name(DSQ_TOK_BPE), "bpe") == 0, "kind name");
    EXPECT(strcmp(dsq_tokenizer_digest(tk[0]), dsq_tokenizer_digest(tk[1])) != 0, "digests");
    dsq_special_ids r = dsq_tokenizer_specials(tk[0]), d = dsq_tokenizer_specials(tk[1]);
    EXPECT(r.start == 0 && r.pad == 1 && r.end == 2 && r.unk == 3, "roberta specials");
    EXPECT(d.start == 0 && d.pad == 1 && d.end == 2 && d.unk == 3, "deberta specials");
    EXPECT(dsq_tokenizer_vocab_size(tk[0]) == 2000, "vocab size %d",
           (int)dsq_tokenizer_vocab_size(tk[0]));
    dsq_str s = {0};
    dsq_err e = {0};
    int32_t ids[2] = {0, 2};
    EXPECT(dsq_tokenizer_decode(tk[0], ids, 2, DSQ_JOIN_MODERN, &s, &e) == DSQ_EDATA,
           "decode is refused");
    dsq_str_free(&s);
}

/* Writes name in a temporary directory with the fixture's other file. */
static int load_err(const char *vocab, const char *merges, const char *want) {
    char dir[] = "/tmp/dsq-bpe-XXXXXX";
    if (!mkdtemp(dir)) return 0;
    char v[64], m[64];
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    FILE *f = fopen(v, "w");
    fputs(vocab, f);
    fclose(f);
    f = fopen(m, "w");
    fputs(merges, f);
    fclose(f);
    dsq_bpe_opts o = {"<s>", "</s>", NULL, NULL, NULL, 1};
    dsq_tokenizer *t = NULL;
    dsq_err e = {0};
    int rc = dsq_tokenizer_load_bpe(&t, v, m, &o, &e);
    int ok = rc == DSQ_EDATA && t == NULL && strstr(e.msg, want) != NULL;
    if (!ok) fprintf(stderr, "  rc %d msg '%s', want '%s'\n", rc, e.msg, want);
    dsq_tokenizer_free(t);
    unlink(v);
    unlink(m);
    rmdir(dir);
    return ok;
}

static void test_bad_files(void) {
    const char *okv = "{\"<s>\":0,\"</s>\":1,\"a\":2,\"b\":3,\"ab\":4}";
    const char *okm = "#version: 0.2\na b\n";
    EXPECT(load_err("[1,2]", okm, "not a non-empty JSON object"), "array");
    EXPECT(load_err("{\"<s>\":0,\"</s>\":", okm, "vocab.json:1:"), "truncated");
    EXPECT(load_err("{\"<s>\":0,\"</s>\":-1}", okm, "id must be an integer"), "negative");
    EXPECT(load_err("{\"<s>\":0,\"</s>\":99999999}", okm, "id must be an integer"), "huge");
    EXPECT(load_err("{\"<s>\":0,\"</s>\":0}", okm, "share id 0"), "shared id");
    EXPECT(load_err("{\"<s>\":0,\"x\":1}", okm, "</s> is not in the vocabulary"), "no sep");
    EXPECT(load_err(okv, "#version: 0.2\na  b\n", "merges.txt:2: a merge is two symbols"),
           "two spaces");
    EXPECT(load_err(okv, "a b c\n", "merges.txt:1:"), "three symbols");
    EXPECT(load_err(okv, "a b\nb a\na b\n", "merges.txt:3: duplicate merge"), "duplicate");
    EXPECT(load_err(okv, "a \xff\n", "invalid UTF-8"), "invalid UTF-8");
    dsq_tokenizer *t = NULL;
    dsq_err e = {0};
    dsq_bpe_opts o = {"<s>", "</s>", NULL, NULL, NULL, 0};
    EXPECT(dsq_tokenizer_load_bpe(&t, "/nonexistent/vocab.json", BPE_DIR "roberta/merges.txt",
                                  &o, &e) == DSQ_EIO && strstr(e.msg, "/nonexistent/vocab.json"),
           "missing vocab: %s", e.msg);
}

int main(void) {
    dsq_err e = {0};
    tk[0] = load(0, &e);
    tk[1] = tk[0] ? load(1, &e) : NULL;
    if (!tk[0] || !tk[1]) {
        printf("FAIL bpe_load: %s\n", e.msg);
        return 1;
    }
    if (!data_load(&data)) {
        printf("FAIL bpe_data: tests/fixtures/bpe/data.jsonl.zst unreadable\n");
        return 1;
    }
    RUN_TEST(test_api);
    RUN_TEST(test_classes);
    RUN_TEST(test_hard_cases);
    RUN_TEST(test_datasets);
    RUN_TEST(test_threads);
    RUN_TEST(test_bad_files);
    data_free(&data);
    dsq_tokenizer_free(tk[0]);
    dsq_tokenizer_free(tk[1]);
    TEST_MAIN_END();
}

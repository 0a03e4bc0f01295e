/* DiffuSeq's custom word-level vocabulary: the word list built from
 * iwslt14 equals the Python re-statement's (Counter.most_common), and the
 * ids and decodes of every iwslt14 line with that list equal DiffuSeq's
 * encode_token / decode_token. */
#include "check.h"
#include "tokfix.h"
#include "wordvocab.h"

static char *iwslt;            /* iwslt14/train.jsonl */
static char *built;            /* the list dsq builds, min_count 1 */
static size_t built_n;

/* Counts src then trg of every line, writes the list with min_count. */
static char *build(long min_count, size_t *n) {
    dsq_wordcount *w = dsq_wordcount_new();
    char *copy = xstrdup(iwslt), *cur = copy, *line;
    while ((line = fix_line(&cur))) {
        json_t *o = json_loads(line, 0, NULL);
        dsq_err e = {0};
        const char *f[2] = {"src", "trg"};
        for (int k = 0; k < 2; k++) {
            json_t *s = json_object_get(o, f[k]);
            EXPECT(dsq_wordcount_add(w, json_string_value(s), json_string_length(s), &e) == 0, "%s", e.msg);
        }
        json_decref(o);
    }
    char *out = NULL;
    FILE *m = open_memstream(&out, n);
    size_t written = 0;
    dsq_err e = {0};
    EXPECT(dsq_wordcount_write(w, m, "mem", min_count, &written, &e) == 0, "%s", e.msg);
    fclose(m);
    EXPECT(written > 0 && written <= dsq_wordcount_distinct(w), "written %zu", written);
    dsq_wordcount_free(w);
    free(copy);
    return out;
}

static void test_build_list(void) {
    size_t wn;
    char *want = fix_read(FIX_DIR "words_iwslt14.txt.zst", &wn);
    built = build(1, &built_n);
    EXPECT(want && built_n == wn && memcmp(built, want, wn) == 0, "word list differs (%zu vs %zu bytes)", built_n, wn);
    if (want && (built_n != wn || memcmp(built, want, wn) != 0)) {
        size_t i = 0, line = 1;
        while (i < wn && i < built_n && built[i] == want[i]) line += built[i++] == '\n';
        fprintf(stderr, "  first difference at line %zu\n", line);
    }
    free(want);
    /* min_count 2 against the digest */
    size_t n2;
    char *l2 = build(2, &n2), hex[65], *dg = fix_read(FIX_DIR "digest.txt", NULL);
    dsq_sha256_of(l2, n2, hex);
    EXPECT(dg && strstr(dg, hex), "min_count 2 list digest %s", hex);
    free(l2);
    free(dg);
}

static void test_iwslt_ids(void) {
    dsq_tokenizer *t;
    dsq_err e = {0};
    EXPECT(built && dsq_tokenizer_load_mem(&t, built, built_n, "built", DSQ_TOK_WORD, &e) == 0, "%s", e.msg);
    if (!built || e.code) return;
    char *fix = fix_read(FIX_DIR "word_iwslt14.txt.zst", NULL), *fc = fix, *fl;
    char *copy = xstrdup(iwslt), *dc = copy, *dl;
    dsq_ids a = {0}, b = {0};
    dsq_str txt = {0}, da = {0}, db = {0};
    long line = 0, bad = 0;
    while (fix && (dl = fix_line(&dc)) && (fl = fix_line(&fc))) {
        line++;
        json_t *o = json_loads(dl, 0, NULL);
        json_t *s = json_object_get(o, "src"), *g = json_object_get(o, "trg");
        a.n = b.n = 0;
        dsq_tokenizer_encode(t, json_string_value(s), json_string_length(s), &a, &e);
        dsq_tokenizer_encode(t, json_string_value(g), json_string_length(g), &b, &e);
        txt.n = 0;
        char num[16];
        for (size_t i = 0; i < a.n; i++) { int k = snprintf(num, sizeof num, i ? " %d" : "%d", a.ids[i]); dsq_str_append(&txt, num, (size_t)k); }
        dsq_str_append(&txt, "\t", 1);
        for (size_t i = 0; i < b.n; i++) { int k = snprintf(num, sizeof num, i ? " %d" : "%d", b.ids[i]); dsq_str_append(&txt, num, (size_t)k); }
        char h1[9], h2[9], w1[16], w2[16];
        long fline;
        h8(txt.s, txt.n, h1);
        dsq_tokenizer_decode(t, a.ids, a.n, DSQ_JOIN_MODERN, &da, &e);
        dsq_tokenizer_decode(t, b.ids, b.n, DSQ_JOIN_MODERN, &db, &e);
        dsq_str both = {0};
        dsq_str_append(&both, da.s, da.n);
        dsq_str_append(&both, "", 1);
        dsq_str_append(&both, db.s, db.n);
        h8(both.s, both.n, h2);
        dsq_str_free(&both);
        if (sscanf(fl, "%ld %15s %15s", &fline, w1, w2) != 3 || fline != line || strcmp(h1, w1) || strcmp(h2, w2)) {
            if (bad < 10)
                fprintf(stderr, "  iwslt14/train.jsonl:%ld word ids or decodes differ from DiffuSeq's\n    ids %s\n    dec %s | %s\n",
                        line, txt.s, da.s, db.s);
            bad++;
        }
        json_decref(o);
    }
    EXPECT(bad == 0, "%ld lines differ", bad);
    EXPECT(line == 7283, "%ld lines", line);
    dsq_ids_free(&a); dsq_ids_free(&b);
    dsq_str_free(&txt); dsq_str_free(&da); dsq_str_free(&db);
    free(copy); free(fix);
    dsq_tokenizer_free(t);
}

static void test_word_rules(void) {
    const char *v = "a@@\nb__\nc\n[x]\n";
    dsq_tokenizer *t;
    dsq_err e = {0};
    EXPECT(dsq_tokenizer_load_mem(&t, v, strlen(v), "v", DSQ_TOK_WORD, &e) == 0, "%s", e.msg);
    if (e.code) return;
    dsq_ids ids = {0};
    /* Python split: \x1c and NBSP separate, no case folding, [x] a word */
    const char *text = " a@@\x1c" "c\xc2\xa0" "C [x]\t\n";
    EXPECT(dsq_tokenizer_encode(t, text, strlen(text), &ids, &e) == 0, "%s", e.msg);
    int32_t want[] = {0, 4, 6, 2, 7, 1};
    EXPECT(ids.n == 6 && memcmp(ids.ids, want, sizeof want) == 0, "ids (%zu)", ids.n);
    dsq_str s = {0};
    int32_t d[] = {0, 4, 6, 5, 6, 4, 3, 6, 3, 3};
    EXPECT(dsq_tokenizer_decode(t, d, 10, DSQ_JOIN_LEGACY, &s, &e) == 0, "%s", e.msg);
    EXPECT(strcmp(s.s, "[START] ac bc a[PAD] c") == 0, "'%s'", s.s);
    ids.n = 0;
    EXPECT(dsq_tokenizer_encode(t, "", 0, &ids, &e) == 0 && ids.n == 2, "empty");
    dsq_wordcount *w = dsq_wordcount_new();
    EXPECT(dsq_wordcount_add(w, "ok \xe2\x82", 6, &e) == DSQ_EDATA && strstr(e.msg, "byte 4"), "%s", e.msg);
    EXPECT(dsq_wordcount_distinct(w) == 0, "nothing counted");
    dsq_wordcount_add(w, "b a [UNK] b c c [PAD]", 21, &e);
    char *out = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&out, &n);
    size_t wr;
    dsq_wordcount_write(w, m, "mem", 1, &wr, &e);
    fclose(m);
    EXPECT(strcmp(out, "b 2\nc 2\na 1\n") == 0 && wr == 3, "'%s'", out);
    free(out);
    dsq_wordcount_free(w);
    dsq_ids_free(&ids);
    dsq_str_free(&s);
    dsq_tokenizer_free(t);
}

int main(void) {
    iwslt = fix_read("data/iwslt14/train.jsonl", NULL);
    if (!iwslt) { printf("FAIL setup: no iwslt14 data\n"); return 1; }
    RUN_TEST(test_build_list);
    RUN_TEST(test_iwslt_ids);
    RUN_TEST(test_word_rules);
    free(built);
    free(iwslt);
    TEST_MAIN_END();
}

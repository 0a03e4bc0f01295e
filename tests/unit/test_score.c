/* lib/metrics/score.c and lib/metrics/mbr.c pieces that the CLI tests reach only
 * indirectly: selectBest's tie rule and direction, self-BLEU's direction,
 * input lists, number printing. The figures themselves are checked
 * against the re-stated evaluation script in tests/checks/score_oracle.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "decfile.h"
#include "mbr.h"
#include "report.h"

/* One n-gram context for every sentence of these tests (never reset). */
static dsq_ngram_ctx *ctx;

static dsq_bleu_sent *prep(const char *s) {
    dsq_tokens t = {0};
    if (!ctx) ctx = dsq_ngram_ctx_new();
    dsq_split_ws(s, strlen(s), &t);
    dsq_bleu_sent *p = dsq_bleu_prepare(ctx, &t);
    dsq_tokens_free(&t);
    return p;
}

static size_t select3(const char *a, const char *b, const char *c) {
    dsq_bleu_sent *p[3] = {prep(a), prep(b), prep(c)};
    double work[9];
    size_t r = dsq_mbr_select_bleu(p, 3, work);
    for (int i = 0; i < 3; i++) dsq_bleu_sent_free(p[i]);
    return r;
}

static void test_select_ties_and_k1(void) {
    const char *cat = "the cat sat on the mat", *dog = "dogs run very fast today";
    EXPECT(select3(cat, cat, cat) == 0, "all equal: first");
    EXPECT(select3(dog, cat, cat) == 1, "two equal rows: the first of them");
    EXPECT(select3(cat, dog, cat) == 0, "two equal rows: the first of them");
    dsq_bleu_sent *p = prep(cat);
    double w[1];
    EXPECT(dsq_mbr_select_bleu(&p, 1, w) == 0, "k = 1");
    const char *s[1] = {cat};
    size_t l[1] = {strlen(cat)};
    EXPECT(dsq_mbr_select_rouge(s, l, 1, w) == 0, "k = 1 rouge");
    dsq_bleu_sent_free(p);
}

/* The winner maximises sum_b BLEU(hyp = c_b, ref = c_a) (the script's
 * get_bleu(c_a, c_b)). For these three the nltk-computed winner is 1, and
 * with the matrix transposed it would be 2. */
static void test_select_direction(void) {
    const char *c[3] = {"what is the best way to learn python", "how do i learn python fast",
                        "how can i learn python"};
    dsq_bleu_sent *p[3];
    for (int i = 0; i < 3; i++) p[i] = prep(c[i]);
    double row[3][3], sum[3];
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) row[a][b] = a == b ? 0 : dsq_sentence_bleu(p[b], p[a]);
        sum[a] = dsq_np_sum(row[a], 3);
    }
    size_t want = 0;
    for (size_t a = 1; a < 3; a++)
        if (sum[a] > sum[want]) want = a;
    double work[9];
    EXPECT(want == 1, "row sums pick %zu", want);
    EXPECT(dsq_mbr_select_bleu(p, 3, work) == 1, "winner");
    /* self-BLEU: pairs a < b, hypothesis c_b, reference c_a. */
    double sb = dsq_self_bleu(p, 3, work);
    double pairs[3] = {dsq_sentence_bleu(p[1], p[0]), dsq_sentence_bleu(p[2], p[0]),
                       dsq_sentence_bleu(p[2], p[1])};
    EXPECT(sb == dsq_np_mean(pairs, 3), "self-BLEU %.17g", sb);
    EXPECT(dsq_self_bleu(p, 1, work) == 0.0, "self-BLEU of one candidate");
    for (int i = 0; i < 3; i++) dsq_bleu_sent_free(p[i]);
}

static void touch(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
}

static void test_expand_inputs(void) {
    char dir[] = "/tmp/dsq-test-score-XXXXXX";
    if (!mkdtemp(dir)) {
        EXPECT(0, "mkdtemp");
        return;
    }
    const char *names[] = {"seed_2.json", "seed_10.json", "B.jsonl", "notes.txt", "x.jsonl.bak"};
    for (size_t i = 0; i < 5; i++) touch(dir, names[i]);
    char **v;
    size_t n;
    dsq_err e = {0};
    char *args[] = {"z.jsonl", dir, "a.jsonl"};
    EXPECT(dsq_expand_inputs(args, 3, 0, &v, &n, &e) == 0, "%s", e.msg);
    EXPECT(n == 5, "n = %zu", n);
    if (n == 5) {
        char want[512];
        EXPECT(strcmp(v[0], "z.jsonl") == 0, "%s", v[0]);
        snprintf(want, sizeof want, "%s/B.jsonl", dir);  /* byte order: upper case first */
        EXPECT(strcmp(v[1], want) == 0, "%s", v[1]);
        snprintf(want, sizeof want, "%s/seed_10.json", dir);  /* "1" < "2" */
        EXPECT(strcmp(v[2], want) == 0, "%s", v[2]);
        EXPECT(strcmp(v[4], "a.jsonl") == 0, "%s", v[4]);
    }
    dsq_free_inputs(v, n);
    EXPECT(dsq_expand_inputs(args, 3, 1, &v, &n, &e) == 0, "%s", e.msg);
    if (n == 5) {
        EXPECT(v[0][0] == '/', "sorted: %s", v[0]);
        EXPECT(strcmp(v[3], "a.jsonl") == 0 && strcmp(v[4], "z.jsonl") == 0, "%s %s", v[3], v[4]);
    }
    dsq_free_inputs(v, n);
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    mkdir(empty, 0700);
    char *eargs[] = {empty};
    EXPECT(dsq_expand_inputs(eargs, 1, 1, &v, &n, &e) == DSQ_EDATA, "empty dir");
    rmdir(empty);
    for (size_t i = 0; i < 5; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_put_double(void) {
    double xs[] = {0.1 + 0.2, 1.0 / 3.0, 0.0, 1.0, 5e-324, 0.2213885886251307, 11.32};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        char *buf;
        size_t len;
        FILE *f = open_memstream(&buf, &len);
        dsq_put_double(f, xs[i]);
        fclose(f);
        EXPECT(strtod(buf, NULL) == xs[i], "%s", buf);
        free(buf);
    }
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    dsq_put_double(f, INFINITY);
    putc(' ', f);
    dsq_put_double(f, NAN);
    fclose(f);
    EXPECT(strcmp(buf, "null null") == 0, "%s", buf);
    free(buf);
}

int main(void) {
    RUN_TEST(test_select_ties_and_k1);
    RUN_TEST(test_select_direction);
    RUN_TEST(test_expand_inputs);
    RUN_TEST(test_put_double);
    TEST_MAIN_END();
}

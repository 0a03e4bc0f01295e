/* Sentence BLEU, ROUGE-L, the script's text handling and numpy means
 * against the oracle fixtures (tests/oracles/gen_metric_fixtures.py):
 * every value bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bleu_internal.h"
#include "check.h"
#include "metrics.h"
#include "metrics_fixture.h"

/* The test vectors of doc/metrics.md §1, values as printed there. */
static void test_spec_vectors(void) {
    static const char *REF = "the cat sat on the mat";
    static const struct { const char *h, *r; double v; } t[] = {
        {"", NULL, 0.0},
        {"cat", NULL, 0.006737946999085467},
        {"hello", "hello", 1.0},
        {"the cat", "the cat", 0.2213885886251307},
        {"the cat sat", NULL, 0.21179545259066854},
        {"the the the the the the the", "the cat is on the mat", 0.03848196746087264},
        {"dogs run very fast", NULL, 0.0},
        {"the cat sat on the mat", NULL, 1.0},
        {"the cat sat on the mat today in the sun", NULL, 0.5169731539571706},
        {"mat the on sat cat the", NULL, 0.05883685791697665},
        {"hello , world !", "hello world !", 0.18616487055295167},
        {"  the  cat   sat on the  mat ", NULL, 1.0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *r = t[i].r ? t[i].r : REF;
        double got = dsq_sentence_bleu_str(t[i].h, strlen(t[i].h), r, strlen(r));
        EXPECT(same_bits(got, t[i].v), "vector %zu: got %.17g (%a), want %.17g", i + 1, got, got, t[i].v);
    }
}

static void test_fsum(void) {
    static const struct { double x[4]; int n; double want; } t[] = {
        {{1.0, 0x1.cd2b297d889bcp-54, 0x1.cd2b297d889bcp-54}, 3, 0x1.0000000000001p+0},
        {{0x1.999999999999ap-4, 0x1.999999999999ap-3, 0x1.3333333333333p-2, -0x1.3333333333333p-1}, 4, 0x1p-55},
        {{0x1.249ad2594c37dp+332, 1.0, -0x1.249ad2594c37dp+332, 0x1.bff2ee48e0530p-333}, 4, 1.0},
        {{1.0, 0x1p-53, 0x1p-105}, 3, 0x1.0000000000001p+0},  /* beyond the tie: up */
        {{1.0, 0x1p-53, -0x1p-105}, 3, 1.0},                  /* below the tie: down */
        {{1.0, 0x1p-53}, 2, 1.0},                              /* exact tie: to even */
        {{0}, 0, 0.0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        double got = dsq_fsum(t[i].x, t[i].n);
        EXPECT(same_bits(got, t[i].want), "case %zu: got %a want %a", i, got, t[i].want);
    }
}

/* All fixture pairs through dsq_sentence_bleu_str, bit for bit. */
static void bleu_fixture_pass(const char *what) {
    fixture fx;
    if (!fixture_open(&fx, "bleu_rouge.jsonl")) { EXPECT(0, "no fixture"); return; }
    json_t *v;
    long n = 0;
    while ((v = fixture_next(&fx))) {
        size_t hn, rn;
        const char *h = jstr(json_array_get(v, 0), &hn), *r = jstr(json_array_get(v, 1), &rn);
        double want = jhex(json_array_get(v, 2));
        double got = dsq_sentence_bleu_str(h, hn, r, rn);
        if (!same_bits(got, want) && check_failures_here < 10) {
            fprintf(stderr, "  %s line %ld: hyp=", what, fx.lineno);
            show(h, hn);
            fprintf(stderr, " ref=");
            show(r, rn);
            fputc('\n', stderr);
        }
        EXPECT(same_bits(got, want), "BLEU got %a (%.17g), nltk %a (%.17g)", got, got, want, want);
        json_decref(v);
        n++;
    }
    EXPECT(fixture_close(&fx) == 0, "zstd failed");
    EXPECT(n > 20000, "only %ld pairs", n);
}

static void test_bleu_fixture(void) { bleu_fixture_pass("bleu"); }

/* Forces hash collisions: with the mask at 0 every n-gram has the same
 * hash, so only the content comparison keeps n-grams apart. */
static void test_bleu_hash_collisions(void) {
    uint64_t masks[] = {0, 1, 0xff};
    for (size_t i = 0; i < 3; i++) {
        dsq_bleu_hash_mask = masks[i];
        bleu_fixture_pass(i == 0 ? "mask 0" : i == 1 ? "mask 1" : "mask 0xff");
    }
    dsq_bleu_hash_mask = ~(uint64_t)0;
}

/* Prepared sentences reused across a k x k matrix give the same numbers as
 * one-off calls, in both directions. */
static void test_bleu_prepared_matrix(void) {
    const char *c[] = {"what is the best way to learn ?", "what is the best way to learn", "the best way",
                       "how do i learn fast ?", "", "what is the the best way to learn learn ?", "x"};
    enum { K = 7 };
    dsq_tokens t[K];
    dsq_bleu_sent *p[K];
    dsq_ngram_ctx *ctx = dsq_ngram_ctx_new();
    for (int i = 0; i < K; i++) {
        memset(&t[i], 0, sizeof t[i]);
        dsq_split_ws(c[i], strlen(c[i]), &t[i]);
        p[i] = dsq_bleu_prepare(ctx, &t[i]);
        EXPECT(dsq_bleu_sent_len(p[i]) == t[i].n, "len");
    }
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) {
            double m = dsq_sentence_bleu(p[a], p[b]);
            double s = dsq_sentence_bleu_str(c[a], strlen(c[a]), c[b], strlen(c[b]));
            EXPECT(same_bits(m, s), "pair %d,%d: %a vs %a", a, b, m, s);
            double ab, ba;
            dsq_bleu_pair(p[a], p[b], &ab, &ba);
            EXPECT(same_bits(ab, m) && same_bits(ba, dsq_sentence_bleu(p[b], p[a])),
                   "dsq_bleu_pair %d,%d: %a %a", a, b, ab, ba);
        }
    for (int i = 0; i < K; i++)
        EXPECT(same_bits(dsq_distinct1_prepared(p[i]), dsq_distinct1(&t[i])), "dist-1 of %d", i);
    for (int k = 1; k <= K; k++)
        EXPECT(same_bits(dsq_div4_prepared(p, k), dsq_div_n(t, k, 4)), "div-4 of %d: %a vs %a", k,
               dsq_div4_prepared(p, k), dsq_div_n(t, k, 4));
    for (int i = 0; i < K; i++) { dsq_bleu_sent_free(p[i]); dsq_tokens_free(&t[i]); }
    dsq_ngram_ctx_free(ctx);
}

static void test_rouge_fixture(void) {
    fixture fx;
    if (!fixture_open(&fx, "bleu_rouge.jsonl")) { EXPECT(0, "no fixture"); return; }
    json_t *v;
    while ((v = fixture_next(&fx))) {
        size_t hn, rn;
        const char *h = jstr(json_array_get(v, 0), &hn), *r = jstr(json_array_get(v, 1), &rn);
        double want = jhex(json_array_get(v, 3));
        double got = dsq_rouge_l_str(h, hn, r, rn);
        if (!same_bits(got, want) && check_failures_here < 10) {
            fprintf(stderr, "  line %ld: hyp=", fx.lineno);
            show(h, hn);
            fprintf(stderr, " ref=");
            show(r, rn);
            fputc('\n', stderr);
        }
        EXPECT(same_bits(got, want), "ROUGE-L got %a, torchmetrics %a", got, want);
        /* F is symmetric to the bit: 2PR and P+R commute. */
        double sym = dsq_rouge_l_str(r, rn, h, hn);
        EXPECT(same_bits(got, sym), "ROUGE-L not symmetric: %a vs %a", got, sym);
        json_decref(v);
    }
    EXPECT(fixture_close(&fx) == 0, "zstd failed");
}

static void test_text_fixture(void) {
    fixture fx;
    if (!fixture_open(&fx, "text.jsonl")) { EXPECT(0, "no fixture"); return; }
    json_t *v;
    dsq_tokens t = {0};
    long n = 0;
    while ((v = fixture_next(&fx))) {
        size_t sn, en;
        const char *s = jstr(json_object_get(v, "s"), &sn);
        json_t *mk = json_object_get(v, "markers");
        dsq_markers m = {json_string_value(json_array_get(mk, 0)), json_string_value(json_array_get(mk, 1)),
                         json_string_value(json_array_get(mk, 2)), json_string_value(json_array_get(mk, 3))};
        const char *e = jstr(json_object_get(v, "strip"), &en);
        dsq_span st = dsq_py_strip(s, sn);
        EXPECT(st.len == en && memcmp(st.s, e, en) == 0, "line %ld: strip", fx.lineno);

        json_t *sp = json_object_get(v, "split");
        dsq_split_ws(s, sn, &t);
        int ok = t.n == json_array_size(sp);
        for (size_t i = 0; ok && i < t.n; i++) {
            size_t wl;
            const char *w = jstr(json_array_get(sp, i), &wl);
            ok = t.tok[i].len == wl && memcmp(t.tok[i].s, w, wl) == 0;
        }
        EXPECT(ok, "line %ld: split gives %zu tokens, Python %zu", fx.lineno, t.n, json_array_size(sp));

        size_t f = (size_t)json_integer_value(json_object_get(v, "fields"));
        EXPECT(dsq_count_space_fields(s, sn) == f, "line %ld: fields %zu vs %zu", fx.lineno,
               dsq_count_space_fields(s, sn), f);

        static const char *names[] = {"source", "reference", "recover"};
        for (int k = 0; k < 3; k++) {
            size_t cl, wl;
            char *c = dsq_clean(s, sn, (dsq_clean_field)k, &m, &cl);
            const char *w = jstr(json_object_get(v, names[k]), &wl);
            EXPECT(cl == wl && memcmp(c, w, wl) == 0 && c[cl] == '\0', "line %ld: clean %s: got \"%s\" want \"%s\"",
                   fx.lineno, names[k], c, w);
            free(c);
        }
        double d = dsq_distinct1(&t), wd = jhex(json_object_get(v, "dist1"));
        EXPECT(same_bits(d, wd), "line %ld: dist1 %a vs %a", fx.lineno, d, wd);
        json_decref(v);
        n++;
    }
    dsq_tokens_free(&t);
    EXPECT(fixture_close(&fx) == 0, "zstd failed");
    EXPECT(n > 3000, "only %ld cases", n);
    /* The default markers and the example of doc/metrics.md §0. */
    size_t cl;
    char *c = dsq_clean("[CLS] the cat sat [SEP]", 23, DSQ_CLEAN_RECOVER, NULL, &cl);
    EXPECT(strcmp(c, " the cat sat ") == 0 && cl == 13, "cleaning example: \"%s\"", c);
    free(c);
    EXPECT(dsq_count_space_fields(" the cat sat ", 13) == 5 && dsq_count_space_fields("", 0) == 1, "fields");
}

static void test_divn_fixture(void) {
    fixture fx;
    if (!fixture_open(&fx, "divn.jsonl")) { EXPECT(0, "no fixture"); return; }
    json_t *v;
    while ((v = fixture_next(&fx))) {
        json_t *c = json_object_get(v, "cands");
        size_t k = json_array_size(c);
        dsq_tokens t[8];
        memset(t, 0, sizeof t);
        for (size_t i = 0; i < k; i++) {
            size_t l;
            const char *s = jstr(json_array_get(c, i), &l);
            dsq_split_ws(s, l, &t[i]);
        }
        int n = (int)json_integer_value(json_object_get(v, "n"));
        double got = dsq_div_n(t, k, n), want = jhex(json_object_get(v, "div"));
        EXPECT(same_bits(got, want), "line %ld: div-%d %a vs %a", fx.lineno, n, got, want);
        for (size_t i = 0; i < k; i++) dsq_tokens_free(&t[i]);
        json_decref(v);
    }
    EXPECT(fixture_close(&fx) == 0, "zstd failed");
}

static void test_means_fixture(void) {
    fixture fx;
    if (!fixture_open(&fx, "means.jsonl")) { EXPECT(0, "no fixture"); return; }
    json_t *v;
    long n_means = 0, n_rows = 0;
    while ((v = fixture_next(&fx))) {
        int kind = (int)json_integer_value(json_object_get(v, "kind"));
        splitmix g = {(uint64_t)json_integer_value(json_object_get(v, "seed"))};
        if (json_object_get(v, "n")) {
            size_t n = (size_t)json_integer_value(json_object_get(v, "n"));
            double *x = malloc(n * sizeof *x);
            for (size_t i = 0; i < n; i++) x[i] = sm_value(&g, kind);
            double m = dsq_np_mean(x, n), s = dsq_np_sum(x, n);
            double wm = jhex(json_object_get(v, "mean")), ws = jhex(json_object_get(v, "sum"));
            EXPECT(same_bits(m, wm), "kind %d n %zu: mean %a, numpy %a", kind, n, m, wm);
            EXPECT(same_bits(s, ws), "kind %d n %zu: sum %a, numpy %a", kind, n, s, ws);
            free(x);
            n_means++;
        } else {
            size_t k = (size_t)json_integer_value(json_object_get(v, "rows"));
            json_t *rs = json_object_get(v, "rowsums");
            double *mtx = malloc(k * k * sizeof *mtx);
            for (size_t i = 0; i < k * k; i++) mtx[i] = sm_value(&g, kind);
            size_t best = 0;
            double bestv = -INFINITY;
            for (size_t i = 0; i < k; i++) {
                mtx[i * k + i] = 0.0;
                double s = dsq_np_sum(mtx + i * k, k), w = jhex(json_array_get(rs, i));
                EXPECT(same_bits(s, w), "%zux%zu row %zu: %a vs numpy %a", k, k, i, s, w);
                if (s > bestv) { bestv = s; best = i; }  /* first index on ties */
            }
            EXPECT(best == (size_t)json_integer_value(json_object_get(v, "argmax")), "argmax %zu", best);
            free(mtx);
            n_rows++;
        }
        json_decref(v);
    }
    EXPECT(fixture_close(&fx) == 0, "zstd failed");
    EXPECT(n_means >= 2000 && n_rows > 40, "%ld means, %ld matrices", n_means, n_rows);
    EXPECT(isnan(dsq_np_mean(NULL, 0)) && dsq_np_sum(NULL, 0) == 0.0, "empty");
}

/* Not a check: the figure for the report (MBR's 2,500 x 10 x 10 pairs). */
static void test_bleu_speed(void) {
    fixture fx;
    if (!fixture_open(&fx, "bleu_rouge.jsonl")) { EXPECT(0, "no fixture"); return; }
    enum { K = 10, N = 2500 };
    json_t **line = malloc(sizeof *line * N * K);
    size_t nlines = 0;
    json_t *v;
    while (nlines < N * K / 2 && (v = fixture_next(&fx))) line[nlines++] = v;
    fixture_close(&fx);
    /* Per example: reset the context, prepare K sentences, K x K BLEU. */
    dsq_ngram_ctx *ctx = dsq_ngram_ctx_new();
    dsq_bleu_sent *p[K];
    dsq_tokens t = {0};
    double acc = 0, t_prep = 0, t_bleu = 0;
    size_t got = 0;
    for (size_t e = 0; e + K / 2 <= nlines; e += K / 2) {
        struct timespec t0, t1, t2;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        dsq_ngram_ctx_reset(ctx);
        for (int i = 0; i < K; i++) {
            size_t l;
            const char *s = jstr(json_array_get(line[e + i / 2], i % 2), &l);
            dsq_split_ws(s, l, &t);
            p[i] = dsq_bleu_prepare(ctx, &t);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++) acc += dsq_sentence_bleu(p[b], p[a]);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        t_prep += (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
        t_bleu += (t2.tv_sec - t1.tv_sec) + 1e-9 * (t2.tv_nsec - t1.tv_nsec);
        for (int i = 0; i < K; i++) dsq_bleu_sent_free(p[i]);
        got += K;
    }
    fprintf(stderr, "  info: %zu BLEU pairs in %.3f s (%.0f pairs/s); prepare %.3f s; checksum %.6f\n",
            got * K, t_bleu, got * K / t_bleu, t_prep, acc);
    for (size_t i = 0; i < nlines; i++) json_decref(line[i]);
    free(line);
    dsq_tokens_free(&t);
    dsq_ngram_ctx_free(ctx);
    EXPECT(got == K * N, "fixture too small");
}

int main(void) {
    RUN_TEST(test_spec_vectors);
    RUN_TEST(test_fsum);
    RUN_TEST(test_bleu_fixture);
    RUN_TEST(test_bleu_hash_collisions);
    RUN_TEST(test_bleu_prepared_matrix);
    RUN_TEST(test_rouge_fixture);
    RUN_TEST(test_text_fixture);
    RUN_TEST(test_divn_fixture);
    RUN_TEST(test_means_fixture);
    RUN_TEST(test_bleu_speed);
    TEST_MAIN_END();
}

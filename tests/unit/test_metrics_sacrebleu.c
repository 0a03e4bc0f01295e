/* sacreBLEU 2.6.0 parity: the 13a tokenizer string for string, corpus
 * BLEU and chrF within 1e-9 (on the 0..100 scale), the exact statistics and
 * the signature strings (tests/oracles/gen_metric_fixtures.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bleu_internal.h"
#include "check.h"
#include "metrics.h"
#include "metrics_fixture.h"

static void test_tok13a_fixture(void) {
    fixture fx;
    if (!fixture_open(&fx, "tok13a.jsonl")) { EXPECT(0, "no fixture"); return; }
    json_t *v;
    long n = 0;
    while ((v = fixture_next(&fx))) {
        size_t sn, wn, gn;
        const char *s = jstr(json_object_get(v, "s"), &sn);
        const char *w = jstr(json_object_get(v, "tok"), &wn);
        char *g = dsq_tokenize_13a(s, sn, &gn);
        if (!(gn == wn && memcmp(g, w, wn) == 0) && check_failures_here < 10) {
            fprintf(stderr, "  line %ld: input ", fx.lineno);
            show(s, sn);
            fprintf(stderr, "\n    got  ");
            show(g, gn);
            fprintf(stderr, "\n    want ");
            show(w, wn);
            fputc('\n', stderr);
        }
        EXPECT(gn == wn && memcmp(g, w, wn) == 0, "13a tokenization differs (line %ld)", fx.lineno);
        free(g);
        json_decref(v);
        n++;
    }
    EXPECT(fixture_close(&fx) == 0, "zstd failed");
    EXPECT(n > 3000, "only %ld cases", n);
}

typedef struct {
    char **s;
    size_t *len, n, cap;
} strvec;

static void sv_push(strvec *v, const char *s, size_t len) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->s = realloc(v->s, v->cap * sizeof *v->s);
        v->len = realloc(v->len, v->cap * sizeof *v->len);
    }
    v->s[v->n] = malloc(len + 1);
    memcpy(v->s[v->n], s, len);
    v->s[v->n][len] = '\0';
    v->len[v->n++] = len;
}

static void sv_free(strvec *v) {
    for (size_t i = 0; i < v->n; i++) free(v->s[i]);
    free(v->s);
    free(v->len);
}

/* The hyp and ref fields of a shipped data file (data/..., relative to the
 * repository root, where tests/run starts every test). */
static int load_data(json_t *d, strvec *h, strvec *r) {
    char path[1024];
    snprintf(path, sizeof path, "data/%s", json_string_value(json_object_get(d, "file")));
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "  cannot open %s (run from the repository root)\n", path); return 0; }
    const char *hk = json_string_value(json_object_get(d, "hyp")), *rk = json_string_value(json_object_get(d, "ref"));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)n, 0, NULL);
        if (!o) continue;
        size_t l;
        const char *s = jstr(json_object_get(o, hk), &l);
        sv_push(h, s, l);
        s = jstr(json_object_get(o, rk), &l);
        sv_push(r, s, l);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 1;
}

static void test_corpus_fixture(void) {
    fixture fx;
    if (!fixture_open(&fx, "sacrebleu.jsonl")) { EXPECT(0, "no fixture"); return; }
    json_t *v;
    long n = 0;
    while ((v = fixture_next(&fx))) {
        const char *name = json_string_value(json_object_get(v, "name"));
        strvec h = {0}, r = {0};
        json_t *d = json_object_get(v, "data");
        if (d) {
            EXPECT(load_data(d, &h, &r), "%s: data file missing", name);
        } else {
            json_t *hs = json_object_get(v, "hyps"), *rs = json_object_get(v, "refs");
            for (size_t i = 0; i < json_array_size(hs); i++) {
                size_t l;
                const char *s = jstr(json_array_get(hs, i), &l);
                sv_push(&h, s, l);
                s = jstr(json_array_get(rs, i), &l);
                sv_push(&r, s, l);
            }
        }
        dsq_sacrebleu b;
        dsq_corpus_bleu_13a((const char *const *)h.s, h.len, (const char *const *)r.s, r.len, h.n, &b);
        double wb = json_real_value(json_object_get(v, "bleu"));
        EXPECT(fabs(b.score - wb) <= 1e-9, "%s: BLEU %.15g, sacrebleu %.15g", name, b.score, wb);
        EXPECT(b.sys_len == json_integer_value(json_object_get(v, "sys_len")) &&
                   b.ref_len == json_integer_value(json_object_get(v, "ref_len")),
               "%s: lengths %lld/%lld", name, (long long)b.sys_len, (long long)b.ref_len);
        json_t *pr = json_object_get(v, "precisions");
        for (int k = 0; k < 4; k++) {
            double wp = json_number_value(json_array_get(pr, k));
            EXPECT(fabs(b.precisions[k] - wp) <= 1e-9, "%s: p%d %.15g vs %.15g", name, k + 1, b.precisions[k], wp);
        }
        double wbp = json_number_value(json_object_get(v, "bp")), wr = json_number_value(json_object_get(v, "ratio"));
        EXPECT(fabs(b.bp - wbp) <= 1e-12 && fabs(b.ratio - wr) <= 1e-12, "%s: bp %.15g/%.15g ratio %.15g/%.15g",
               name, b.bp, wbp, b.ratio, wr);
        EXPECT(strcmp(b.signature, json_string_value(json_object_get(v, "bleu_sig"))) == 0, "%s: signature %s",
               name, b.signature);

        dsq_chrf c;
        dsq_corpus_chrf((const char *const *)h.s, h.len, (const char *const *)r.s, r.len, h.n, &c);
        double wc = json_number_value(json_object_get(v, "chrf"));
        EXPECT(fabs(c.score - wc) <= 1e-9, "%s: chrF %.15g, sacrebleu %.15g", name, c.score, wc);
        EXPECT(strcmp(c.signature, json_string_value(json_object_get(v, "chrf_sig"))) == 0, "%s: signature %s",
               name, c.signature);
        sv_free(&h);
        sv_free(&r);
        json_decref(v);
        n++;
    }
    EXPECT(fixture_close(&fx) == 0, "zstd failed");
    EXPECT(n >= 20, "only %ld corpora", n);
}

int main(void) {
    RUN_TEST(test_tok13a_fixture);
    RUN_TEST(test_corpus_fixture);
    TEST_MAIN_END();
}

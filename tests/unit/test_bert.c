/* BERT encoder and BERTScore (include/dsq/bert.h, include/dsq/bertscore.h).
 *
 * Without arguments: a tiny random BERT written to a temporary model
 * directory (loading, padding/batching/thread invariance, truncation), bad
 * model directories, the greedy matching rules, the layer table.
 * With arguments, the oracle comparisons of tests/checks/bertscore_oracle.sh:
 *   test_bert --hidden MODEL_DIR HIDDEN.safetensors
 *       every layer's output vs transformers' (max abs error 1e-4)
 *   test_bert --scores MODEL_DIR PAIRS.jsonl EXPECTED.jsonl LAYER IDF [BASELINE]
 *       token ids equal bert_score's; P/R/F per pair within 1e-4, the mean
 *       F1 within 1e-5 (rescaled with the BASELINE file when given)
 * The environment may tighten those (DSQ_TOL_HIDDEN, DSQ_TOL_PAIR,
 * DSQ_TOL_MEAN) and name the model in the PASS/FAIL lines (DSQ_TEST_TAG). */
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "backend_cpu.h"
#include "bert.h"
#include "bertscore.h"
#include "check.h"
#include "metrics.h"
#include "safetensors.h"
#include "util.h"

/* ---- oracle comparisons ------------------------------------------------- */

static double env_tol(const char *name, double def) {
    const char *v = getenv(name);
    return v && *v ? atof(v) : def;
}

static const char *tag(void) {
    const char *v = getenv("DSQ_TEST_TAG");
    return v ? v : "";
}

static int cmp_hidden(const char *dir, const char *path) {
    dsq_err e = {0};
    dsq_backend *be = dsq_backend_cpu();
    dsq_bert m;
    if (dsq_bert_load(&m, dir, be, &e)) { printf("FAIL hidden_states: %s\n", e.msg); return 1; }
    dsq_record r;
    dsq_record_init(&r);
    if (dsq_st_read_file(path, &r, &e)) { printf("FAIL hidden_states: %s\n", e.msg); return 1; }
    const dsq_tensor *ids = dsq_record_find(&r, "ids"), *lens = dsq_record_find(&r, "lens");
    int B = (int)ids->shape[0], L = (int)ids->shape[1], H = m.cfg.H, nl = m.cfg.n_layers;
    int *ln = xmalloc(B * sizeof *ln);
    for (int b = 0; b < B; b++) ln[b] = ((const int32_t *)lens->data)[b];
    size_t NH = (size_t)B * L * H;
    float *all = xmalloc((nl + 1) * NH * sizeof *all), *out = xmalloc(NH * sizeof *out);
    dsq_bert_forward(&m, ids->data, ln, B, L, nl, out, all);
    int fails = 0;
    for (int l = 0; l <= nl; l++) {
        char nm[32];
        snprintf(nm, sizeof nm, "hidden.%d", l);
        const float *ref = dsq_record_find(&r, nm)->data;
        double maxerr = 0, maxabs = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < ln[b]; t++)
                for (int j = 0; j < H; j++) {
                    size_t k = ((size_t)b * L + t) * H + j;
                    double d = fabs((double)all[l * NH + k] - ref[k]);
                    if (d > maxerr) maxerr = d;
                    if (fabs(ref[k]) > maxabs) maxabs = fabs(ref[k]);
                }
        double tol = env_tol("DSQ_TOL_HIDDEN", 1e-4);
        int ok = maxerr <= tol;
        fails += !ok;
        int lmin = L, lmax = 0;
        for (int b = 0; b < B; b++) {
            if (ln[b] < lmin) lmin = ln[b];
            if (ln[b] > lmax) lmax = ln[b];
        }
        printf("%s %shidden_state_layer_%d: max abs error %.3g (values up to %.3g), %d texts, "
               "lengths %d..%d%s%g\n", ok ? "PASS" : "FAIL", tag(), l, maxerr, maxabs, B, lmin,
               lmax, ok ? ", tolerance " : ": over ", tol);
    }
    free(all);
    free(out);
    free(ln);
    dsq_record_free(&r);
    dsq_bert_free(&m);
    be->destroy(be);
    return fails ? 1 : 0;
}

static int ids_equal(json_t *arr, const dsq_ids *v) {
    if (json_array_size(arr) != v->n) return 0;
    for (size_t i = 0; i < v->n; i++)
        if (json_integer_value(json_array_get(arr, i)) != v->ids[i]) return 0;
    return 1;
}

static int cmp_scores(const char *dir, const char *pairs, const char *expected, int layer, int idf,
                      const char *baseline) {
    dsq_err e = {0};
    dsq_backend *be = dsq_backend_cpu();
    dsq_bert m;
    if (dsq_bert_load(&m, dir, be, &e)) { printf("FAIL bertscore_parity: %s\n", e.msg); return 1; }
    FILE *fp = fopen(pairs, "r"), *fe = fopen(expected, "r");
    if (!fp || !fe) { printf("FAIL bertscore_parity: cannot open %s / %s\n", pairs, expected); return 1; }
    char *line = NULL;
    size_t cap = 0, n = 0, ncap = 0;
    char **hyp = NULL, **ref = NULL;
    size_t *hl = NULL, *rl = NULL;
    while (getline(&line, &cap, fp) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (n == ncap) {
            ncap = ncap ? 2 * ncap : 1024;
            hyp = xrealloc(hyp, ncap * sizeof *hyp);
            ref = xrealloc(ref, ncap * sizeof *ref);
            hl = xrealloc(hl, ncap * sizeof *hl);
            rl = xrealloc(rl, ncap * sizeof *rl);
        }
        json_t *h = json_object_get(o, "recover"), *r = json_object_get(o, "reference");
        hl[n] = json_string_length(h);
        rl[n] = json_string_length(r);
        hyp[n] = xmalloc(hl[n] + 1);
        ref[n] = xmalloc(rl[n] + 1);
        memcpy(hyp[n], json_string_value(h), hl[n] + 1);
        memcpy(ref[n], json_string_value(r), rl[n] + 1);
        json_decref(o);
        n++;
    }
    double *P = xmalloc(n * sizeof *P), *R = xmalloc(n * sizeof *R), *F = xmalloc(n * sizeof *F);
    dsq_bertscore_opts o;
    dsq_bertscore_opts_default(&o);
    o.layer = layer;
    o.idf = idf;
    if (dsq_bertscore(&m, &o, hyp, hl, ref, rl, n, P, R, F, &e)) {
        printf("FAIL bertscore_parity: %s\n", e.msg);
        return 1;
    }
    float base[3];
    if (baseline) {
        if (dsq_bertscore_read_baseline(baseline, layer, base, &e)) {
            printf("FAIL bertscore_parity: %s\n", e.msg);
            return 1;
        }
        dsq_bertscore_rescale(P, n, base[0]);
        dsq_bertscore_rescale(R, n, base[1]);
        dsq_bertscore_rescale(F, n, base[2]);
    }
    if (getline(&line, &cap, fe) <= 0) { printf("FAIL bertscore_parity: empty %s\n", expected); return 1; }
    json_t *head = json_loads(line, 0, NULL);
    double mean_f = json_real_value(json_object_get(head, "mean_f1"));
    json_decref(head);
    size_t bad_ids = 0, bad = 0, worst = 0;
    double maxerr = 0, tol_pair = env_tol("DSQ_TOL_PAIR", 1e-4),
           tol_mean = env_tol("DSQ_TOL_MEAN", 1e-5);
    dsq_ids v = {0};
    for (size_t i = 0; i < n; i++) {
        if (getline(&line, &cap, fe) <= 0) { printf("FAIL bertscore_parity: %s too short\n", expected); return 1; }
        json_t *x = json_loads(line, 0, NULL);
        dsq_bert_encode_text(&m, hyp[i], hl[i], &v, &e);
        int idok = ids_equal(json_object_get(x, "hyp_ids"), &v);
        dsq_bert_encode_text(&m, ref[i], rl[i], &v, &e);
        idok &= ids_equal(json_object_get(x, "ref_ids"), &v);
        if (!idok && bad_ids++ < 5) fprintf(stderr, "  pair %zu: token ids differ from bert_score's\n", i + 1);
        double ex[3] = {json_real_value(json_object_get(x, "p")), json_real_value(json_object_get(x, "r")),
                        json_real_value(json_object_get(x, "f"))};
        double got[3] = {P[i], R[i], F[i]};
        for (int k = 0; k < 3; k++) {
            double d = fabs(got[k] - ex[k]);
            if (d > maxerr) { maxerr = d; worst = i; }
            if (d > tol_pair && bad++ < 5)
                fprintf(stderr, "  pair %zu: %c = %.7f, bert_score %.7f\n", i + 1, "PRF"[k], got[k], ex[k]);
        }
        json_decref(x);
    }
    double mean = dsq_np_mean(F, n);
    const char *tg = baseline ? (idf ? "idf_rescaled" : "noidf_rescaled") : idf ? "idf" : "noidf";
    printf("%s %sbertscore_token_ids_layer%d_%s: %zu of %zu pairs differ\n",
           bad_ids ? "FAIL" : "PASS", tag(), layer, tg, bad_ids, n);
    printf("%s %sbertscore_per_pair_layer%d_%s: max abs error %.3g (pair %zu) over %zu pairs x "
           "P/R/F%s%g\n", bad ? "FAIL" : "PASS", tag(), layer, tg, maxerr, worst + 1, n,
           bad ? ": over " : ", tolerance ", tol_pair);
    int mok = fabs(mean - mean_f) <= tol_mean;
    printf("%s %sbertscore_mean_f1_layer%d_%s: %.8f vs bert_score %.8f (error %.3g, tolerance "
           "%g)\n", mok ? "PASS" : "FAIL", tag(), layer, tg, mean, mean_f, fabs(mean - mean_f),
           tol_mean);
    dsq_ids_free(&v);
    for (size_t i = 0; i < n; i++) { free(hyp[i]); free(ref[i]); }
    free(hyp); free(ref); free(hl); free(rl); free(P); free(R); free(F); free(line);
    fclose(fp);
    fclose(fe);
    dsq_bert_free(&m);
    be->destroy(be);
    return bad_ids || bad || !mok;
}


/* ---- a tiny random BERT in a temporary directory ------------------------- */

static const char *tiny_vocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat",
                                   "sat", "on", "mat", "dog", "##s", "a", "hello", "world", ".",
                                   "?", "!"};
enum { TV = 18, TH = 32, TNH = 4, TI = 64, TLAYERS = 3, TPOS = 40 };

static void write_text(const char *dir, const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void rm_file(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static uint64_t rng_state = 88172645463325252ull;
static float urand(void) {  /* xorshift64: uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) / 8388608.0 - 1.0);
}

static void add_rand(dsq_record *r, const char *name, int64_t s0, int64_t s1, float scale,
                     float offset, int f16_skip) {
    (void)f16_skip;
    int64_t shape[2] = {s0, s1};
    size_t n = (size_t)s0 * (s1 ? s1 : 1);
    float *d = xmalloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = offset + scale * urand();
    dsq_record_add_owned(r, name, DSQ_F32, s1 ? 2 : 1, shape, d);
}

/* A complete tiny model directory; `prefix` "bert." names tensors as a
 * BertForMaskedLM checkpoint does.  skip: a tensor name to leave out. */
static void write_tiny(const char *dir, const char *prefix, const char *skip) {
    mkdir(dir, 0755);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_size\": %d,"
             " \"num_attention_heads\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,"
             " \"max_position_embeddings\": %d, \"vocab_size\": %d, \"type_vocab_size\": 2,"
             " \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\", \"_name_or_path\": \"tiny-bert\"}",
             TH, TNH, TI, TLAYERS, TPOS, TV);
    write_text(dir, "config.json", cfg);
    char voc[512] = "";
    for (int i = 0; i < TV; i++) {
        strcat(voc, tiny_vocab[i]);
        strcat(voc, "\n");
    }
    write_text(dir, "vocab.txt", voc);
    rng_state = 88172645463325252ull;
    dsq_record r;
    dsq_record_init(&r);
    char nm[160];
#define ADD(name, s0, s1, sc, off)                                     \
    do {                                                               \
        snprintf(nm, sizeof nm, "%s%s", prefix, name);                 \
        if (!skip || strcmp(name, skip) != 0) add_rand(&r, nm, s0, s1, sc, off, 0); \
    } while (0)
    ADD("embeddings.word_embeddings.weight", TV, TH, 1.0f, 0.0f);
    ADD("embeddings.position_embeddings.weight", TPOS, TH, 0.5f, 0.0f);
    ADD("embeddings.token_type_embeddings.weight", 2, TH, 0.5f, 0.0f);
    ADD("embeddings.LayerNorm.weight", TH, 0, 0.1f, 1.0f);
    ADD("embeddings.LayerNorm.bias", TH, 0, 0.1f, 0.0f);
    for (int l = 0; l < TLAYERS; l++) {
        char base[96];
        static const char *sq[] = {"attention.self.query", "attention.self.key",
                                   "attention.self.value", "attention.output.dense"};
        for (int k = 0; k < 4; k++) {
            snprintf(base, sizeof base, "encoder.layer.%d.%s.weight", l, sq[k]);
            ADD(base, TH, TH, 0.3f, 0.0f);
            snprintf(base, sizeof base, "encoder.layer.%d.%s.bias", l, sq[k]);
            ADD(base, TH, 0, 0.1f, 0.0f);
        }
        snprintf(base, sizeof base, "encoder.layer.%d.intermediate.dense.weight", l);
        ADD(base, TI, TH, 0.3f, 0.0f);
        snprintf(base, sizeof base, "encoder.layer.%d.intermediate.dense.bias", l);
        ADD(base, TI, 0, 0.1f, 0.0f);
        snprintf(base, sizeof base, "encoder.layer.%d.output.dense.weight", l);
        ADD(base, TH, TI, 0.2f, 0.0f);
        snprintf(base, sizeof base, "encoder.layer.%d.output.dense.bias", l);
        ADD(base, TH, 0, 0.1f, 0.0f);
        static const char *lns[] = {"attention.output.LayerNorm", "output.LayerNorm"};
        for (int k = 0; k < 2; k++) {
            snprintf(base, sizeof base, "encoder.layer.%d.%s.weight", l, lns[k]);
            ADD(base, TH, 0, 0.1f, 1.0f);
            snprintf(base, sizeof base, "encoder.layer.%d.%s.bias", l, lns[k]);
            ADD(base, TH, 0, 0.1f, 0.0f);
        }
    }
#undef ADD
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    dsq_err e = {0};
    if (dsq_st_write_file(p, &r, &e)) fprintf(stderr, "write_tiny: %s\n", e.msg);
    dsq_record_free(&r);
}

static char tmpdir[256];

static const char *tiny_dir(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void test_load_tiny(void) {
    dsq_backend *be = dsq_backend_cpu();
    dsq_err e = {0};
    dsq_bert m;
    for (int v = 0; v < 2; v++) {
        const char *d = tiny_dir(v ? "prefixed" : "plain");
        write_tiny(d, v ? "bert." : "", NULL);
        int rc = dsq_bert_load(&m, d, be, &e);
        EXPECT(rc == 0, "load %s: %s", d, e.msg);
        if (rc) continue;
        EXPECT(m.cfg.H == TH && m.cfg.nh == TNH && m.cfg.I == TI && m.cfg.n_layers == TLAYERS &&
               m.cfg.max_pos == TPOS && m.cfg.max_len == TPOS, "config");
        EXPECT(strcmp(m.cfg.name, "tiny-bert") == 0, "name %s", m.cfg.name);
        EXPECT(m.cls_id == 2 && m.sep_id == 3 && m.pad_id == 0, "special ids");
        dsq_bert_free(&m);
    }
    be->destroy(be);
}

/* Real positions of a sequence do not depend on the batch it is in, on
 * its padding, nor on the thread count. */
static void test_padding_invariance(void) {
    dsq_backend *be = dsq_backend_cpu();
    dsq_err e = {0};
    dsq_bert m;
    if (dsq_bert_load(&m, tiny_dir("plain"), be, &e)) { EXPECT(0, "%s", e.msg); return; }
    const char *texts[] = {"the cat sat on the mat.", "hello", "dogs? hello world! a cat", ""};
    enum { NT = 4 };
    dsq_ids ids[NT] = {{0}};
    int lens[NT], L = 0;
    for (int i = 0; i < NT; i++) {
        EXPECT(dsq_bert_encode_text(&m, texts[i], strlen(texts[i]), &ids[i], &e) == 0, "%s", e.msg);
        lens[i] = (int)ids[i].n;
        if (lens[i] > L) L = lens[i];
    }
    L += 3;  /* extra padding */
    int32_t *batch = xcalloc((size_t)NT * L, sizeof *batch);
    for (int i = 0; i < NT; i++) memcpy(batch + (size_t)i * L, ids[i].ids, ids[i].n * 4);
    float *out = xmalloc((size_t)NT * L * TH * sizeof *out);
    float *all = xmalloc((size_t)(TLAYERS + 1) * NT * L * TH * sizeof *all);
    float *out1 = xmalloc((size_t)NT * L * TH * sizeof *out1);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        dsq_bert_forward(&m, batch, lens, NT, L, TLAYERS, out, all);
        EXPECT(memcmp(out, all + (size_t)TLAYERS * NT * L * TH, (size_t)NT * L * TH * 4) == 0,
               "out is the last layer of all");
        if (threads == 1) memcpy(out1, out, (size_t)NT * L * TH * 4);
        else EXPECT(memcmp(out1, out, (size_t)NT * L * TH * 4) == 0, "same bits for 1 and 2 threads");
        /* Alone, unpadded: equal up to float rounding (OpenBLAS results
         * depend on the call's shape), since padded keys get weight 0. */
        double maxd = 0;
        for (int i = 0; i < NT; i++) {
            float *one = xmalloc((size_t)lens[i] * TH * sizeof *one);
            dsq_bert_forward(&m, ids[i].ids, &lens[i], 1, lens[i], TLAYERS, one, NULL);
            for (int k = 0; k < lens[i] * TH; k++) {
                double d = fabs((double)one[k] - out[(size_t)i * L * TH + k]);
                if (d > maxd) maxd = d;
            }
            free(one);
        }
        EXPECT(maxd <= 5e-6, "alone vs padded batch, %d threads: max diff %g", threads, maxd);
    }
    free(out1);
    omp_set_num_threads(2);
    free(batch);
    free(out);
    free(all);
    for (int i = 0; i < NT; i++) dsq_ids_free(&ids[i]);
    dsq_bert_free(&m);
    be->destroy(be);
}

/* bert_score's sent_encode: strip, and the content cut to max_len - 2. */
static void test_truncation(void) {
    dsq_backend *be = dsq_backend_cpu();
    dsq_err e = {0};
    dsq_bert m;
    const char *d = tiny_dir("short");
    write_tiny(d, "", NULL);
    write_text(d, "tokenizer_config.json", "{\"tokenizer_class\": \"BertTokenizer\", "
               "\"do_lower_case\": true, \"model_max_length\": 8}");
    if (dsq_bert_load(&m, d, be, &e)) { EXPECT(0, "%s", e.msg); return; }
    EXPECT(m.cfg.max_len == 8, "max_len %d", m.cfg.max_len);
    dsq_ids v = {0};
    const char *t = "  the cat sat on the mat . hello world  ";
    EXPECT(dsq_bert_encode_text(&m, t, strlen(t), &v, &e) == 0, "%s", e.msg);
    static const int32_t want[] = {2, 5, 6, 7, 8, 5, 9, 3};
    EXPECT(v.n == 8 && memcmp(v.ids, want, sizeof want) == 0, "truncated ids (n %zu)", v.n);
    EXPECT(dsq_bert_encode_text(&m, " \t\n", 3, &v, &e) == 0 && v.n == 2 && v.ids[0] == 2 &&
               v.ids[1] == 3, "blank text -> [CLS] [SEP]");
    EXPECT(dsq_bert_encode_text(&m, "\xff", 1, &v, &e) == DSQ_EDATA, "invalid UTF-8");
    dsq_ids_free(&v);
    dsq_bert_free(&m);
    be->destroy(be);
}

/* P/R/F do not depend on dsq's batch size, token budget or threads. */
static void test_scores_batching(void) {
    dsq_backend *be = dsq_backend_cpu();
    dsq_err e = {0};
    dsq_bert m;
    if (dsq_bert_load(&m, tiny_dir("plain"), be, &e)) { EXPECT(0, "%s", e.msg); return; }
    char *hyp[] = {"the cat sat", "hello world", "", "a dog", "the cat sat", "cats ! ! the mat"};
    char *ref[] = {"the cat sat on the mat", "hello", "the mat", "", "the cat sat", "the dogs"};
    enum { N = 6 };
    size_t hl[N], rl[N];
    for (int i = 0; i < N; i++) { hl[i] = strlen(hyp[i]); rl[i] = strlen(ref[i]); }
    double P0[N], R0[N], F0[N], P[N], R[N], F[N];
    dsq_bertscore_opts o;
    dsq_bertscore_opts_default(&o);
    o.layer = TLAYERS;
    o.group = 1;
    EXPECT(dsq_bertscore(&m, &o, hyp, hl, ref, rl, N, P0, R0, F0, &e) == 0, "%s", e.msg);
    EXPECT(P0[2] == 0 && R0[2] == 0 && F0[2] == 0, "empty hypothesis scores 0");
    EXPECT(P0[3] == 0 && R0[3] == 0 && F0[3] == 0, "empty reference scores 0");
    EXPECT(fabs(P0[4] - 1) < 1e-6 && fabs(R0[4] - 1) < 1e-6 && fabs(F0[4] - 1) < 1e-6,
           "identical texts score 1 (%g)", F0[4]);
    int cfgs[][3] = {{1, 1, 1}, {2, 7, 2}, {64, 8192, 1}};
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        o.batch = cfgs[c][0];
        o.max_tokens = cfgs[c][1];
        omp_set_num_threads(cfgs[c][2]);
        EXPECT(dsq_bertscore(&m, &o, hyp, hl, ref, rl, N, P, R, F, &e) == 0, "%s", e.msg);
        double maxd = 0;
        for (int i = 0; i < N; i++) {
            maxd = fmax(maxd, fabs(P[i] - P0[i]));
            maxd = fmax(maxd, fabs(R[i] - R0[i]));
            maxd = fmax(maxd, fabs(F[i] - F0[i]));
        }
        /* float rounding only (see test_padding_invariance) */
        EXPECT(maxd <= 1e-6, "batch %d, tokens %d, threads %d: max diff %g", cfgs[c][0],
               cfgs[c][1], cfgs[c][2], maxd);
        if (c == 2)
            EXPECT(memcmp(P, P0, sizeof P) == 0 && memcmp(R, R0, sizeof R) == 0 &&
                       memcmp(F, F0, sizeof F) == 0, "same settings, 1 vs 2 threads: same bits");
    }
    omp_set_num_threads(2);
    /* idf: ln((M+1)/(df+1)) over the references' token sets. */
    o.idf = 1;
    o.batch = 64;
    o.max_tokens = 8192;
    EXPECT(dsq_bertscore(&m, &o, hyp, hl, ref, rl, N, P, R, F, &e) == 0, "%s", e.msg);
    EXPECT(fabs(F[4] - 1) < 1e-6, "idf: identical texts score 1 (%g)", F[4]);
    EXPECT(fabs(F[0] - F0[0]) > 1e-6, "idf changes a score (%g vs %g)", F[0], F0[0]);
    o.layer = TLAYERS + 1;
    EXPECT(dsq_bertscore(&m, &o, hyp, hl, ref, rl, N, P, R, F, &e) == DSQ_EUSAGE, "layer range");
    char *badh[] = {"ok", "bad \xc3"};
    o.layer = 1;
    size_t bl[] = {2, 5};
    EXPECT(dsq_bertscore(&m, &o, badh, bl, badh, bl, 2, P, R, F, &e) == DSQ_EDATA &&
               strstr(e.msg, "hypothesis 2"), "invalid UTF-8 named: %s", e.msg);
    dsq_bert_free(&m);
    be->destroy(be);
}

/* The matching rules on hand-made unit vectors (H = 2). */
static void test_pair_rules(void) {
    /* hyp: [CLS] x [SEP]; ref: [CLS] y [SEP].  x best matches ref's [CLS]. */
    float eh[] = {1, 0, 0.6f, 0.8f, 0, 1};
    float er[] = {0.6f, 0.8f, -1, 0, 0, 1};
    float wh[] = {0, 1, 0}, wr[] = {0, 1, 0};
    double P, R, F;
    dsq_bertscore_pair(eh, 3, wh, er, 3, wr, 2, 0, 0, &P, &R, &F);
    /* x . ref = {1, -0.6, 0.8}: max 1 (the [CLS] candidate); y . hyp = {-1, -0.6, 0}: 0 ([SEP]) */
    EXPECT(fabs(P - 1) < 1e-7 && fabs(R - 0) < 1e-7 && fabs(F) < 1e-7, "specials are candidates: %g %g %g", P, R, F);
    float er2[] = {-1, 0, -0.6f, -0.8f, -1, 0};
    dsq_bertscore_pair(eh, 3, wh, er2, 3, wr, 2, 0, 0, &P, &R, &F);
    EXPECT(P < 0, "negative maximum kept without group padding: %g", P);
    dsq_bertscore_pair(eh, 3, wh, er2, 3, wr, 2, 1, 0, &P, &R, &F);
    EXPECT(P == 0, "bert_score's padded group puts a 0 into the max: %g", P);
    dsq_bertscore_pair(eh, 2, wh, er, 3, wr, 2, 0, 0, &P, &R, &F);
    EXPECT(P == 0 && R == 0 && F == 0, "two-token side scores 0");
    float zero[] = {0, 0, 0};
    dsq_bertscore_pair(eh, 3, zero, er, 3, wr, 2, 0, 0, &P, &R, &F);
    EXPECT(P == 0 && F == 0 && fabs(R) < 1e-7, "zero weights: 0, not NaN");
}

static void test_layer_table(void) {
    EXPECT(dsq_bert_default_layer("bert-base-uncased") == 9, "bert-base-uncased");
    EXPECT(dsq_bert_default_layer("roberta-large") == 17, "roberta-large");
    EXPECT(dsq_bert_default_layer("microsoft/deberta-xlarge-mnli") == 40, "deberta");
    EXPECT(dsq_bert_default_layer("nreimers/MiniLM-L6-H384-uncased") == -1, "unknown");
    EXPECT(dsq_bert_default_layer("deberta-xlarge-mnli") == 40, "directory name");
    EXPECT(dsq_bert_default_layer("roberta-large-mnli") == 19, "exact before suffix");
    EXPECT(dsq_bert_default_layer("x/deberta-xlarge-mnli") == -1, "other organisation");
}

static void expect_bad(const char *dir, int code, const char *needle) {
    dsq_backend *be = dsq_backend_cpu();
    dsq_err e = {0};
    dsq_bert m;
    int rc = dsq_bert_load(&m, dir, be, &e);
    EXPECT(rc == code && strstr(e.msg, needle), "%s: rc %d, want %d with \"%s\": %s", dir, rc,
           code, needle, e.msg);
    if (rc == 0) dsq_bert_free(&m);
    be->destroy(be);
}

static void test_bad_dirs(void) {
    expect_bad(tiny_dir("absent"), DSQ_EIO, "not a model directory");
    const char *d = tiny_dir("bad");
    write_tiny(d, "", NULL);
    rm_file(d, "config.json");
    expect_bad(d, DSQ_EIO, "config.json: cannot open");
    write_text(d, "config.json", "{\"model_type\": \"deberta-v2\", \"architectures\": [\"DebertaV2Model\"]}");
    expect_bad(d, DSQ_EDATA, "unsupported architecture: model_type \"deberta-v2\", architectures "
               "[\"DebertaV2Model\", ...] (BERTScore in dsq runs model_type \"bert\", \"roberta\" "
               "and \"deberta\" (v1) encoders)");
    write_text(d, "config.json", "{\"model_type\": \"xlnet\"}");
    expect_bad(d, DSQ_EDATA, "unsupported architecture: model_type \"xlnet\"");
    write_text(d, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 32}");
    expect_bad(d, DSQ_EDATA, "missing key \"num_attention_heads\"");
    write_text(d, "config.json", "{not json");
    expect_bad(d, DSQ_EDATA, "invalid JSON");
    write_tiny(d, "", NULL);
    write_text(d, "tokenizer_config.json", "{\"tokenizer_class\": \"RobertaTokenizer\"}");
    expect_bad(d, DSQ_EDATA, "tokenizer_class \"RobertaTokenizer\" is not supported");
    write_text(d, "tokenizer_config.json", "{\"do_lower_case\": false}");
    expect_bad(d, DSQ_EDATA, "only uncased");
    rm_file(d, "tokenizer_config.json");
    write_text(d, "tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}");
    expect_bad(d, DSQ_EDATA, "tokenizer model \"BPE\" is not WordPiece");
    rm_file(d, "tokenizer.json");
    rm_file(d, "vocab.txt");
    write_text(d, "merges.txt", "a b\n");
    expect_bad(d, DSQ_EIO, "vocab.txt: missing: a WordPiece vocabulary is required (merges.txt");
    rm_file(d, "merges.txt");
    write_tiny(d, "", NULL);
    rm_file(d, "model.safetensors");
    expect_bad(d, DSQ_EIO, "model.safetensors");
    write_tiny(d, "", "encoder.layer.1.attention.self.key.weight");
    expect_bad(d, DSQ_EDATA, "missing tensor encoder.layer.1.attention.self.key.weight");
    write_tiny(d, "", NULL);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"bert\", \"hidden_size\": %d, \"num_attention_heads\": %d,"
             " \"intermediate_size\": %d, \"num_hidden_layers\": %d, \"max_position_embeddings\": %d,"
             " \"vocab_size\": %d, \"hidden_act\": \"relu\"}", TH, TNH, TI, TLAYERS, TPOS, TV);
    write_text(d, "config.json", cfg);
    expect_bad(d, DSQ_EDATA, "hidden_act \"relu\"");
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"bert\", \"hidden_size\": %d, \"num_attention_heads\": %d,"
             " \"intermediate_size\": %d, \"num_hidden_layers\": %d, \"max_position_embeddings\": %d,"
             " \"vocab_size\": %d}", TH, TNH, 2 * TI, TLAYERS, TPOS, TV);
    write_text(d, "config.json", cfg);
    expect_bad(d, DSQ_EDATA, "expected shape [128, 32]");
}

/* Copies tests/fixtures/bpe/<style>/name into dir. */
static void copy_fixture(const char *dir, const char *style, const char *name) {
    char src[256];
    snprintf(src, sizeof src, "tests/fixtures/bpe/%s/%s", style, name);
    size_t n;
    dsq_err e = {0};
    char *buf = dsq_read_file(src, "fixture", &n, &e);
    EXPECT(buf != NULL, "%s", e.msg);
    if (!buf) return;
    char dst[1024];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    FILE *f = fopen(dst, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    free(buf);
}

/* RoBERTa / DeBERTa directories that fail before their weights are read:
 * the tokenizer files and class, the DeBERTa variants dsq does not run. */
static void test_bad_bpe_dirs(void) {
    const char *d = tiny_dir("bpe");
    write_tiny(d, "", NULL);
    rm_file(d, "vocab.txt");
    static const char *rob = "{\"model_type\": \"roberta\", \"hidden_size\": 32, "
        "\"num_attention_heads\": 4, \"intermediate_size\": 64, \"num_hidden_layers\": 2, "
        "\"max_position_embeddings\": 66, \"vocab_size\": 2000, \"type_vocab_size\": 1, "
        "\"pad_token_id\": 1}";
    write_text(d, "config.json", rob);
    expect_bad(d, DSQ_EIO, "vocab.json: missing: a byte-level BPE tokenizer (vocab.json and "
               "merges.txt) is required");
    copy_fixture(d, "roberta", "vocab.json");
    expect_bad(d, DSQ_EIO, "merges.txt: missing");
    copy_fixture(d, "roberta", "merges.txt");
    write_text(d, "tokenizer_config.json", "{\"tokenizer_class\": \"BertTokenizer\"}");
    expect_bad(d, DSQ_EDATA, "tokenizer_class \"BertTokenizer\" is not supported with "
               "model_type \"roberta\" (RobertaTokenizer)");
    write_text(d, "tokenizer_config.json", "{\"cls_token\": {\"content\": \"<cls>\"}}");
    expect_bad(d, DSQ_EDATA, "the special token <cls> is not in the vocabulary");
    rm_file(d, "tokenizer_config.json");
    /* the tokenizer loads: the tiny BERT's weights are not a RoBERTa's */
    expect_bad(d, DSQ_EDATA, "expected shape [2000, 32]");
    static const char *deb = "{\"model_type\": \"deberta\", \"hidden_size\": 32, "
        "\"num_attention_heads\": 4, \"intermediate_size\": 64, \"num_hidden_layers\": 2, "
        "\"max_position_embeddings\": 64, \"vocab_size\": 2000, \"relative_attention\": true, "
        "\"pos_att_type\": %s, %s}";
    char cfg[1024];
    const struct { const char *pat, *extra, *want; } bad[] = {
        {"\"c2p|p2c\"", "\"position_buckets\": 256", "\"position_buckets\" is a DeBERTa-v2 setting"},
        {"[\"c2p\"]", "\"share_att_key\": true", "\"share_att_key\" is a DeBERTa-v2 setting"},
        {"\"c2p|p2p\"", "\"x\": 0", "pos_att_type \"p2p\" is not supported"},
        {"\"c2p\"", "\"talking_head\": true", "talking_head attention is not supported"},
        {"\"c2p\"", "\"embedding_size\": 16", "embedding_size 16 differs from hidden_size 32"},
        {"\"c2p\"", "\"max_relative_positions\": \"x\"", "\"max_relative_positions\" must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cfg, sizeof cfg, deb, bad[i].pat, bad[i].extra);
        write_text(d, "config.json", cfg);
        expect_bad(d, DSQ_EDATA, bad[i].want);
    }
    snprintf(cfg, sizeof cfg, deb, "\"c2p|p2c\"", "\"x\": 0");
    write_text(d, "config.json", cfg);
    copy_fixture(d, "deberta", "vocab.json");
    expect_bad(d, DSQ_EDATA, "tensor embeddings.word_embeddings.weight: expected shape [2000, 32]");
    copy_fixture(d, "roberta", "vocab.json");
    expect_bad(d, DSQ_EDATA, "the special token [CLS] is not in the vocabulary");
}

/* Baseline files: the row of a layer, float32 rescaling, malformed files. */
static void test_baseline_file(void) {
    const char *d = tiny_dir("baseline");
    mkdir(d, 0755);
    char p[1024];
    snprintf(p, sizeof p, "%s/b.tsv", d);
    float b[3];
    dsq_err e = {0};
    write_text(d, "b.tsv", "LAYER,P,R,F\n0,0.25,0.5,0.125\n1,0.3712891,0.37132213,0.36826715\n");
    EXPECT(dsq_bertscore_read_baseline(p, 1, b, &e) == 0 && b[0] == 0.3712891f &&
           b[1] == 0.37132213f && b[2] == 0.36826715f, "row 1: %s", e.msg);
    EXPECT(dsq_bertscore_read_baseline(p, 0, b, &e) == 0 && b[2] == 0.125f, "row 0");
    double x[2] = {0.625, 1.0};
    dsq_bertscore_rescale(x, 2, 0.25f);
    EXPECT(x[0] == 0.5 && x[1] == 1.0, "rescale %g %g", x[0], x[1]);
    const struct { const char *text; int layer; const char *want; } bad[] = {
        {"P,R,F\n0,1,1,1\n", 0, "b.tsv:1: not a bert_score baseline file"},
        {"LAYER,P,R,F\n0,0.1,0.2,0.3\n", 1, "no row for layer 1 (1 layer rows)"},
        {"LAYER,P,R,F\n0,0.1,x,0.3\n", 0, "b.tsv:2: column 3 is not a number below 1"},
        {"LAYER,P,R,F\n0,0.1,0.2\n", 0, "b.tsv:2: expected LAYER,P,R,F"},
        {"LAYER,P,R,F\n0,0.1,1.0,0.3\n", 0, "column 3 is not a number below 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(d, "b.tsv", bad[i].text);
        int rc = dsq_bertscore_read_baseline(p, bad[i].layer, b, &e);
        EXPECT(rc == DSQ_EDATA && strstr(e.msg, bad[i].want), "case %zu: rc %d %s", i, rc, e.msg);
    }
    snprintf(p, sizeof p, "%s/absent.tsv", d);
    EXPECT(dsq_bertscore_read_baseline(p, 0, b, &e) == DSQ_EIO, "absent: %s", e.msg);
}

/* linear_fixed_fwd's GELU (PyTorch's vectorised erf) vs the exact one. */
static void test_gelu_accuracy(void) {
    enum { NX = 200001 };
    float *x = xmalloc(NX * sizeof *x);
    for (int i = 0; i < NX; i++) x[i] = -10.0f + 20.0f * i / (NX - 1);
    float *y = xmalloc(NX * sizeof *y);
    memcpy(y, x, NX * sizeof *y);
    cpu_gelu_as_torch(y, y, NX);
    double maxd = 0;
    for (int i = 0; i < NX; i++) {
        double ex = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        double d = fabs(y[i] - ex) / fmax(1.0, fabs(ex));
        if (d > maxd) maxd = d;
    }
    EXPECT(maxd <= 3e-7, "max error %g", maxd);
    float big[] = {-1e30f, -100.0f, 0.0f, -0.0f, 100.0f, 1e30f};
    cpu_gelu_as_torch(big, big, 6);
    EXPECT(big[0] == 0 && big[1] == 0 && big[2] == 0 && big[3] == 0 && big[4] == 100.0f &&
               big[5] == 1e30f, "extremes: %g %g %g %g %g %g", big[0], big[1], big[2], big[3],
           big[4], big[5]);
    free(x);
    free(y);
}

static void rm_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--hidden") == 0) return cmp_hidden(argv[2], argv[3]);
    if ((argc == 7 || argc == 8) && strcmp(argv[1], "--scores") == 0)
        return cmp_scores(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]),
                          argc == 8 ? argv[7] : NULL);
    if (argc == 3 && strcmp(argv[1], "--write-tiny") == 0) {  /* for tests/cli/score.bats */
        write_tiny(argv[2], "", NULL);
        return 0;
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_bert.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) { printf("FAIL setup: mkdtemp\n"); return 1; }
    RUN_TEST(test_load_tiny);
    RUN_TEST(test_padding_invariance);
    RUN_TEST(test_truncation);
    RUN_TEST(test_scores_batching);
    RUN_TEST(test_pair_rules);
    RUN_TEST(test_layer_table);
    RUN_TEST(test_gelu_accuracy);
    RUN_TEST(test_bad_dirs);
    RUN_TEST(test_bad_bpe_dirs);
    RUN_TEST(test_baseline_file);
    rm_tree(tmpdir);
    TEST_MAIN_END();
}

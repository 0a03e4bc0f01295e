/* BERT encoder and BERTScore (lib/bert.h, lib/bertscore.h).
 *
 * Without arguments: a tiny random BERT written to a temporary model
 * directory (loading, padding/batching/thread invariance, truncation), bad
 * model directories, the greedy matching rules, the layer table.
 * With arguments, the oracle comparisons of tests/checks/bertscore_oracle.sh:
 *   test_bert --hidden MODEL_DIR HIDDEN.safetensors
 *       every layer's output vs transformers' (max abs error 1e-4)
 *   test_bert --scores MODEL_DIR PAIRS.jsonl EXPECTED.jsonl LAYER IDF
 *       token ids equal bert_score's; P/R/F per pair within 1e-4, the mean
 *       F1 within 1e-5 */
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "bert.h"
#include "bertscore.h"
#include "check.h"
#include "metrics.h"
#include "safetensors.h"

/* ---- oracle comparisons ------------------------------------------------- */

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
        int ok = maxerr <= 1e-4;
        fails += !ok;
        printf("%s hidden_state_layer_%d: max abs error %.3g (values up to %.3g), %d texts, "
               "lengths %d..%d%s\n", ok ? "PASS" : "FAIL", l, maxerr, maxabs, B, ln[B - 1], ln[0],
               ok ? "" : ": over 1e-4");
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

static int cmp_scores(const char *dir, const char *pairs, const char *expected, int layer, int idf) {
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
    if (getline(&line, &cap, fe) <= 0) { printf("FAIL bertscore_parity: empty %s\n", expected); return 1; }
    json_t *head = json_loads(line, 0, NULL);
    double mean_f = json_real_value(json_object_get(head, "mean_f1"));
    json_decref(head);
    size_t bad_ids = 0, bad = 0, worst = 0;
    double maxerr = 0;
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
            if (d > 1e-4 && bad++ < 5)
                fprintf(stderr, "  pair %zu: %c = %.7f, bert_score %.7f\n", i + 1, "PRF"[k], got[k], ex[k]);
        }
        json_decref(x);
    }
    double mean = dsq_np_mean(F, n);
    const char *tag = idf ? "idf" : "noidf";
    printf("%s bertscore_token_ids_layer%d_%s: %zu of %zu pairs differ\n", bad_ids ? "FAIL" : "PASS",
           layer, tag, bad_ids, n);
    printf("%s bertscore_per_pair_layer%d_%s: max abs error %.3g (pair %zu) over %zu pairs x P/R/F%s\n",
           bad ? "FAIL" : "PASS", layer, tag, maxerr, worst + 1, n, bad ? ": over 1e-4" : "");
    int mok = fabs(mean - mean_f) <= 1e-5;
    printf("%s bertscore_mean_f1_layer%d_%s: %.8f vs bert_score %.8f (error %.3g)\n",
           mok ? "PASS" : "FAIL", layer, tag, mean, mean_f, fabs(mean - mean_f));
    dsq_ids_free(&v);
    for (size_t i = 0; i < n; i++) { free(hyp[i]); free(ref[i]); }
    free(hyp); free(ref); free(hl); free(rl); free(P); free(R); free(F); free(line);
    fclose(fp);
    fclose(fe);
    dsq_bert_free(&m);
    be->destroy(be);
    return bad_ids || bad || !mok;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--hidden") == 0) return cmp_hidden(argv[2], argv[3]);
    if (argc == 7 && strcmp(argv[1], "--scores") == 0)
        return cmp_scores(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]));
    TEST_MAIN_END();
}

/* Encode throughput of the dsq tokenizer library: the corpus of
 * bench/tokenize.sh (src then trg of every line of the given JSONL files,
 * repeated until it reaches TARGET_MB), encoded with T OpenMP threads;
 * prints one JSON line with the best of R timed runs and the sha256 of all
 * ids (int32 little-endian, in corpus order) to compare with HF's.
 * usage: tokenize_bench VOCAB THREADS TARGET_MB REPEATS FILE.jsonl... */
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sha256.h"
#include "tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: %s VOCAB THREADS TARGET_MB REPEATS FILE...\n", argv[0]); return 2; }
    int threads = atoi(argv[2]), reps = atoi(argv[4]);
    double target = atof(argv[3]) * 1e6;
    dsq_err e = {0};
    dsq_tokenizer *t;
    if (dsq_tokenizer_load(&t, argv[1], DSQ_TOK_WORDPIECE, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    /* the base texts */
    size_t nb = 0, cap = 1024;
    char **base = malloc(cap * sizeof *base);
    size_t *blen = malloc(cap * sizeof *blen);
    for (int f = 5; f < argc; f++) {
        FILE *fp = fopen(argv[f], "r");
        if (!fp) { perror(argv[f]); return 1; }
        char *line = NULL;
        size_t lc = 0;
        while (getline(&line, &lc, fp) > 0) {
            json_t *o = json_loads(line, 0, NULL);
            const char *k[2] = {"src", "trg"};
            for (int j = 0; j < 2; j++) {
                json_t *s = json_object_get(o, k[j]);
                if (nb == cap) { cap *= 2; base = realloc(base, cap * sizeof *base); blen = realloc(blen, cap * sizeof *blen); }
                blen[nb] = json_string_length(s);
                base[nb] = malloc(blen[nb] + 1);
                memcpy(base[nb], json_string_value(s), blen[nb] + 1);
                nb++;
            }
            json_decref(o);
        }
        free(line);
        fclose(fp);
    }
    /* repeat up to the target size */
    size_t n = 0, bytes = 0;
    size_t ncap = 1024;
    size_t *idx = malloc(ncap * sizeof *idx);
    while (bytes < target) {
        if (n == ncap) { ncap *= 2; idx = realloc(idx, ncap * sizeof *idx); }
        idx[n] = n % nb;
        bytes += blen[idx[n]];
        n++;
    }
    dsq_ids *out = calloc(n, sizeof *out);
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {  /* run 0 warms up */
        for (size_t i = 0; i < n; i++) out[i].n = 0;
        double t0 = now();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256)
        for (size_t i = 0; i < n; i++) {
            dsq_err ee = {0};
            if (dsq_tokenizer_encode(t, base[idx[i]], blen[idx[i]], &out[i], &ee)) { fprintf(stderr, "%s\n", ee.msg); exit(1); }
        }
        double dt = now() - t0;
        if (r && dt < best) best = dt;
    }
    dsq_sha256 c;
    dsq_sha256_init(&c);
    size_t nids = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < out[i].n; k++) {
            int32_t v = out[i].ids[k];
            unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
            dsq_sha256_update(&c, le, 4);
        }
        nids += out[i].n;
        dsq_ids_free(&out[i]);
    }
    unsigned char d[32];
    char hex[65];
    dsq_sha256_final(&c, d);
    dsq_sha256_hex(d, hex);
    printf("{\"bench\":\"tokenize\",\"impl\":\"dsq\",\"threads\":%d,\"examples\":%zu,\"bytes\":%zu,\"ids\":%zu,"
           "\"seconds\":%.4f,\"mb_per_s\":%.2f,\"examples_per_s\":%.0f,\"ids_sha256\":\"%s\"}\n",
           threads, n, bytes, nids, best, bytes / best / 1e6, n / best, hex);
    for (size_t i = 0; i < nb; i++) free(base[i]);
    free(base); free(blen); free(idx); free(out);
    dsq_tokenizer_free(t);
    return 0;
}

/* Helpers for the tokenizer unit tests: fixture files (plain or zstd),
 * JSON id arrays, the shipped vocabulary.  Paths are relative to the
 * repository root, where tests/run starts every test.  Header-only: each test binary
 * is built from one .c file. */
#ifndef DSQ_TOKFIX_H
#define DSQ_TOKFIX_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "err.h"
#include "sha256.h"
#include "tokenizer.h"

#define FIX_DIR "tests/fixtures/tokenizer/"


/* Whole file (decompressed when the name ends in .zst), NUL-terminated;
 * NULL with a message on stderr when missing. */
static inline char *fix_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "  cannot open %s\n", path); return NULL; }
    size_t cap = 1 << 16, n = 0, k;
    char *buf = xmalloc(cap);
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) { cap *= 2; buf = xrealloc(buf, cap); }
    }
    fclose(f);
    size_t pl = strlen(path);
    if (pl > 4 && strcmp(path + pl - 4, ".zst") == 0) {
        ZSTD_DStream *z = ZSTD_createDStream();
        ZSTD_initDStream(z);
        size_t ocap = n * 4 + 1024, on = 0;
        char *out = xmalloc(ocap);
        ZSTD_inBuffer in = {buf, n, 0};
        while (in.pos < in.size) {
            if (ocap - on < 65536) { ocap *= 2; out = xrealloc(out, ocap); }
            ZSTD_outBuffer ob = {out + on, ocap - on - 1, 0};
            size_t r = ZSTD_decompressStream(z, &ob, &in);
            if (ZSTD_isError(r)) { fprintf(stderr, "  %s: zstd: %s\n", path, ZSTD_getErrorName(r)); exit(1); }
            on += ob.pos;
        }
        ZSTD_freeDStream(z);
        free(buf);
        buf = out;
        n = on;
        cap = ocap;
    }
    buf = xrealloc(buf, n + 1);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Next line of a NUL-terminated buffer (modified in place); NULL at end. */
static inline char *fix_line(char **cursor) {
    char *s = *cursor;
    if (!s || !*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) { *nl = '\0'; *cursor = nl + 1; } else { *cursor = s + strlen(s); }
    return s;
}

/* A JSON array of integers as ids (caller frees v->ids). */
static inline void fix_ids(json_t *arr, dsq_ids *v) {
    v->n = 0;
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) dsq_ids_push(v, (int32_t)json_integer_value(x));
}

static inline int ids_equal(const dsq_ids *a, const dsq_ids *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0);
}

/* "1 2 3" (first max ids, "..." after) for messages. */
static inline const char *ids_str(const int32_t *ids, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && k + 16 < cap; i++) k += (size_t)snprintf(buf + k, cap - k, i ? " %d" : "%d", ids[i]);
    if (n && k + 16 >= cap) snprintf(buf + k, cap - k, " ...");
    return buf;
}

/* First 8 hex digits of sha256 of s[0..n). */
static inline void h8(const char *s, size_t n, char out[9]) {
    char hex[65];
    dsq_sha256_of(s, n, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

static inline dsq_tokenizer *fix_bert(void) {
    dsq_err e = {0};
    dsq_tokenizer *t;
    if (dsq_tokenizer_load(&t, "data/vocab/bert-base-uncased.txt", DSQ_TOK_WORDPIECE, &e)) {
        fprintf(stderr, "  %s\n", e.msg);
        return NULL;
    }
    return t;
}

#endif

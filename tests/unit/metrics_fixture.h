/* Shared by the metrics unit tests: reading the oracle fixtures
 * (tests/fixtures/metrics/NAME.jsonl.zst, one JSON value per line, through
 * `zstd -dc`) and the splitmix64 generator the oracle also uses. */
#ifndef DSQ_METRICS_FIXTURE_H
#define DSQ_METRICS_FIXTURE_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *p;
    char *line;
    size_t cap;
    long lineno;
    char path[512];
} fixture;

/* Opens tests/fixtures/metrics/<name>.zst under $DSQ_SRCDIR (default the
 * current directory, the repository root under tests/run). */
static inline int fixture_open(fixture *fx, const char *name) {
    const char *root = getenv("DSQ_SRCDIR");
    snprintf(fx->path, sizeof fx->path, "%s/tests/fixtures/metrics/%s.zst", root ? root : ".", name);
    fx->line = NULL;
    fx->cap = 0;
    fx->lineno = 0;
    FILE *f = fopen(fx->path, "rb");
    if (!f) { fprintf(stderr, "  cannot open fixture %s\n", fx->path); fx->p = NULL; return 0; }
    fclose(f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "zstd -dc '%s'", fx->path);
    fx->p = popen(cmd, "r");
    return fx->p != NULL;
}

/* Next JSON value (caller decrefs), or NULL at the end. */
static inline json_t *fixture_next(fixture *fx) {
    if (!fx->p) return NULL;
    ssize_t n = getline(&fx->line, &fx->cap, fx->p);
    if (n <= 0) return NULL;
    fx->lineno++;
    json_error_t e;
    json_t *v = json_loadb(fx->line, (size_t)n, 0, &e);
    if (!v) fprintf(stderr, "  %s:%ld: bad JSON: %s\n", fx->path, fx->lineno, e.text);
    return v;
}

/* Closes; returns 0 unless zstd failed. */
static inline int fixture_close(fixture *fx) {
    int rc = fx->p ? pclose(fx->p) : -1;
    free(fx->line);
    return rc;
}

static inline const char *jstr(json_t *v, size_t *len) {
    if (len) *len = json_string_length(v);
    return json_string_value(v);
}

static inline double jhex(json_t *v) { return strtod(json_string_value(v), NULL); }

static inline int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

typedef struct {
    uint64_t s;
} splitmix;

static inline uint64_t sm_next(splitmix *g) {
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* SplitMix.value(kind) of the oracle. */
static inline double sm_value(splitmix *g, int kind) {
    if (kind == 3) { sm_next(g); return -0.0; }
    double u = (double)(sm_next(g) >> 11) * 0x1p-53;
    if (kind == 0) return u;
    uint64_t z = sm_next(g);
    if (kind == 1) {
        double x = ldexp(u, (int)(z % 41) - 20);
        return (z & 64) ? -x : x;
    }
    return z % 4 == 0 ? 0.0 : u;
}

/* Prints a string with its non-printable bytes escaped, for failure lines. */
static inline void show(const char *s, size_t n) {
    fputc('"', stderr);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"') fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
    fputc('"', stderr);
}

#endif

#include "strutil.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "textscan.h"

void dsq_str_reserve(dsq_str *s, size_t extra) {
    if (s->n + extra + 1 <= s->cap) return;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->n + extra + 1) cap *= 2;
    s->s = xrealloc(s->s, cap);
    s->cap = cap;
}

void dsq_str_append(dsq_str *s, const char *p, size_t n) {
    dsq_str_reserve(s, n);
    memcpy(s->s + s->n, p, n);
    s->n += n;
    s->s[s->n] = '\0';
}

void dsq_str_free(dsq_str *s) {
    free(s->s);
    s->s = NULL;
    s->n = s->cap = 0;
}

dsq_span dsq_py_strip(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t a = 0, b = n, w;
    while (a < b && (w = dsq_space_len(u + a, b - a)) > 0) a += w;
    b = dsq_py_rstrip_len(s, a, b);
    dsq_span r = {s + a, (uint32_t)(b - a)};
    return r;
}

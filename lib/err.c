#include "err.h"

#include <stdarg.h>
#include <string.h>

const char *dsq_progname = "dsq";

int dsq_err_set(dsq_err *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

int dsq_err_prefix(dsq_err *e, const char *fmt, ...) {
    if (!e) return DSQ_EFAIL;
    char joined[2 * sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(joined, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof e->msg) n = sizeof e->msg - 1;
    /* "prefix: old", cut to the message size. */
    size_t old_len = strnlen(e->msg, sizeof e->msg - 1);
    memcpy(joined + n, ": ", 2);
    memcpy(joined + n + 2, e->msg, old_len);
    size_t total = (size_t)n + 2 + old_len;
    if (total >= sizeof e->msg) total = sizeof e->msg - 1;
    memcpy(e->msg, joined, total);
    e->msg[total] = '\0';
    return e->code;
}

_Noreturn void dsq_die_err(const dsq_err *e) {
    fprintf(stderr, "%s: %s\n", dsq_progname, e->msg);
    exit(e->code ? e->code : DSQ_EFAIL);
}

_Noreturn void dsq_die(int code, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", dsq_progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

void *dsq_malloc_or_die(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) dsq_die(DSQ_EFAIL, "out of memory (%zu bytes) at %s:%d", n, file, line);
    return p;
}

void *dsq_calloc_or_die(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) dsq_die(DSQ_EFAIL, "out of memory (%zu x %zu bytes) at %s:%d", n, size, file, line);
    return p;
}

void *dsq_realloc_or_die(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) dsq_die(DSQ_EFAIL, "out of memory (%zu bytes) at %s:%d", n, file, line);
    return q;
}

char *dsq_strdup_or_die(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = dsq_malloc_or_die(n, file, line);
    memcpy(p, s, n);
    return p;
}

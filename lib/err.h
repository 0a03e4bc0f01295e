/* Error reporting shared by the library and the tools.
 *
 * Library functions that can fail on bad input or I/O return an exit-code
 * style status (0 = success) and fill a dsq_err with a message that names
 * the place (file, line, field).  They never exit: tools decide that, and
 * fuzz harnesses need readers that return. */
#ifndef DSQ_ERR_H
#define DSQ_ERR_H

#include <stdio.h>
#include <stdlib.h>

/* Also included by the CUDA side (kernels/, C++). */
#ifdef __cplusplus
#define DSQ_NORETURN [[noreturn]]
extern "C" {
#else
#define DSQ_NORETURN _Noreturn
#endif

/* Exit codes, sysexits(3) style, as doc/design.md §1 fixes them. */
enum {
    DSQ_OK = 0,
    DSQ_EFAIL = 1,   /* anything else */
    DSQ_EUSAGE = 2,  /* bad command line */
    DSQ_EDATA = 65,  /* bad input data (EX_DATAERR) */
    DSQ_EIO = 74,    /* I/O error (EX_IOERR) */
};

typedef struct {
    int code;        /* one of the codes above; 0 when no error */
    char msg[1024];  /* human-readable, names file/line/field */
} dsq_err;

/* Sets e (when non-NULL) and returns code, so callers can
 * `return dsq_err_set(e, DSQ_EDATA, "%s:%d: ...", ...);`. */
int dsq_err_set(dsq_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message: "prefix: old message". Returns e->code. */
int dsq_err_prefix(dsq_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Program name used in diagnostics ("dsq-tokenize"). Set once by main. */
extern const char *dsq_progname;

/* Prints "prog: message" to stderr and exits with e->code (1 if 0). */
DSQ_NORETURN void dsq_die_err(const dsq_err *e);

/* Prints "prog: message" to stderr and exits with code. */
DSQ_NORETURN void dsq_die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Internal invariant / allocation failures: file and line, exit 1. */
#define DSQ_CHECK(cond)                                                      \
    do {                                                                     \
        if (!(cond)) dsq_die(DSQ_EFAIL, "internal error at %s:%d: %s",       \
                             __FILE__, __LINE__, #cond);                      \
    } while (0)

void *dsq_malloc_or_die(size_t n, const char *file, int line);
void *dsq_calloc_or_die(size_t n, size_t size, const char *file, int line);
void *dsq_realloc_or_die(void *p, size_t n, const char *file, int line);
char *dsq_strdup_or_die(const char *s, const char *file, int line);
#define xmalloc(n) dsq_malloc_or_die((n), __FILE__, __LINE__)
#define xcalloc(n, s) dsq_calloc_or_die((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) dsq_realloc_or_die((p), (n), __FILE__, __LINE__)
#define xstrdup(s) dsq_strdup_or_die((s), __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif

#endif

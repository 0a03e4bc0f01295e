#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"

_Noreturn void dsq_usage_error(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", dsq_progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", dsq_progname);
    exit(DSQ_EUSAGE);
}

long dsq_opt_long(const char *arg, const char *opt, long lo, long hi) {
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < lo || v > hi)
        dsq_usage_error("%s: '%s' is not an integer in [%ld, %ld]", opt, arg, lo, hi);
    return v;
}

#include "cli.h"

#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

double dsq_opt_double(const char *arg, const char *opt, double lo, double hi) {
    char *end;
    double v = strtod(arg, &end);
    if (!*arg || *end || !(v >= lo && v <= hi))
        dsq_usage_error("%s: '%s' is not a number in [%g, %g]", opt, arg, lo, hi);
    return v;
}

void dsq_opt_threads(const char *arg) {
    omp_set_num_threads((int)dsq_opt_long(arg, "--threads", 1, 4096));
}

void dsq_catch_stop_signals(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);  /* a closed terminal or ssh session */
}

int dsq_opt_bool(const char *arg, const char *opt) {
    if (!strcmp(arg, "True") || !strcmp(arg, "true") || !strcmp(arg, "1")) return 1;
    if (!strcmp(arg, "False") || !strcmp(arg, "false") || !strcmp(arg, "0")) return 0;
    dsq_usage_error("%s: '%s' is not True or False", opt, arg);
}

/* Command-line helpers shared by the tools' thin mains. */
#ifndef DSQ_CLI_H
#define DSQ_CLI_H

/* Prints "PROG: message\nTry 'PROG --help'." and exits with status 2. */
_Noreturn void dsq_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The integer value of option `opt` given as `arg`, in [lo, hi]; a usage
 * error otherwise. */
long dsq_opt_long(const char *arg, const char *opt, long lo, long hi);

/* The same for a real number (strtod's syntax). */
double dsq_opt_double(const char *arg, const char *opt, double lo, double hi);

/* -j/--threads N: OpenMP's thread count, N in [1, 4096]. */
void dsq_opt_threads(const char *arg);

/* SIGINT, SIGTERM and SIGHUP call handler (a long run's request to stop
 * cleanly). */
void dsq_catch_stop_signals(void (*handler)(int));

/* The reference's booleans: True/true/1 or False/false/0. */
int dsq_opt_bool(const char *arg, const char *opt);

#endif

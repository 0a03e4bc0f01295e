/* What this build of dsq contains, for --version. */
#ifndef DSQ_BUILDINFO_H
#define DSQ_BUILDINFO_H

#include <stdio.h>

/* Prints "PROG VERSION" and the build's backends (CPU; CUDA compiled in or
 * not, and the devices seen) to f. */
void dsq_print_version(FILE *f, const char *prog);

#endif

/* Output files that never look complete when they are not: a named output
 * is written to a temporary file beside it and renamed into place only by
 * dsq_out_commit; an exit before that (error, dsq_die) removes the
 * temporary. "-" means stdout, where truncation is signalled by the exit
 * status (and, for tensor streams, by the unterminated zstd frame). */
#ifndef DSQ_OUTFILE_H
#define DSQ_OUTFILE_H

#include <stdio.h>

#include "err.h"

typedef struct {
    FILE *f;
    char *path;  /* final name, NULL for stdout */
    char *tmp;   /* temporary name while open; NULL when written directly */
} dsq_out;

/* Opens path for writing ("-" or NULL → stdout).  A path that exists and
 * is not a regular file (/dev/null, a FIFO, a terminal) is written
 * directly: renaming a temporary over it would replace the device. */
int dsq_out_open(dsq_out *o, const char *path, dsq_err *e);
/* Flushes, fsyncs and renames into place (stdout: flush + error check). */
int dsq_out_commit(dsq_out *o, dsq_err *e);
/* Discards a named output (removes the temporary); no-op for stdout. */
void dsq_out_abort(dsq_out *o);
/* Name for messages: the path, or "<stdout>". */
const char *dsq_out_name(const dsq_out *o);

#endif

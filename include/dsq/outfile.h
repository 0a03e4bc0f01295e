/* Output files that never look complete when they are not: a named output
 * is written to a temporary file beside it and renamed into place only by
 * dsq_out_commit; an exit before that (error, dsq_die, a fatal signal)
 * removes the temporary. "-" means stdout, where truncation is signalled by the exit
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

/* DSQ_EUSAGE when the output path names the same file (device and inode)
 * as one of the n inputs (NULL and "-" entries skipped): it would be
 * replaced.  Outputs that are not regular files (/dev/null) pass. */
int dsq_out_refuse_input(const char *path, const char *const *inputs, size_t n, dsq_err *e);

/* A temporary file (tmp kept by the caller) to remove (add 1) at exit and
 * on every catchable signal whose default action would end the process,
 * or no longer (add 0, before it is renamed or freed).  The first add
 * installs those signals' handlers where the tool has not set its own. */
void dsq_out_track_tmp(char *tmp, int add);

/* Removes the temporaries in dir (.NAME.tmp.PID, .NAME.tmp.PID.N) whose
 * process is gone; returns how many. */
int dsq_out_remove_stale(const char *dir);

#endif

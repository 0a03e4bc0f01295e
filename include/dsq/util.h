/* Small helpers of the base layer: a monotonic clock, 16-float alignment
 * of parameter blocks, joining a directory and a file name, reading a
 * whole file, byte-order comparison of C strings for qsort, and how a long
 * run reports progress. */
#ifndef DSQ_UTIL_H
#define DSQ_UTIL_H

#include <stddef.h>

#include "err.h"

/* Seconds on the monotonic clock (for rates and ETAs only). */
double dsq_now_s(void);

/* n rounded up to a multiple of 16 (elements): parameter blocks start
 * 64-byte aligned inside one float buffer. */
static inline size_t dsq_align16(size_t n) { return (n + 15) & ~(size_t)15; }

/* "dir/name" (malloc'ed); name itself when it is an absolute path. */
char *dsq_path_join(const char *dir, const char *name);
/* The directory part of path (malloc'ed): "." without a slash, "/" for a
 * file in the root. */
char *dsq_path_dir(const char *path);

/* The whole file at `path`, NUL-terminated (malloc'ed; *len, when not
 * NULL, its size without the NUL); NULL with a DSQ_EIO error naming the
 * path, and `what` ("vocabulary") when given, if it cannot be read. */
char *dsq_read_file(const char *path, const char *what, size_t *len, dsq_err *e);

/* qsort comparator of char * elements: strcmp's byte order (Python's
 * sorted() on names). */
int dsq_cmp_str(const void *a, const void *b);

/* What a long run (dsq-train, dsq-sample) writes to stderr while it works. */
typedef enum {
    DSQ_PROGRESS_NONE,   /* nothing (-q; MPI ranks other than 0) */
    DSQ_PROGRESS_LINES,  /* a plain line now and then (stderr not a terminal) */
    DSQ_PROGRESS_BAR,    /* one line rewritten in place (stderr a terminal) */
} dsq_progress;

/* NONE when quiet, else BAR or LINES as stderr is a terminal or not. */
dsq_progress dsq_progress_for(int quiet);

#endif

/* Byte-string helpers under the text and metrics layers: a growable
 * NUL-terminated buffer, a slice of a caller-owned string, and Python's
 * str.strip() over UTF-8 (lib/base/textscan.h's notion of whitespace). */
#ifndef DSQ_STRUTIL_H
#define DSQ_STRUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Growable text (zero-initialise; free with dsq_str_free). */
typedef struct { char *s; size_t n, cap; } dsq_str;
void dsq_str_reserve(dsq_str *s, size_t extra);  /* room for n + extra + NUL */
void dsq_str_append(dsq_str *s, const char *p, size_t n);
void dsq_str_free(dsq_str *s);

/* A token: a slice of a caller-owned UTF-8 string. */
typedef struct {
    const char *s;
    uint32_t len;
} dsq_span;

/* Python str.strip() (Unicode whitespace). Returns the trimmed slice. */
dsq_span dsq_py_strip(const char *s, size_t n);

#endif

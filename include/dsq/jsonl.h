/* JSONL input and output (jansson).
 *
 * Reading rules (man 7 dsq): UTF-8, one JSON object per line, lines of any
 * length, CRLF accepted, the last line may lack its newline.  A blank or
 * whitespace-only line is an error: files of the same inputs are matched
 * line by line (MBR, diversity), so silently skipping lines would pair the
 * wrong examples.  Every error names the file and the 1-based line. */
#ifndef DSQ_JSONL_H
#define DSQ_JSONL_H

#include <jansson.h>
#include <stdio.h>

#include "err.h"

typedef struct dsq_jsonl_reader dsq_jsonl_reader;

/* Opens path ("-" = stdin). NULL and e filled (DSQ_EIO) on failure. */
dsq_jsonl_reader *dsq_jsonl_open(const char *path, dsq_err *e);
/* Wraps an open FILE (not closed by dsq_jsonl_close). */
dsq_jsonl_reader *dsq_jsonl_from_file(FILE *f, const char *name);
void dsq_jsonl_close(dsq_jsonl_reader *r);

/* Reads the next object. Returns 1 and a new reference in *obj (caller
 * json_decref's it), 0 at end of input, -1 on error (e filled: DSQ_EDATA
 * for malformed JSON / not an object / invalid UTF-8 / blank line,
 * DSQ_EIO for read errors). */
int dsq_jsonl_next(dsq_jsonl_reader *r, json_t **obj, dsq_err *e);

/* Reads the next raw line (without its newline / CR) for plain-text modes:
 * validates UTF-8 but not JSON. *line is valid until the next call.
 * Returns 1, 0 at end, -1 on error. Empty lines are allowed here. */
int dsq_jsonl_next_line(dsq_jsonl_reader *r, const char **line, size_t *len, dsq_err *e);

const char *dsq_jsonl_name(const dsq_jsonl_reader *r);  /* "<stdin>" for "-" */
long dsq_jsonl_lineno(const dsq_jsonl_reader *r);       /* line of last item */

/* Field access with messages "FILE:LINE: field 'src': missing" /
 * "... not a string". Returns the string (owned by obj) or NULL + e. */
const char *dsq_jsonl_string(const dsq_jsonl_reader *r, json_t *obj,
                             const char *field, size_t *len, dsq_err *e);

/* The same rules on one line already read (for parallel parsing of lines
 * read in order): 0 and *obj, or an error code with e filled. */
int dsq_jsonl_parse(const char *name, long lineno, const char *line, size_t len,
                    json_t **obj, dsq_err *e);
const char *dsq_json_string_field(const char *name, long lineno, json_t *obj,
                                  const char *field, size_t *len, dsq_err *e);

/* Checks that s[0..n) is well-formed UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF; utf8proc_iterate's rules). Returns the byte
 * offset of the first bad byte, or -1 when valid. */
long dsq_utf8_invalid_at(const char *s, size_t n);

/* Appends s[0..n) as a JSON string literal (quotes included) to f:
 * escapes '"', '\\' and control characters (\n \t \u00xx in lower case,
 * as Python's json.dumps), keeps UTF-8 as is.  Not jansson's dump: that
 * writes \u001F in upper case, and a json_t per string is 5x slower. */
void dsq_json_put_string(FILE *f, const char *s, size_t n);

#endif

/* A fast, strict reader of one JSONL line: checks that the line is one
 * JSON object (RFC 8259 grammar) and pulls out the string values of a few
 * wanted top-level keys, without building a tree, and where each value's
 * bytes are (dsq-mbr rewrites one in place).  The scorer and MBR read tens
 * of thousands of lines for three fields each: on decode lines this scans
 * about 650 MB/s, jansson's json_loadb and three lookups about 60 MB/s.
 *
 * Accepts what jansson's json_loadb(JSON_ALLOW_NUL) accepts for such lines
 * (checked by a differential fuzzer), except that numbers of any size are
 * valid, as in Python's json module.  Duplicate keys: the last one wins,
 * as in jansson and Python.  Nesting deeper than 2048 is an error. */
#ifndef DSQ_JSONSCAN_H
#define DSQ_JSONSCAN_H

#include <stddef.h>

#include "err.h"

typedef struct {
    const char *key;    /* wanted key (UTF-8, NUL-terminated) */
    /* results */
    int present;        /* the key occurs */
    int is_string;      /* ... and its (last) value is a string */
    char *val;          /* unescaped value, malloc'ed, NUL-terminated */
    size_t val_len;     /* bytes (the value may hold NUL) */
    size_t raw_start, raw_end;  /* the value's bytes in the line */
} dsq_jfield;

/* Scans line[0..len) (already valid UTF-8). Returns 0 with the fields
 * filled, or DSQ_EDATA with "NAME:LINE: ..." messages as dsq_jsonl_parse
 * gives them (blank line, invalid JSON at column C, not an object).
 * Callers free the val strings with dsq_jfields_free. */
int dsq_json_scan(const char *name, long lineno, const char *line, size_t len,
                  dsq_jfield *fields, int nfields, dsq_err *e);
void dsq_jfields_free(dsq_jfield *fields, int nfields);

/* (jsonl.c) What to do about a line that is not a JSON object, for the end of the
 * message: a UTF-8 byte-order mark, a JSON array, a document spread over
 * lines; "" when none of these. */
const char *dsq_jsonl_hint(const char *line, size_t len);

#endif

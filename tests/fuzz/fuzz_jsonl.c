/* libFuzzer harness: the JSONL reader (lib/io/jsonl.c) on arbitrary bytes.
 * Properties: no crash, leak or UB; errors carry DSQ_EDATA; the plain-line
 * reader and the UTF-8 check agree; dsq_json_put_string output parses back
 * (jansson) to the same string for every valid UTF-8 input. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"

static FILE *mem(const uint8_t *data, size_t size) {
    FILE *f = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
    if (!f) abort();
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dsq_err e = {0};
    int rc;

    /* Objects, with field access on each. */
    FILE *f = mem(data, size);
    dsq_jsonl_reader *r = dsq_jsonl_from_file(f, "fuzz.jsonl");
    json_t *obj;
    while ((rc = dsq_jsonl_next(r, &obj, &e)) == 1) {
        if (!json_is_object(obj)) abort();
        size_t len;
        const char *s = dsq_jsonl_string(r, obj, "src", &len, &e);
        if (s && dsq_utf8_invalid_at(s, len) >= 0) abort();
        json_decref(obj);
    }
    if (rc < 0 && e.code != DSQ_EDATA) abort();
    dsq_jsonl_close(r);
    fclose(f);

    /* Plain lines: each must be valid UTF-8 and free of newlines. */
    f = mem(data, size);
    r = dsq_jsonl_from_file(f, "fuzz.txt");
    const char *line;
    size_t len;
    while ((rc = dsq_jsonl_next_line(r, &line, &len, &e)) == 1) {
        if (dsq_utf8_invalid_at(line, len) >= 0 || memchr(line, '\n', len)) abort();
    }
    if (rc < 0 && e.code != DSQ_EDATA) abort();
    dsq_jsonl_close(r);
    fclose(f);

    /* The JSON string writer round-trips any valid UTF-8. */
    if (dsq_utf8_invalid_at((const char *)data, size) < 0) {
        char *out = NULL;
        size_t out_n = 0;
        FILE *w = open_memstream(&out, &out_n);
        dsq_json_put_string(w, (const char *)data, size);
        fclose(w);
        json_error_t jerr;
        json_t *v = json_loadb(out, out_n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!v || !json_is_string(v) || json_string_length(v) != size ||
            memcmp(json_string_value(v), data, size) != 0)
            abort();
        json_decref(v);
        free(out);
    }
    return 0;
}

/* libFuzzer harness: differential test of the fast JSONL field scanner
 * (lib/io/jsonscan.c) against the jansson path (dsq_jsonl_parse) on one line
 * of arbitrary bytes.
 * Properties: the scanner accepts exactly the lines jansson parses as an
 * object (json_loadb with JSON_ALLOW_NUL), except numbers too large for
 * jansson, which the scanner accepts as Python does; for accepted lines,
 * each wanted key's presence, string-ness and unescaped value agree with
 * jansson's (last duplicate wins). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#include "jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *line = (const char *)data;
    const char *nl = memchr(line, '\n', size);
    size_t len = nl ? (size_t)(nl - line) : size;
    if (dsq_utf8_invalid_at(line, len) >= 0) return 0;  /* the line reader stops these */

    dsq_jfield f[3] = {{.key = "src"}, {.key = "trg"}, {.key = "a"}};
    dsq_err e = {0};
    int scan_ok = dsq_json_scan("fuzz", 1, line, len, f, 3, &e) == 0;
    if (!scan_ok && e.code != DSQ_EDATA) abort();

    /* The reference is dsq_jsonl_parse: jansson, plus its rule that a raw
     * NUL byte (where jansson would stop reading) makes a line invalid. */
    json_error_t jerr = {0};
    json_t *v = memchr(line, '\0', len) ? NULL : json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    int jan_ok = v && json_is_object(v);
    if (jan_ok != scan_ok) {
        /* The one intended difference: jansson's number range. */
        if (!(scan_ok && !v && (strstr(jerr.text, "too big") || strstr(jerr.text, "overflow"))))
            abort();
    }
    if (jan_ok && scan_ok) {
        for (int k = 0; k < 3; k++) {
            json_t *x = json_object_get(v, f[k].key);
            if (!!x != f[k].present) abort();
            if (x && (json_is_string(x) != f[k].is_string)) abort();
            if (f[k].is_string && (json_string_length(x) != f[k].val_len ||
                                   memcmp(json_string_value(x), f[k].val, f[k].val_len) != 0))
                abort();
        }
    }
    json_decref(v);
    dsq_jfields_free(f, 3);
    return 0;
}

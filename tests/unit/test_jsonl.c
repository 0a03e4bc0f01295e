/* JSONL reader/writer: line rules, UTF-8 validation, error messages. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jsonl.h"
#include "jsonscan.h"

static dsq_jsonl_reader *reader_on(const char *text, size_t n) {
    FILE *f = fmemopen((void *)text, n, "rb");
    return dsq_jsonl_from_file(f, "t.jsonl");
}

/* Reads all objects; returns the count, or -(line) on error with e set. */
static long read_all(const char *text, size_t n, dsq_err *e) {
    FILE *f = fmemopen((void *)text, n, "rb");
    dsq_jsonl_reader *r = dsq_jsonl_from_file(f, "t.jsonl");
    json_t *o;
    long count = 0;
    int got;
    while ((got = dsq_jsonl_next(r, &o, e)) > 0) { json_decref(o); count++; }
    if (got < 0) count = -dsq_jsonl_lineno(r);
    dsq_jsonl_close(r);
    fclose(f);
    return count;
}

static void test_line_endings(void) {
    dsq_err e = {0};
    const char *a = "{\"src\":\"a\"}\n{\"src\":\"b\"}\n";
    EXPECT(read_all(a, strlen(a), &e) == 2, "two lines");
    const char *b = "{\"src\":\"a\"}\n{\"src\":\"b\"}";
    EXPECT(read_all(b, strlen(b), &e) == 2, "last line without newline");
    const char *c = "{\"src\":\"a\"}\r\n{\"src\":\"b\"}\r\n";
    EXPECT(read_all(c, strlen(c), &e) == 2, "CRLF");
    EXPECT(read_all("", 0, &e) == 0, "empty input is zero records");
}

static void test_blank_and_malformed(void) {
    dsq_err e = {0};
    const char *a = "{\"src\":\"a\"}\n\n{\"src\":\"b\"}\n";
    EXPECT(read_all(a, strlen(a), &e) == -2, "blank line 2 is an error");
    EXPECT(e.code == DSQ_EDATA && strstr(e.msg, "t.jsonl:2: blank line"), "msg: %s", e.msg);
    const char *b = "{\"src\":\"a\"}\n{\"src\":\"a\"}\n{\"src\": oops}\n";
    EXPECT(read_all(b, strlen(b), &e) == -3, "malformed at line 3");
    EXPECT(e.code == DSQ_EDATA && strstr(e.msg, "t.jsonl:3: invalid JSON"), "msg: %s", e.msg);
    const char *c = "[1,2]\n";
    EXPECT(read_all(c, strlen(c), &e) == -1, "array rejected");
    EXPECT(strstr(e.msg, "expected a JSON object") != NULL, "msg: %s", e.msg);
    const char *d = "{\"src\":\"a\"} {\"src\":\"b\"}\n";
    EXPECT(read_all(d, strlen(d), &e) == -1, "two objects on one line rejected");
    const char *w = "   \t \n";
    EXPECT(read_all(w, strlen(w), &e) == -1, "whitespace-only line rejected");
    /* jansson alone would stop at the NUL and accept the line. */
    const char nul[] = "{\"src\":\"a\"}\0 junk\n";
    EXPECT(read_all(nul, sizeof nul - 1, &e) == -1, "raw NUL byte rejected");
    EXPECT(strstr(e.msg, "t.jsonl:1: invalid JSON at column 12: raw NUL byte"), "msg: %s", e.msg);
}

static void test_utf8(void) {
    EXPECT(dsq_utf8_invalid_at("h\xc3\xa9llo", 6) == -1, "valid 2-byte");
    EXPECT(dsq_utf8_invalid_at("\xf0\x9f\x98\x80", 4) == -1, "valid 4-byte");
    EXPECT(dsq_utf8_invalid_at("ab\xff", 3) == 2, "0xff");
    EXPECT(dsq_utf8_invalid_at("a\xc0\x80", 3) == 1, "overlong NUL");
    EXPECT(dsq_utf8_invalid_at("\xe0\x80\xaf", 3) == 0, "overlong 3-byte");
    EXPECT(dsq_utf8_invalid_at("\xed\xa0\x80", 3) == 0, "surrogate");
    EXPECT(dsq_utf8_invalid_at("\xf4\x90\x80\x80", 4) == 0, "above U+10FFFF");
    EXPECT(dsq_utf8_invalid_at("ab\xe2\x82", 4) == 2, "truncated sequence");
    dsq_err e = {0};
    const char *a = "{\"src\":\"a\"}\n{\"src\":\"b\xfe\"}\n";
    EXPECT(read_all(a, strlen(a), &e) == -2, "invalid UTF-8 on line 2");
    EXPECT(strstr(e.msg, "t.jsonl:2: invalid UTF-8 at byte 10"), "msg: %s", e.msg);
}

static void test_long_line(void) {
    size_t n = 3u << 20;  /* a 3 MiB string field */
    char *text = malloc(n + 32);
    strcpy(text, "{\"src\":\"");
    size_t k = strlen(text);
    memset(text + k, 'x', n);
    strcpy(text + k + n, "\"}");
    dsq_jsonl_reader *r = reader_on(text, strlen(text));
    json_t *o;
    dsq_err e = {0};
    EXPECT(dsq_jsonl_next(r, &o, &e) == 1, "long line read: %s", e.msg);
    size_t len = 0;
    const char *s = dsq_jsonl_string(r, o, "src", &len, &e);
    EXPECT(s && len == n, "length %zu", len);
    json_decref(o);
    dsq_jsonl_close(r);
    free(text);
}

static void test_fields(void) {
    const char *a = "{\"src\":\"a\\u0000b\",\"trg\":3}\n";
    dsq_jsonl_reader *r = reader_on(a, strlen(a));
    json_t *o;
    dsq_err e = {0};
    EXPECT(dsq_jsonl_next(r, &o, &e) == 1, "read: %s", e.msg);
    size_t len = 0;
    const char *s = dsq_jsonl_string(r, o, "src", &len, &e);
    EXPECT(s && len == 3 && s[1] == '\0', "embedded NUL kept, len %zu", len);
    EXPECT(!dsq_jsonl_string(r, o, "trg", &len, &e), "number is not a string");
    EXPECT(strstr(e.msg, "t.jsonl:1: field 'trg': not a string"), "msg: %s", e.msg);
    EXPECT(!dsq_jsonl_string(r, o, "ref", &len, &e), "missing field");
    EXPECT(strstr(e.msg, "t.jsonl:1: field 'ref': missing"), "msg: %s", e.msg);
    json_decref(o);
    dsq_jsonl_close(r);
}

static void test_put_string(void) {
    /* Every byte 0x01..0x7f plus UTF-8, escaped, must parse back identical. */
    char in[200];
    size_t n = 0;
    for (int c = 1; c < 0x80; c++) in[n++] = (char)c;
    memcpy(in + n, "\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80", 9);
    n += 9;
    in[n++] = '\0';  /* embedded NUL too */
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    dsq_json_put_string(f, in, n);
    fclose(f);
    json_error_t jerr;
    json_t *v = json_loadb(buf, blen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    EXPECT(v && json_is_string(v), "parses: %s", jerr.text);
    if (v) {
        EXPECT(json_string_length(v) == n && memcmp(json_string_value(v), in, n) == 0,
               "round trip");
        json_decref(v);
    }
    EXPECT(strstr(buf, "\\n") && strstr(buf, "\\u001f") && strstr(buf, "\\\""), "escapes: %s", buf);
    free(buf);
}

static void test_open_errors(void) {
    dsq_err e = {0};
    dsq_jsonl_reader *r = dsq_jsonl_open("/nonexistent/x.jsonl", &e);
    EXPECT(!r && e.code == DSQ_EIO && strstr(e.msg, "/nonexistent/x.jsonl"), "msg: %s", e.msg);
}

/* Scans one line for "src"/"trg"; returns 0 or the error code. */
static int scan(const char *line, dsq_jfield f[2], dsq_err *e) {
    f[0] = (dsq_jfield){.key = "src"};
    f[1] = (dsq_jfield){.key = "trg"};
    return dsq_json_scan("t.jsonl", 7, line, strlen(line), f, 2, e);
}

static void test_scan_fields(void) {
    dsq_jfield f[2];
    dsq_err e = {0};
    EXPECT(scan("{\"src\": \"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\", \"x\": [1, {\"y\": null}]}", f, &e) == 0,
           "escapes: %s", e.msg);
    EXPECT(f[0].present && f[0].is_string && f[0].val_len == 14 &&
               memcmp(f[0].val, "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80", 14) == 0,
           "unescaped value (%zu bytes)", f[0].val_len);
    EXPECT(!f[1].present, "trg absent");
    dsq_jfields_free(f, 2);
    EXPECT(scan("{\"src\": 1, \"src\": \"last\", \"trg\": 3}", f, &e) == 0, "dup: %s", e.msg);
    EXPECT(f[0].is_string && strcmp(f[0].val, "last") == 0, "the last duplicate wins");
    EXPECT(f[1].present && !f[1].is_string, "number is present, not a string");
    EXPECT(f[1].raw_end - f[1].raw_start == 1, "raw span of 3");
    dsq_jfields_free(f, 2);
    EXPECT(scan("{\"\\u0073rc\": \"esc key\", \"trg\": \"a\\u0000b\"}", f, &e) == 0, "%s", e.msg);
    EXPECT(f[0].is_string && strcmp(f[0].val, "esc key") == 0, "escaped key matches");
    EXPECT(f[1].val_len == 3 && f[1].val[1] == '\0', "escaped NUL kept in a value");
    dsq_jfields_free(f, 2);
    EXPECT(scan("{\"src\": 123456789012345678901234567890, \"trg\": -1.5e+300}", f, &e) == 0,
           "big numbers are fine: %s", e.msg);
    dsq_jfields_free(f, 2);
    EXPECT(scan(" {} ", f, &e) == 0 && !f[0].present, "empty object");
}

static void test_scan_errors(void) {
    const char *bad[] = {
        "{\"src\": \"a\"", "{\"src\" \"a\"}", "{\"src\": \"a\",}", "{src: 1}",
        "{\"src\": 01}", "{\"src\": 1.}", "{\"src\": -}", "{\"src\": tru}",
        "{\"src\": \"\\x\"}", "{\"src\": \"\\ud800\"}", "{\"src\": \"\\udc00\"}",
        "{\"src\": \"a\tb\"}", "{\"src\": \"a\"} x", "{\"\\u0000\": 1}", "{\"a\": [1,]}",
        "{\"a\": NaN}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dsq_jfield f[2];
        dsq_err e = {0};
        EXPECT(scan(bad[i], f, &e) == DSQ_EDATA && strstr(e.msg, "t.jsonl:7: invalid JSON at column"),
               "%s -> %s", bad[i], e.msg);
        /* jansson (the other reader) refuses it too. */
        json_error_t jerr;
        json_t *v = json_loads(bad[i], JSON_ALLOW_NUL, &jerr);
        EXPECT(!v, "jansson accepted %s", bad[i]);
        json_decref(v);
    }
    dsq_jfield f[2];
    dsq_err e = {0};
    EXPECT(scan("[1, 2]", f, &e) == DSQ_EDATA && strstr(e.msg, "expected a JSON object"), "%s", e.msg);
    EXPECT(scan("  ", f, &e) == DSQ_EDATA && strstr(e.msg, "blank line"), "%s", e.msg);
    /* Depth: 2048 levels are fine, 2049 are not (jansson's limit). */
    for (int depth = 2048; depth <= 2049; depth++) {
        char *line = malloc(2 * depth + 16);
        size_t n = 0;
        line[n++] = '{';
        n += (size_t)sprintf(line + n, "\"a\":");
        for (int d = 1; d < depth; d++) line[n++] = '[';
        for (int d = 1; d < depth; d++) line[n++] = ']';
        line[n++] = '}';
        line[n] = '\0';
        int rc = scan(line, f, &e);
        json_error_t jerr;
        json_t *v = json_loads(line, 0, &jerr);
        EXPECT((rc == 0) == (v != NULL), "depth %d: scanner %d, jansson %s", depth, rc, v ? "ok" : jerr.text);
        EXPECT((rc == 0) == (depth == 2048), "depth %d: rc %d", depth, rc);
        json_decref(v);
        dsq_jfields_free(f, 2);
        free(line);
    }
}

int main(void) {
    RUN_TEST(test_line_endings);
    RUN_TEST(test_blank_and_malformed);
    RUN_TEST(test_utf8);
    RUN_TEST(test_long_line);
    RUN_TEST(test_fields);
    RUN_TEST(test_put_string);
    RUN_TEST(test_open_errors);
    RUN_TEST(test_scan_fields);
    RUN_TEST(test_scan_errors);
    TEST_MAIN_END();
}

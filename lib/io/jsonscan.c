#include "jsonscan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048

typedef struct {
    const char *s;
    size_t n, i;
    const char *why;  /* first error */
} scanner;

static void ws(scanner *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static int fail(scanner *p, const char *why) {
    if (!p->why) p->why = why;
    return -1;
}

static int hex4(const char *s, uint32_t *v) {
    uint32_t x = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        x <<= 4;
        if (c >= '0' && c <= '9') x |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') x |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') x |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *v = x;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Scans a string at p->i (the opening quote). With out != NULL, writes the
 * unescaped bytes there (room: the raw length suffices) and sets *out_len. */
static int string(scanner *p, char *out, size_t *out_len) {
    p->i++;  /* '"' */
    size_t w = 0;
    while (p->i < p->n) {
        /* Copy a run of plain bytes at once. */
        size_t start = p->i;
        while (p->i < p->n) {
            unsigned char c = (unsigned char)p->s[p->i];
            if (c == '"' || c == '\\' || c < 0x20) break;
            p->i++;
        }
        if (out) memcpy(out + w, p->s + start, p->i - start);
        w += p->i - start;
        if (p->i >= p->n) break;
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            if (out_len) *out_len = w;
            return 0;
        }
        if (c < 0x20) return fail(p, "control character in a string");
        /* backslash */
        if (p->i + 1 >= p->n) break;
        char x = p->s[p->i + 1];
        char simple = 0;
        switch (x) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return fail(p, "invalid escape");
        }
        if (x != 'u') {
            if (out) out[w] = simple;
            w++;
            p->i += 2;
            continue;
        }
        uint32_t cp, lo;
        if (p->i + 6 > p->n || hex4(p->s + p->i + 2, &cp)) return fail(p, "invalid \\u escape");
        p->i += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "invalid Unicode escape (lone low surrogate)");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->i + 6 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
                hex4(p->s + p->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return fail(p, "invalid Unicode escape (unpaired high surrogate)");
            p->i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        /* An escape is at least as long as its UTF-8 (6 bytes → ≤ 3, 12 → 4). */
        size_t k = out ? put_utf8(out + w, cp) : (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
        w += k;
    }
    return fail(p, "unterminated string");
}

static int digits(scanner *p) {
    size_t s = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    return p->i > s ? 0 : -1;
}

static int number(scanner *p) {
    if (p->s[p->i] == '-') p->i++;
    if (p->i >= p->n) return fail(p, "invalid number");
    if (p->s[p->i] == '0') p->i++;
    else if (digits(p)) return fail(p, "invalid number");
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (digits(p)) return fail(p, "invalid number");
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (digits(p)) return fail(p, "invalid number");
    }
    return 0;
}

static int literal(scanner *p, const char *word) {
    size_t l = strlen(word);
    if (p->i + l > p->n || memcmp(p->s + p->i, word, l) != 0) return fail(p, "invalid token");
    p->i += l;
    return 0;
}

/* Skips any value at p->i (after whitespace). */
static int value(scanner *p, int depth) {
    ws(p);
    if (p->i >= p->n) return fail(p, "unexpected end of line");
    char c = p->s[p->i];
    if (c == '"') return string(p, NULL, NULL);
    if (c == '-' || (c >= '0' && c <= '9')) return number(p);
    if (c == 't') return literal(p, "true");
    if (c == 'f') return literal(p, "false");
    if (c == 'n') return literal(p, "null");
    if (c != '{' && c != '[') return fail(p, "invalid token");
    if (depth >= MAX_DEPTH) return fail(p, "maximum parsing depth reached");
    char close = c == '{' ? '}' : ']';
    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
    for (;;) {
        if (c == '{') {
            ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "string or '}' expected");
            if (string(p, NULL, NULL)) return -1;
            ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return fail(p, "':' expected");
            p->i++;
        }
        if (value(p, depth + 1)) return -1;
        ws(p);
        if (p->i >= p->n) return fail(p, "unexpected end of line");
        if (p->s[p->i] == ',') { p->i++; continue; }
        if (p->s[p->i] == close) { p->i++; return 0; }
        return fail(p, c == '{' ? "',' or '}' expected" : "',' or ']' expected");
    }
}

/* A key in the line equal to `want` (keys may be escaped). */
static int key_is(const char *raw, size_t raw_len, const char *want, char *scratch) {
    size_t wl = strlen(want);
    if (!memchr(raw, '\\', raw_len)) return raw_len == wl && memcmp(raw, want, wl) == 0;
    scanner q = {.s = raw - 1, .n = raw_len + 2, .i = 0};  /* raw is inside quotes */
    size_t n = 0;
    if (string(&q, scratch, &n)) return 0;
    return n == wl && memcmp(scratch, want, wl) == 0;
}

int dsq_json_scan(const char *name, long lineno, const char *line, size_t len, dsq_jfield *fields,
                  int nfields, dsq_err *e) {
    for (int f = 0; f < nfields; f++) {
        fields[f].present = fields[f].is_string = 0;
        fields[f].val = NULL;
        fields[f].val_len = 0;
    }
    scanner p = {.s = line, .n = len};
    ws(&p);
    if (p.i == len)
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: blank line (every line must hold one JSON object)",
                           name, lineno);
    if (line[p.i] != '{') {
        /* Any other valid value is "not an object"; anything else invalid. */
        if (value(&p, 0) == 0 && (ws(&p), p.i == len))
            return dsq_err_set(e, DSQ_EDATA, "%s:%ld: expected a JSON object%s", name, lineno,
                               dsq_jsonl_hint(line, len));
        goto invalid;
    }
    p.i++;
    ws(&p);
    if (p.i < len && line[p.i] == '}') {
        p.i++;
    } else {
        char *scratch = NULL;
        for (;;) {
            ws(&p);
            if (p.i >= len || line[p.i] != '"') { fail(&p, "string or '}' expected"); break; }
            size_t k0 = p.i;
            if (string(&p, NULL, NULL)) break;
            size_t k1 = p.i;
            ws(&p);
            if (p.i >= len || line[p.i] != ':') { fail(&p, "':' expected"); break; }
            p.i++;
            ws(&p);
            const char *key = line + k0 + 1;
            size_t key_len = k1 - k0 - 2;
            if (memchr(key, '\\', key_len)) {
                /* jansson refuses keys holding NUL; so do we. */
                if (!scratch) scratch = xmalloc(len + 1);
                scanner q = {.s = key - 1, .n = key_len + 2};
                size_t n = 0;
                if (string(&q, scratch, &n) == 0 && memchr(scratch, '\0', n)) {
                    p.i = k0;
                    fail(&p, "NUL byte in object key");
                    break;
                }
            }
            int which = -1;
            for (int f = 0; f < nfields && which < 0; f++)
                if (key_is(key, key_len, fields[f].key, scratch)) which = f;
            size_t v0 = p.i;
            if (which >= 0 && p.i < len && line[p.i] == '"') {
                dsq_jfield *fd = &fields[which];
                free(fd->val);
                fd->val = xmalloc(len - p.i + 1);
                if (string(&p, fd->val, &fd->val_len)) break;
                fd->val[fd->val_len] = '\0';
                fd->is_string = 1;
            } else {
                if (value(&p, 1)) break;
                if (which >= 0) {
                    free(fields[which].val);
                    fields[which].val = NULL;
                    fields[which].is_string = 0;
                }
            }
            if (which >= 0) {
                fields[which].present = 1;
                fields[which].raw_start = v0;
                fields[which].raw_end = p.i;
            }
            ws(&p);
            if (p.i < len && line[p.i] == ',') { p.i++; continue; }
            if (p.i < len && line[p.i] == '}') { p.i++; break; }
            fail(&p, p.i < len ? "',' or '}' expected" : "unexpected end of line");
            break;
        }
        free(scratch);
        if (p.why) goto invalid;
    }
    ws(&p);
    if (p.i != len) {
        fail(&p, "end of line expected after the object");
        goto invalid;
    }
    return 0;
invalid:
    dsq_jfields_free(fields, nfields);
    return dsq_err_set(e, DSQ_EDATA, "%s:%ld: invalid JSON at column %zu: %s%s", name, lineno,
                       p.i + 1, p.why ? p.why : "invalid token", dsq_jsonl_hint(line, len));
}

void dsq_jfields_free(dsq_jfield *fields, int nfields) {
    for (int f = 0; f < nfields; f++) {
        free(fields[f].val);
        fields[f].val = NULL;
        fields[f].present = fields[f].is_string = 0;
    }
}

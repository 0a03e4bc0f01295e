#include "jsonl.h"

#include <errno.h>
#include <string.h>
#include <utf8proc.h>

#include "jsonscan.h"

struct dsq_jsonl_reader {
    FILE *f;
    int owns_file;
    char *name;
    char *line;       /* getline buffer */
    size_t line_cap;
    long lineno;      /* 1-based line of the last item returned */
};

dsq_jsonl_reader *dsq_jsonl_from_file(FILE *f, const char *name) {
    dsq_jsonl_reader *r = xcalloc(1, sizeof *r);
    r->f = f;
    r->name = xstrdup(name);
    return r;
}

dsq_jsonl_reader *dsq_jsonl_open(const char *path, dsq_err *e) {
    if (strcmp(path, "-") == 0) return dsq_jsonl_from_file(stdin, "<stdin>");
    FILE *f = fopen(path, "rb");
    if (!f) {
        dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    dsq_jsonl_reader *r = dsq_jsonl_from_file(f, path);
    r->owns_file = 1;
    return r;
}

void dsq_jsonl_close(dsq_jsonl_reader *r) {
    if (!r) return;
    if (r->owns_file) fclose(r->f);
    free(r->line);
    free(r->name);
    free(r);
}

const char *dsq_jsonl_name(const dsq_jsonl_reader *r) { return r->name; }
long dsq_jsonl_lineno(const dsq_jsonl_reader *r) { return r->lineno; }

long dsq_utf8_invalid_at(const char *s, size_t n) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {  /* most bytes: no call */
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k < 0) return (long)i;
        i += (size_t)k;
    }
    return -1;
}

/* Reads one physical line into r->line without its "\n" / "\r\n".
 * Returns 1, 0 at EOF, -1 on a read error. */
static int read_line(dsq_jsonl_reader *r, size_t *len, dsq_err *e) {
    errno = 0;
    ssize_t n = getline(&r->line, &r->line_cap, r->f);
    if (n < 0) {
        if (ferror(r->f))
            return dsq_err_set(e, DSQ_EIO, "%s:%ld: read error: %s", r->name,
                               r->lineno + 1, strerror(errno ? errno : EIO)), -1;
        return 0;
    }
    r->lineno++;
    if (n > 0 && r->line[n - 1] == '\n') n--;
    if (n > 0 && r->line[n - 1] == '\r') n--;
    r->line[n] = '\0';
    *len = (size_t)n;
    return 1;
}

int dsq_jsonl_next_line(dsq_jsonl_reader *r, const char **line, size_t *len, dsq_err *e) {
    int got = read_line(r, len, e);
    if (got <= 0) return got;
    long bad = dsq_utf8_invalid_at(r->line, *len);
    if (bad >= 0) {
        dsq_err_set(e, DSQ_EDATA, "%s:%ld: invalid UTF-8 at byte %ld", r->name, r->lineno, bad + 1);
        return -1;
    }
    *line = r->line;
    return 1;
}

int dsq_jsonl_parse(const char *name, long lineno, const char *line, size_t len,
                    json_t **obj, dsq_err *e) {
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
    if (k == len)
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: blank line (every line must hold one JSON object)",
                           name, lineno);
    /* jansson stops at a raw NUL byte and may accept what came before it;
     * a raw NUL is never valid JSON (escaped \u0000 in strings is). */
    const char *nul = memchr(line, '\0', len);
    if (nul)
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: invalid JSON at column %ld: raw NUL byte", name,
                           lineno, (long)(nul - line) + 1);
    json_error_t jerr;
    json_t *v = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    if (!v)
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: invalid JSON at column %d: %s%s", name, lineno,
                           jerr.column, jerr.text, dsq_jsonl_hint(line, len));
    if (!json_is_object(v)) {
        json_decref(v);
        return dsq_err_set(e, DSQ_EDATA, "%s:%ld: expected a JSON object%s", name, lineno,
                           dsq_jsonl_hint(line, len));
    }
    *obj = v;
    return 0;
}

int dsq_jsonl_next(dsq_jsonl_reader *r, json_t **obj, dsq_err *e) {
    size_t len;
    const char *line;
    int got = dsq_jsonl_next_line(r, &line, &len, e);
    if (got <= 0) return got;
    return dsq_jsonl_parse(r->name, r->lineno, line, len, obj, e) ? -1 : 1;
}

const char *dsq_json_string_field(const char *name, long lineno, json_t *obj, const char *field,
                                  size_t *len, dsq_err *e) {
    json_t *v = json_object_get(obj, field);
    if (!v) {
        dsq_err_set(e, DSQ_EDATA, "%s:%ld: field '%s': missing", name, lineno, field);
        return NULL;
    }
    if (!json_is_string(v)) {
        dsq_err_set(e, DSQ_EDATA, "%s:%ld: field '%s': not a string", name, lineno, field);
        return NULL;
    }
    if (len) *len = json_string_length(v);
    return json_string_value(v);
}

const char *dsq_jsonl_string(const dsq_jsonl_reader *r, json_t *obj, const char *field,
                             size_t *len, dsq_err *e) {
    return dsq_json_string_field(r->name, r->lineno, obj, field, len, e);
}

void dsq_json_put_string(FILE *f, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    putc('"', f);
    size_t run = 0;  /* start of the pending unescaped run */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        fwrite(s + run, 1, i - run, f);
        run = i + 1;
        putc('\\', f);
        switch (c) {
        case '"': putc('"', f); break;
        case '\\': putc('\\', f); break;
        case '\n': putc('n', f); break;
        case '\t': putc('t', f); break;
        case '\r': putc('r', f); break;
        case '\b': putc('b', f); break;
        case '\f': putc('f', f); break;
        default:
            fputs("u00", f);
            putc(hex[c >> 4], f);
            putc(hex[c & 15], f);
        }
    }
    fwrite(s + run, 1, n - run, f);
    putc('"', f);
}

const char *dsq_jsonl_hint(const char *line, size_t len) {
    size_t k = 0;
    if (len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
        return " (the line starts with a UTF-8 byte-order mark: remove it, e.g. "
               "sed -i '1s/^\\xEF\\xBB\\xBF//' FILE)";
    while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
    if (k < len && line[k] == '[')
        return " (a JSON array: JSONL holds one object per line; convert with jq -c '.[]')";
    if (k < len && line[k] == '{' && memchr(line, '}', len) == NULL)
        return " (an object spread over several lines? JSONL holds one per line; convert "
               "with jq -c .)";
    return "";
}

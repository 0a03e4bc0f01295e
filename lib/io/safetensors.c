#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonl.h"
#include "outfile.h"

/* ---- small helpers ------------------------------------------------------ */

static const char *where_or(const char *where) { return where ? where : "safetensors"; }

static uint64_t get_le64(const void *p) {
    const unsigned char *b = p;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static void put_le64(void *p, uint64_t v) {
    unsigned char *b = p;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* A name fit for a message: at most ~80 bytes, control characters shown as
 * '?', cut on a UTF-8 character boundary. */
typedef struct { char s[100]; } shown;
static shown show(const char *s) {
    shown o;
    size_t n = strlen(s), k = n > 80 ? 80 : n;
    while (k < n && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    for (size_t i = 0; i < k; i++)
        o.s[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    strcpy(o.s + k, k < n ? "..." : "");
    return o;
}

/* "[2, 3]" for messages. */
typedef struct { char s[200]; } shape_str;
static shape_str show_shape(int ndim, const int64_t *shape) {
    shape_str o;
    size_t p = 0;
    o.s[p++] = '[';
    for (int i = 0; i < ndim && p < sizeof o.s - 24; i++)
        p += (size_t)snprintf(o.s + p, sizeof o.s - p, "%s%" PRId64, i ? ", " : "", shape[i]);
    snprintf(o.s + p, sizeof o.s - p, "]");
    return o;
}

/* ---- encoding ----------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap ? 2 * b->cap : 256;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void buf_str(buf *b, const char *s) { buf_put(b, s, strlen(s)); }
static void buf_u64(buf *b, uint64_t v) {
    char t[24];
    buf_put(b, t, (size_t)snprintf(t, sizeof t, "%" PRIu64, v));
}

/* A JSON string literal escaped the way serde_json (the safetensors
 * library) does it, so headers can match the Python library's bytes. */
static void buf_json_string(buf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        switch (*p) {
        case '"': buf_put(b, "\\\"", 2); break;
        case '\\': buf_put(b, "\\\\", 2); break;
        case '\b': buf_put(b, "\\b", 2); break;
        case '\f': buf_put(b, "\\f", 2); break;
        case '\n': buf_put(b, "\\n", 2); break;
        case '\r': buf_put(b, "\\r", 2); break;
        case '\t': buf_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                buf_put(b, esc, 6);
            } else {
                buf_put(b, p, 1);
            }
        }
    }
    buf_put(b, "\"", 1);
}

/* The Python library's data order: dtypes by descending rank (its Rust
 * enum order), which puts wider types first. */
static int dtype_rank(dsq_dtype t) {
    static const int rank[DSQ_DTYPE_COUNT] = {
        [DSQ_BOOL] = 0, [DSQ_U8] = 1,  [DSQ_I8] = 2,   [DSQ_I16] = 3,  [DSQ_U16] = 4,
        [DSQ_F16] = 5,  [DSQ_BF16] = 6, [DSQ_I32] = 7, [DSQ_U32] = 8,  [DSQ_F32] = 9,
        [DSQ_F64] = 10, [DSQ_I64] = 11, [DSQ_U64] = 12,
    };
    return rank[t];
}

static int cmp_layout(const void *a, const void *b, void *rec) {
    const dsq_record *r = rec;
    const dsq_tensor *x = &r->tensors[*(const int *)a];
    const dsq_tensor *y = &r->tensors[*(const int *)b];
    int rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}
static int cmp_name(const void *a, const void *b, void *rec) {
    const dsq_record *r = rec;
    return strcmp(r->tensors[*(const int *)a].name, r->tensors[*(const int *)b].name);
}

static int check_utf8(const char *s, const char *what, dsq_err *e) {
    if (dsq_utf8_invalid_at(s, strlen(s)) >= 0)
        return dsq_err_set(e, DSQ_EDATA, "safetensors: %s '%s' is not valid UTF-8", what, show(s).s);
    return 0;
}

int dsq_st_encode_header(const dsq_record *r, void **hdr, size_t *hdr_size,
                         int **order, dsq_err *e) {
    *hdr = NULL;
    *order = NULL;
    *hdr_size = 0;
    for (int i = 0; i < r->n_tensors; i++) {
        const dsq_tensor *t = &r->tensors[i];
        if (check_utf8(t->name, "tensor name", e)) return DSQ_EDATA;
        if (strcmp(t->name, "__metadata__") == 0)
            return dsq_err_set(e, DSQ_EDATA, "safetensors: a tensor cannot be named '__metadata__'");
    }
    for (int i = 0; i < r->n_meta; i++)
        if (check_utf8(r->meta[i].key, "metadata key", e) ||
            check_utf8(r->meta[i].value, "metadata value", e))
            return DSQ_EDATA;

    int *ord = xmalloc((size_t)(r->n_tensors ? r->n_tensors : 1) * sizeof *ord);
    for (int i = 0; i < r->n_tensors; i++) ord[i] = i;
    qsort_r(ord, (size_t)r->n_tensors, sizeof *ord, cmp_name, (void *)r);
    for (int i = 1; i < r->n_tensors; i++)
        if (strcmp(r->tensors[ord[i]].name, r->tensors[ord[i - 1]].name) == 0) {
            dsq_err_set(e, DSQ_EDATA, "safetensors: two tensors named '%s'",
                        show(r->tensors[ord[i]].name).s);
            free(ord);
            return DSQ_EDATA;
        }
    qsort_r(ord, (size_t)r->n_tensors, sizeof *ord, cmp_layout, (void *)r);

    buf b = {0};
    buf_put(&b, "\0\0\0\0\0\0\0\0{", 9);  /* length filled in below */
    int first = 1;
    if (r->n_meta > 0) {
        buf_str(&b, "\"__metadata__\":{");
        for (int i = 0; i < r->n_meta; i++) {
            if (i) buf_put(&b, ",", 1);
            buf_json_string(&b, r->meta[i].key);
            buf_put(&b, ":", 1);
            buf_json_string(&b, r->meta[i].value);
        }
        buf_put(&b, "}", 1);
        first = 0;
    }
    uint64_t off = 0;
    for (int k = 0; k < r->n_tensors; k++) {
        const dsq_tensor *t = &r->tensors[ord[k]];
        if (!first) buf_put(&b, ",", 1);
        first = 0;
        buf_json_string(&b, t->name);
        buf_str(&b, ":{\"dtype\":\"");
        buf_str(&b, dsq_dtype_name(t->dtype));
        buf_str(&b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) buf_put(&b, ",", 1);
            buf_u64(&b, (uint64_t)t->shape[d]);
        }
        buf_str(&b, "],\"data_offsets\":[");
        buf_u64(&b, off);
        buf_put(&b, ",", 1);
        off += t->nbytes;
        buf_u64(&b, off);
        buf_str(&b, "]}");
    }
    buf_put(&b, "}", 1);
    while (b.n % 8) buf_put(&b, " ", 1);
    put_le64(b.p, (uint64_t)(b.n - 8));
    *hdr = b.p;
    *hdr_size = b.n;
    *order = ord;
    return 0;
}

int dsq_st_encode(const dsq_record *r, void **out, size_t *out_size, dsq_err *e) {
    void *hdr;
    size_t hn;
    int *ord;
    *out = NULL;
    *out_size = 0;
    int rc = dsq_st_encode_header(r, &hdr, &hn, &ord, e);
    if (rc) return rc;
    size_t total = hn;
    for (int i = 0; i < r->n_tensors; i++) total += r->tensors[i].nbytes;
    char *p = xrealloc(hdr, total);
    size_t at = hn;
    for (int k = 0; k < r->n_tensors; k++) {
        const dsq_tensor *t = &r->tensors[ord[k]];
        if (t->nbytes) memcpy(p + at, t->data, t->nbytes);
        at += t->nbytes;
    }
    free(ord);
    *out = p;
    *out_size = total;
    return 0;
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct {
    const char *name;  /* owned by the parsed JSON */
    dsq_dtype dtype;
    int ndim;
    int64_t shape[DSQ_MAX_DIMS];
    uint64_t begin, end;
} st_entry;

typedef struct {
    json_t *root;
    st_entry *ent;      /* in header order */
    int n_ent;
    json_t *meta;       /* borrowed from root, or NULL */
    uint64_t data_len;  /* bytes the tensors cover */
} st_header;

static void header_free(st_header *h) {
    json_decref(h->root);
    free(h->ent);
    memset(h, 0, sizeof *h);
}

/* A non-negative JSON integer. */
static int get_uint(json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_entry(const char *where, const char *name, json_t *v, st_entry *t,
                       uint64_t data_len, int data_len_known, dsq_err *e) {
    shown nm_ = show(name);
    const char *nm = nm_.s;
    if (!json_is_object(v))
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': entry is not a JSON object", where, nm);
    const char *key;
    json_t *f;
    json_object_foreach(v, key, f) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': unknown field '%s'", where, nm,
                               show(key).s);
    }
    memset(t, 0, sizeof *t);
    t->name = name;

    json_t *dt = json_object_get(v, "dtype");
    if (!dt) return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': missing field 'dtype'", where, nm);
    if (!json_is_string(dt))
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': dtype is not a string", where, nm);
    if (dsq_dtype_parse(json_string_value(dt), &t->dtype))
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': unknown dtype '%s'", where, nm,
                           show(json_string_value(dt)).s);

    json_t *sh = json_object_get(v, "shape");
    if (!sh) return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': missing field 'shape'", where, nm);
    if (!json_is_array(sh))
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': shape is not an array", where, nm);
    if (json_array_size(sh) > DSQ_MAX_DIMS)
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': shape has %zu dimensions (at most %d)",
                           where, nm, json_array_size(sh), DSQ_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    /* Byte size with overflow checks: safetensors sizes are u64 but offsets
     * here are JSON integers (< 2^63), so anything larger cannot fit. */
    uint64_t nbytes = dsq_dtype_size(t->dtype);
    int overflow = 0;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim;
        if (get_uint(json_array_get(sh, (size_t)d), &dim))
            return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                               where, nm, d);
        t->shape[d] = (int64_t)dim;
        if (dim && nbytes > (uint64_t)INT64_MAX / dim) overflow = 1;
        else nbytes *= dim;
    }
    /* A zero dim makes the size 0 whatever the other dims. */
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] == 0) overflow = 0, nbytes = 0;
    if (overflow)
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': shape %s of %s overflows the size limit",
                           where, nm, show_shape(t->ndim, t->shape).s, dsq_dtype_name(t->dtype));

    json_t *of = json_object_get(v, "data_offsets");
    if (!of)
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': missing field 'data_offsets'", where, nm);
    if (!json_is_array(of) || json_array_size(of) != 2 ||
        get_uint(json_array_get(of, 0), &t->begin) || get_uint(json_array_get(of, 1), &t->end))
        return dsq_err_set(e, DSQ_EDATA,
                           "%s: tensor '%s': data_offsets is not a pair of non-negative integers",
                           where, nm);
    if (t->end < t->begin)
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                           "] end before they begin", where, nm, t->begin, t->end);
    if (data_len_known && t->end > data_len)
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                           "] exceed the %" PRIu64 "-byte data section", where, nm, t->begin,
                           t->end, data_len);
    if (t->end - t->begin != nbytes)
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                           "] hold %" PRIu64 " bytes but shape %s of %s needs %" PRIu64, where,
                           nm, t->begin, t->end, t->end - t->begin,
                           show_shape(t->ndim, t->shape).s, dsq_dtype_name(t->dtype), nbytes);
    return 0;
}

static int cmp_offsets(const void *a, const void *b) {
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Parses and validates a JSON header of n bytes.  data_len_known: the data
 * section's size is data_len and the tensors must cover exactly it;
 * otherwise the size is what the tensors cover (h->data_len). */
static int parse_header(const char *json, size_t n, uint64_t data_len, int data_len_known,
                        const char *where, st_header *h, dsq_err *e) {
    memset(h, 0, sizeof *h);
    long bad = dsq_utf8_invalid_at(json, n);
    if (bad >= 0)
        return dsq_err_set(e, DSQ_EDATA, "%s: header is not valid UTF-8 (byte %ld of the JSON)",
                           where, bad + 1);
    json_error_t jerr;
    h->root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!h->root)
        return dsq_err_set(e, DSQ_EDATA, "%s: header is not valid JSON: %s (byte %d of the JSON)",
                           where, jerr.text, jerr.position);
    if (!json_is_object(h->root)) {
        header_free(h);
        return dsq_err_set(e, DSQ_EDATA, "%s: header is not a JSON object", where);
    }
    h->ent = xmalloc((json_object_size(h->root) + 1) * sizeof *h->ent);
    const char *key;
    json_t *v;
    json_object_foreach(h->root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                header_free(h);
                return dsq_err_set(e, DSQ_EDATA, "%s: __metadata__ is not a JSON object", where);
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) {
                    dsq_err_set(e, DSQ_EDATA, "%s: __metadata__ value of '%s' is not a string",
                                where, show(mk).s);
                    header_free(h);
                    return DSQ_EDATA;
                }
            }
            h->meta = v;
            continue;
        }
        if (parse_entry(where, key, v, &h->ent[h->n_ent], data_len, data_len_known, e)) {
            header_free(h);
            return DSQ_EDATA;
        }
        h->n_ent++;
    }

    /* safetensors requires the tensors to tile the data section: sorted by
     * offsets, each begins where the previous ended (empty tensors may sit
     * at any boundary), the first at 0, the last at the end. */
    st_entry **by = xmalloc((size_t)(h->n_ent + 1) * sizeof *by);
    for (int i = 0; i < h->n_ent; i++) by[i] = &h->ent[i];
    qsort(by, (size_t)h->n_ent, sizeof *by, cmp_offsets);
    uint64_t at = 0;
    for (int i = 0; i < h->n_ent; i++) {
        if (by[i]->begin < at) {
            dsq_err_set(e, DSQ_EDATA, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] overlap tensor '%s' [%" PRIu64 ", %" PRIu64 "]", where,
                        show(by[i]->name).s, by[i]->begin, by[i]->end, show(by[i - 1]->name).s,
                        by[i - 1]->begin, by[i - 1]->end);
            goto fail;
        }
        if (by[i]->begin > at) {
            dsq_err_set(e, DSQ_EDATA, "%s: data bytes [%" PRIu64 ", %" PRIu64
                        ") belong to no tensor (before tensor '%s')", where, at, by[i]->begin,
                        show(by[i]->name).s);
            goto fail;
        }
        at = by[i]->end;
    }
    if (data_len_known && at != data_len) {
        dsq_err_set(e, DSQ_EDATA, "%s: data section has %" PRIu64
                    " bytes but the tensors cover %" PRIu64, where, data_len, at);
        goto fail;
    }
    free(by);
    h->data_len = at;
    return 0;
fail:
    free(by);
    header_free(h);
    return DSQ_EDATA;
}

/* Checks the 8-byte length against the limit and the bytes available. */
static int check_len(uint64_t n, uint64_t avail, const char *where, const char *avail_what,
                     dsq_err *e) {
    if (n > DSQ_ST_MAX_HEADER)
        return dsq_err_set(e, DSQ_EDATA, "%s: header length %" PRIu64
                           " exceeds the limit of %" PRIu64 " bytes", where, n, DSQ_ST_MAX_HEADER);
    if (n > avail)
        return dsq_err_set(e, DSQ_EDATA, "%s: header length %" PRIu64 " exceeds the %" PRIu64
                           " bytes %s", where, n, avail, avail_what);
    return 0;
}

/* Appends the parsed metadata to r (keys are unique: duplicates were
 * rejected by the parser, so no per-key search). */
static void add_meta(dsq_record *r, json_t *meta) {
    if (!meta) return;
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (r->n_meta == r->cap_meta) {
            r->cap_meta = r->cap_meta ? 2 * r->cap_meta : 8;
            r->meta = xrealloc(r->meta, (size_t)r->cap_meta * sizeof *r->meta);
        }
        r->meta[r->n_meta].key = xstrdup(k);
        r->meta[r->n_meta].value = xstrdup(json_string_value(v));
        r->n_meta++;
    }
}

int dsq_st_decode(dsq_record *r, const void *blob, size_t size, const char *where, dsq_err *e) {
    where = where_or(where);
    dsq_record_clear(r);
    if (size < 8)
        return dsq_err_set(e, DSQ_EDATA, "%s: %zu bytes are too few for a safetensors blob "
                           "(8-byte header length)", where, size);
    uint64_t n = get_le64(blob);
    if (check_len(n, size - 8, where, "that follow it", e)) return DSQ_EDATA;
    st_header h;
    const char *json = (const char *)blob + 8;
    if (parse_header(json, n, size - 8 - n, 1, where, &h, e)) return DSQ_EDATA;
    const char *data = json + n;
    for (int i = 0; i < h.n_ent; i++) {
        const st_entry *t = &h.ent[i];
        dsq_tensor *x = dsq_record_add_owned(r, t->name, t->dtype, t->ndim, t->shape,
                                             xmalloc(t->end - t->begin));
        if (x->nbytes) memcpy(x->data, data + t->begin, x->nbytes);
    }
    add_meta(r, h.meta);
    header_free(&h);
    return 0;
}

int dsq_st_header_total(const void *prefix_and_header, size_t avail, uint64_t *total_size,
                        const char *where, dsq_err *e) {
    where = where_or(where);
    if (avail < 8)
        return dsq_err_set(e, DSQ_EDATA, "%s: %zu bytes are too few for the 8-byte header length",
                           where, avail);
    uint64_t n = get_le64(prefix_and_header);
    if (check_len(n, avail - 8, where, "available", e)) return DSQ_EDATA;
    st_header h;
    if (parse_header((const char *)prefix_and_header + 8, n, 0, 0, where, &h, e))
        return DSQ_EDATA;
    *total_size = 8 + n + h.data_len;
    header_free(&h);
    return 0;
}

/* ---- files -------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int dsq_st_write_file(const char *path, const dsq_record *r, dsq_err *e) {
    void *hdr;
    size_t hn;
    int *ord;
    int rc = dsq_st_encode_header(r, &hdr, &hn, &ord, e);
    if (rc) return dsq_err_prefix(e, "%s", path);

    /* Temporary beside the target ("dir/.name.tmp.PID.N") so the rename is
     * atomic; O_EXCL with a counter avoids clobbering anything. */
    static unsigned counter;
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    size_t tn = strlen(path) + 64;
    char *tmp = xmalloc(tn);
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(tmp, tn, "%.*s.%s.tmp.%ld.%u", dir_len, path, path + dir_len, (long)getpid(),
                 counter++);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        rc = dsq_err_set(e, DSQ_EIO, "%s: cannot create a temporary file: %s", path, strerror(errno));
        goto out;
    }
    dsq_out_track_tmp(tmp, 1);
    int ok = write_all(fd, hdr, hn) == 0;
    for (int k = 0; ok && k < r->n_tensors; k++)
        ok = write_all(fd, r->tensors[ord[k]].data, r->tensors[ord[k]].nbytes) == 0;
    if (ok) ok = fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) ok = 0, err = errno;
    if (ok && rename(tmp, path) != 0) ok = 0, err = errno;
    dsq_out_track_tmp(tmp, 0);
    if (!ok) {
        unlink(tmp);
        rc = dsq_err_set(e, DSQ_EIO, "%s: write error: %s", path, strerror(err));
        goto out;
    }
    /* Make the rename itself durable (best effort: some file systems
     * refuse fsync on directories). */
    char *dir = dir_len ? strndup(path, (size_t)dir_len) : xstrdup(".");
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(dir);
out:
    free(tmp);
    free(hdr);
    free(ord);
    return rc;
}

static int read_exact(FILE *f, void *p, size_t n, const char *path, const char *what, dsq_err *e) {
    if (n && fread(p, 1, n, f) != n) {
        if (ferror(f))
            return dsq_err_set(e, DSQ_EIO, "%s: read error: %s", path, strerror(errno));
        return dsq_err_set(e, DSQ_EDATA, "%s: file ends inside the %s", path, what);
    }
    return 0;
}

/* Non-regular files (pipes): slurp, then decode. */
static int read_slurp(FILE *f, const char *path, dsq_record *r, dsq_err *e) {
    size_t n = 0, cap = 1 << 16;
    char *p = xmalloc(cap);
    for (;;) {
        if (n == cap) p = xrealloc(p, cap *= 2);
        size_t k = fread(p + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    int rc = ferror(f) ? dsq_err_set(e, DSQ_EIO, "%s: read error: %s", path, strerror(errno))
                       : dsq_st_decode(r, p, n, path, e);
    free(p);
    return rc;
}

int dsq_st_read_file(const char *path, dsq_record *r, dsq_err *e) {
    dsq_record_clear(r);
    FILE *f = fopen(path, "rb");
    if (!f) return dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        int rc = read_slurp(f, path, r, e);
        fclose(f);
        return rc;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    unsigned char pre[8];
    char *json = NULL;
    st_entry **by = NULL;
    st_header h = {0};
    int rc;
    if (fsize < 8) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: %" PRIu64 " bytes are too few for a safetensors file "
                         "(8-byte header length)", path, fsize);
        goto out;
    }
    if ((rc = read_exact(f, pre, 8, path, "header length", e))) goto out;
    uint64_t n = get_le64(pre);
    if ((rc = check_len(n, fsize - 8, path, "of the rest of the file", e))) goto out;
    json = xmalloc(n + 1);
    if ((rc = read_exact(f, json, n, path, "header", e))) goto out;
    /* Everything is validated against the file size before any tensor
     * buffer is allocated. */
    if ((rc = parse_header(json, n, fsize - 8 - n, 1, path, &h, e))) goto out;
    for (int i = 0; i < h.n_ent; i++) {
        const st_entry *t = &h.ent[i];
        dsq_record_add_owned(r, t->name, t->dtype, t->ndim, t->shape, xmalloc(t->end - t->begin));
    }
    /* Tensors tile the data section, so reading them in offset order reads
     * the file front to back. */
    by = xmalloc((size_t)(h.n_ent + 1) * sizeof *by);
    for (int i = 0; i < h.n_ent; i++) by[i] = &h.ent[i];
    qsort(by, (size_t)h.n_ent, sizeof *by, cmp_offsets);
    for (int k = 0; k < h.n_ent; k++) {
        dsq_tensor *x = &r->tensors[by[k] - h.ent];
        if ((rc = read_exact(f, x->data, x->nbytes, path, "tensor data", e))) goto out;
    }
    add_meta(r, h.meta);
    if (fgetc(f) != EOF) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: file grew while being read", path);
        goto out;
    }
out:
    if (rc) dsq_record_clear(r);
    header_free(&h);
    free(by);
    free(json);
    fclose(f);
    return rc;
}

/* Tensor records, safetensors blobs/files and tensor streams (lib/io/tensor.c,
 * lib/io/safetensors.c, lib/io/stream.c).
 *
 * Without arguments: the unit tests (PASS/FAIL lines).  With a mode
 * argument it is the dsq side of tests/oracles/safetensors_interop.py:
 *   dump-file PATH | dump-stream PATH   one JSON line per record (dtype,
 *                                       shape, hex bytes, metadata)
 *   copy-file IN OUT                    safetensors file -> dsq -> file
 *   files-to-stream OUT IN...           safetensors files -> stream records
 *   write-examples OUT N L              an examples record (known values)
 * Errors go to stderr with the library's exit code. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "check.h"
#include "err.h"
#include "safetensors.h"
#include "stream.h"
#include "tensor.h"

/* ---- fixtures ----------------------------------------------------------- */

/* The examples record of man 5 dsq-stream, with values from (row, col). */
static void make_examples(dsq_record *r, int n, int L, int base) {
    dsq_record_init(r);
    int64_t s2[2] = {n, L}, s1[1] = {n};
    dsq_tensor *ids = dsq_record_add(r, "input_ids", DSQ_I32, 2, s2, NULL);
    dsq_tensor *mask = dsq_record_add(r, "input_mask", DSQ_U8, 2, s2, NULL);
    dsq_tensor *idx = dsq_record_add(r, "index", DSQ_I64, 1, s1, NULL);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < L; j++) {
            ((int32_t *)ids->data)[i * L + j] = (base + i) * 1000 + j;
            ((uint8_t *)mask->data)[i * L + j] = j >= L / 2;
        }
        ((int64_t *)idx->data)[i] = base + i;
    }
    char buf[32];
    dsq_record_set_meta(r, "dsq_kind", "examples");
    snprintf(buf, sizeof buf, "%d", L);
    dsq_record_set_meta(r, "seq_len", buf);
    dsq_record_set_meta(r, "tokenizer", "wordpiece");
    dsq_record_set_meta(r, "vocab_size", "30522");
}

/* Every dtype, a 0-d tensor, empty tensors, awkward names and metadata. */
static void make_mixed(dsq_record *r, int seed) {
    dsq_record_init(r);
    for (int t = 0; t < DSQ_DTYPE_COUNT; t++) {
        char name[32];
        snprintf(name, sizeof name, "t_%s", dsq_dtype_name((dsq_dtype)t));
        int64_t shape[2] = {3, 2 + t % 3};
        dsq_tensor *x = dsq_record_add(r, name, (dsq_dtype)t, 2, shape, NULL);
        for (size_t i = 0; i < x->nbytes; i++)
            ((unsigned char *)x->data)[i] = (unsigned char)(i * 37 + (size_t)t * 11 + (size_t)seed);
    }
    int32_t scalar = -7 - seed;
    dsq_record_add(r, "scalar", DSQ_I32, 0, NULL, &scalar);
    int64_t e1[1] = {0}, e3[3] = {4, 0, 5};
    dsq_record_add(r, "empty", DSQ_F32, 1, e1, NULL);
    dsq_record_add(r, "empty3", DSQ_I64, 3, e3, NULL);
    int64_t one[1] = {1};
    uint8_t b = 1;
    dsq_record_add(r, "q\"\\\n\x01\xc3\xa9 \xe6\x97\xa5", DSQ_BOOL, 1, one, &b);
    dsq_record_set_meta(r, "dsq_kind", "ids");
    dsq_record_set_meta(r, "quote\"key", "line\nbreak \xc3\xa9");
    dsq_record_set_meta(r, "empty", "");
}

/* The stream of `nrec` records, in memory. */
static char *stream_of(const dsq_record *recs, int nrec, size_t *size) {
    char *p = NULL;
    FILE *f = open_memstream(&p, size);
    dsq_stream_writer *w = dsq_stream_writer_open(f, "mem", 3);
    dsq_err e = {0};
    for (int i = 0; i < nrec; i++)
        if (dsq_stream_write(w, &recs[i], &e)) fprintf(stderr, "  write: %s\n", e.msg);
    if (dsq_stream_writer_close(w, &e)) fprintf(stderr, "  close: %s\n", e.msg);
    fclose(f);
    return p;
}

static FILE *mem_in(const void *p, size_t n) {
    /* fmemopen rejects size 0 on some libcs; /dev/null is the empty file. */
    return n ? fmemopen((void *)p, n, "rb") : fopen("/dev/null", "rb");
}

/* Reads every record of a stream held in memory: returns the count read
 * before the end, and *rc_out the final status (0 clean end, -1 error). */
static int read_all(const void *p, size_t n, uint64_t max_record, dsq_record *out, int out_cap,
                    int *rc_out, dsq_err *e) {
    FILE *f = mem_in(p, n);
    dsq_stream_reader *rd = dsq_stream_reader_open(f, "mem.dsq", max_record);
    dsq_record r;
    dsq_record_init(&r);
    int k = 0, rc;
    while ((rc = dsq_stream_read(rd, &r, e)) == 1) {
        if (k < out_cap) {
            out[k] = r;
            dsq_record_init(&r);
        }
        k++;
    }
    dsq_record_free(&r);
    *rc_out = rc;
    dsq_stream_reader_close(rd);
    fclose(f);
    return k;
}

static void hex_to_bytes(const char *hex, unsigned char *out, size_t *n) {
    size_t k = 0;
    for (; hex[2 * k]; k++) {
        unsigned v;
        sscanf(hex + 2 * k, "%2x", &v);
        out[k] = (unsigned char)v;
    }
    *n = k;
}

/* ---- tests: records and blobs -------------------------------------------- */

static void test_dtypes(void) {
    size_t sizes[DSQ_DTYPE_COUNT] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
    for (int t = 0; t < DSQ_DTYPE_COUNT; t++) {
        dsq_dtype back;
        EXPECT(dsq_dtype_size((dsq_dtype)t) == sizes[t], "size of %s", dsq_dtype_name((dsq_dtype)t));
        EXPECT(dsq_dtype_parse(dsq_dtype_name((dsq_dtype)t), &back) == 0 && back == (dsq_dtype)t,
               "parse %s", dsq_dtype_name((dsq_dtype)t));
    }
    dsq_dtype x;
    EXPECT(dsq_dtype_parse("F8_E4M3", &x) == -1, "unknown dtype accepted");
    EXPECT(dsq_dtype_parse("f32", &x) == -1, "dtype names are case-sensitive");
    EXPECT(strcmp(dsq_dtype_name(DSQ_BF16), "BF16") == 0, "BF16 spelling");
}

static void test_record_api(void) {
    dsq_record r, s;
    make_examples(&r, 3, 4, 0);
    EXPECT(r.n_tensors == 3 && r.n_meta == 4, "counts");
    const dsq_tensor *t = dsq_record_find(&r, "input_ids");
    EXPECT(t && t->nbytes == 48 && dsq_tensor_numel(t) == 12, "input_ids size");
    EXPECT(dsq_record_find(&r, "nope") == NULL, "find missing");
    dsq_record_set_meta(&r, "seq_len", "5");
    EXPECT(r.n_meta == 4 && strcmp(dsq_record_meta(&r, "seq_len"), "5") == 0, "meta replace");
    EXPECT(dsq_record_meta(&r, "x") == NULL, "missing meta");
    make_examples(&s, 3, 4, 0);
    EXPECT(!dsq_record_equal(&r, &s), "records differing in metadata compare equal");
    dsq_record_set_meta(&s, "seq_len", "5");
    EXPECT(dsq_record_equal(&r, &s), "equal records");
    ((int32_t *)s.tensors[0].data)[5] ^= 1;
    EXPECT(!dsq_record_equal(&r, &s), "records differing in data compare equal");
    dsq_record_free(&s);
    EXPECT(s.n_tensors == 0 && s.tensors == NULL, "free leaves an empty record");
    int64_t big[3] = {(int64_t)1 << 62, 4, 0};
    dsq_tensor *z = dsq_record_add(&s, "zero", DSQ_F64, 3, big, NULL);
    EXPECT(z->nbytes == 0 && dsq_tensor_numel(z) == 0, "a zero dim makes an empty tensor");
    dsq_record_free(&s);
    dsq_record_free(&r);
}

static const char *python_blob_hex =
    "40010000000000007b225f5f6d657461646174615f5f223a7b226b223a22765c225c6e22"
    "7d2c226d223a7b226474797065223a22493634222c227368617065223a5b305d2c226461"
    "74615f6f666673657473223a5b302c305d7d2c2261223a7b226474797065223a22463332"
    "222c227368617065223a5b322c325d2c22646174615f6f666673657473223a5b302c3136"
    "5d7d2c2273223a7b226474797065223a22493332222c227368617065223a5b5d2c226461"
    "74615f6f666673657473223a5b31362c32305d7d2c227a223a7b226474797065223a2255"
    "38222c227368617065223a5b335d2c22646174615f6f666673657473223a5b32302c3233"
    "5d7d2c22715c225c5c5c6e5c7530303031c3a9223a7b226474797065223a22424f4f4c22"
    "2c227368617065223a5b315d2c22646174615f6f666673657473223a5b32332c32345d7d"
    "7d2020200000803f000000400000404000008040fbffffff01020301";

/* The bytes safetensors 0.8.0 (Python) writes for the same tensors:
 * dsq's encoder makes the same layout, escaping and padding. */
static void test_encode_matches_python(void) {
    unsigned char want[512];
    size_t want_n;
    hex_to_bytes(python_blob_hex, want, &want_n);
    dsq_record r;
    dsq_record_init(&r);
    uint8_t z[3] = {1, 2, 3};
    float a[4] = {1, 2, 3, 4};
    int32_t s = -5;
    uint8_t q = 1;
    int64_t sz[1] = {3}, sa[2] = {2, 2}, sm[1] = {0};
    /* Insertion order differs from the layout on purpose. */
    dsq_record_add(&r, "z", DSQ_U8, 1, sz, z);
    dsq_record_add(&r, "a", DSQ_F32, 2, sa, a);
    dsq_record_add(&r, "m", DSQ_I64, 1, sm, NULL);
    dsq_record_add(&r, "s", DSQ_I32, 0, NULL, &s);
    dsq_record_add(&r, "q\"\\\n\x01\xc3\xa9", DSQ_BOOL, 1, (int64_t[]){1}, &q);
    dsq_record_set_meta(&r, "k", "v\"\n");
    void *blob;
    size_t n;
    dsq_err e = {0};
    EXPECT(dsq_st_encode(&r, &blob, &n, &e) == 0, "encode: %s", e.msg);
    EXPECT(n == want_n && memcmp(blob, want, n) == 0, "blob differs from Python's (%zu vs %zu bytes)",
           n, want_n);
    dsq_record d;
    dsq_record_init(&d);
    EXPECT(dsq_st_decode(&d, want, want_n, "py", &e) == 0, "decode python blob: %s", e.msg);
    EXPECT(dsq_record_equal(&r, &d), "decoded python blob differs");
    uint64_t total = 0;
    EXPECT(dsq_st_header_total(want, want_n, &total, "py", &e) == 0 && total == want_n,
           "header_total %" PRIu64, total);
    /* header_total needs only the prefix and header. */
    EXPECT(dsq_st_header_total(want, 8 + 320, &total, "py", &e) == 0 && total == want_n,
           "header_total on the header alone: %s", e.msg);
    free(blob);
    dsq_record_free(&d);
    dsq_record_free(&r);
}

static void test_blob_roundtrip(void) {
    dsq_record r, d;
    make_mixed(&r, 1);
    dsq_record_init(&d);
    void *b1, *b2;
    size_t n1, n2;
    dsq_err e = {0};
    EXPECT(dsq_st_encode(&r, &b1, &n1, &e) == 0, "encode: %s", e.msg);
    uint64_t hn = 0;
    memcpy(&hn, b1, 8);
    EXPECT((8 + hn) % 8 == 0, "header padded to 8: %" PRIu64, hn);
    EXPECT(dsq_st_decode(&d, b1, n1, "b1", &e) == 0, "decode: %s", e.msg);
    EXPECT(dsq_record_equal(&r, &d), "round trip differs");
    EXPECT(dsq_st_encode(&d, &b2, &n2, &e) == 0, "re-encode: %s", e.msg);
    EXPECT(n1 == n2 && memcmp(b1, b2, n1) == 0, "re-encoding not byte-identical");
    /* Decoding keeps header order, so a decoded record lists the
     * metadata as written. */
    EXPECT(d.n_meta == 3 && strcmp(d.meta[0].key, "dsq_kind") == 0 &&
           strcmp(d.meta[2].key, "empty") == 0, "metadata order");
    /* Data alignment: with the header padded to 8 and wider dtypes first,
     * each tensor starts at a multiple of its element size in the blob. */
    void *h;
    size_t hs;
    int *ord;
    EXPECT(dsq_st_encode_header(&r, &h, &hs, &ord, &e) == 0, "encode header");
    size_t at = hs;
    for (int k = 0; k < r.n_tensors; k++) {
        const dsq_tensor *t = &r.tensors[ord[k]];
        EXPECT(at % dsq_dtype_size(t->dtype) == 0, "tensor %s at blob offset %zu", t->name, at);
        at += t->nbytes;
    }
    EXPECT(at == n1, "layout covers %zu of %zu bytes", at, n1);
    free(h), free(ord);
    free(b1);
    free(b2);
    /* An empty record is a valid blob too. */
    dsq_record_free(&r);
    EXPECT(dsq_st_encode(&r, &b1, &n1, &e) == 0 && n1 == 16, "empty record: %zu bytes", n1);
    EXPECT(dsq_st_decode(&d, b1, n1, "empty", &e) == 0 && d.n_tensors == 0, "decode empty");
    free(b1);
    dsq_record_free(&d);
}

static void test_encode_errors(void) {
    dsq_err e = {0};
    void *b;
    size_t n;
    dsq_record r;
    dsq_record_init(&r);
    int64_t one[1] = {1};
    dsq_record_add(&r, "x", DSQ_U8, 1, one, NULL);
    dsq_record_add(&r, "x", DSQ_F32, 1, one, NULL);
    EXPECT(dsq_st_encode(&r, &b, &n, &e) == DSQ_EDATA && strstr(e.msg, "two tensors named 'x'"),
           "duplicate names: %s", e.msg);
    dsq_record_free(&r);
    dsq_record_add(&r, "__metadata__", DSQ_U8, 1, one, NULL);
    EXPECT(dsq_st_encode(&r, &b, &n, &e) == DSQ_EDATA, "tensor named __metadata__");
    dsq_record_free(&r);
    dsq_record_add(&r, "bad\xff", DSQ_U8, 1, one, NULL);
    EXPECT(dsq_st_encode(&r, &b, &n, &e) == DSQ_EDATA && strstr(e.msg, "UTF-8"), "bad UTF-8 name");
    dsq_record_free(&r);
    dsq_record_set_meta(&r, "k", "\xc0\x80");
    EXPECT(dsq_st_encode(&r, &b, &n, &e) == DSQ_EDATA, "bad UTF-8 metadata");
    dsq_record_free(&r);
}

/* Corrupt blobs: a JSON header + a data section of `data_len` zero bytes
 * (or an explicit 8-byte length when `len` is not 0). */
typedef struct {
    const char *json;
    size_t data_len;
    uint64_t len;      /* overrides the header length when non-zero */
    const char *want;  /* substring of the message */
    int total_too;     /* dsq_st_header_total must reject it as well */
} bad_case;

static const bad_case bad_cases[] = {
    {"{}", 0, (uint64_t)1 << 40, "header length 1099511627776 exceeds the limit of 100000000 bytes", 1},
    {"{}", 0, 999, "header length 999 exceeds the", 1},
    {"{\"a\":", 0, 0, "header is not valid JSON", 1},
    {"[]", 0, 0, "header is not a JSON object", 1},
    {"{\"a\xff\":1}", 0, 0, "header is not valid UTF-8", 1},
    {"{\"a\":1}", 0, 0, "tensor 'a': entry is not a JSON object", 1},
    {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0,
     "tensor 'a': unknown dtype 'F8_E4M3'", 1},
    {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0, "dtype is not a string", 1},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0, "tensor 'a': missing field 'dtype'", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, 0, "missing field 'shape'", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, 0, "missing field 'data_offsets'", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":0}}", 1, 0,
     "tensor 'a': unknown field 'x'", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, 0,
     "shape[0] is not a non-negative integer", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", 1, 0,
     "shape[0] is not a non-negative integer", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1, 0, "shape is not an array", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, 0,
     "shape has 9 dimensions (at most 8)", 1},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, 0,
     "shape [4294967296, 4294967296] of F32 overflows", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}}", 0, 0,
     "header is not valid JSON", 1},
    {"{\"input_ids\":{\"dtype\":\"I32\",\"shape\":[2,100],\"data_offsets\":[0,999]}}", 800, 0,
     "where: tensor 'input_ids': data_offsets [0, 999] exceed the 800-byte data section", 0},
    {"{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,9]}}", 9, 0,
     "data_offsets [0, 9] hold 9 bytes but shape [2] of I32 needs 8", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[5,4]}}", 8, 0, "end before they begin", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1, 0,
     "data_offsets is not a pair of non-negative integers", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,-1]}}", 1, 0,
     "data_offsets is not a pair", 1},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, 0,
     "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]", 1},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, 0,
     "data bytes [4, 8) belong to no tensor (before tensor 'b')", 1},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0,
     "data bytes [0, 4) belong to no tensor", 1},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, 0,
     "data section has 12 bytes but the tensors cover 4", 0},
    {"{\"__metadata__\":{\"k\":1}}", 0, 0, "__metadata__ value of 'k' is not a string", 1},
    {"{\"__metadata__\":[\"k\"]}", 0, 0, "__metadata__ is not a JSON object", 1},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, 0, "duplicate object key", 1},
    {"{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0,
     "header is not valid JSON", 1},
    {"{} x", 0, 0, "header is not valid JSON", 1},
};

static unsigned char *bad_blob(const bad_case *c, size_t *n) {
    size_t jn = strlen(c->json);
    *n = 8 + jn + c->data_len;
    unsigned char *b = xcalloc(1, *n);
    uint64_t len = c->len ? c->len : jn;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(len >> (8 * i));
    memcpy(b + 8, c->json, jn);
    return b;
}

static void test_decode_errors(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        size_t n;
        unsigned char *b = bad_blob(c, &n);
        dsq_record r;
        dsq_record_init(&r);
        dsq_err e = {0};
        int rc = dsq_st_decode(&r, b, n, "where", &e);
        EXPECT(rc == DSQ_EDATA && e.code == DSQ_EDATA && strstr(e.msg, c->want) &&
                   strncmp(e.msg, "where: ", 7) == 0,
               "case %zu: rc %d, message '%s', want '%s'", i, rc, e.msg, c->want);
        EXPECT(r.n_tensors == 0, "case %zu: tensors left in a failed decode", i);
        uint64_t total = 0;
        memset(&e, 0, sizeof e);
        rc = dsq_st_header_total(b, n, &total, "where", &e);
        if (c->total_too)
            EXPECT(rc == DSQ_EDATA && strstr(e.msg, c->want), "case %zu: header_total: rc %d '%s'",
                   i, rc, e.msg);
        free(b);
    }
    dsq_err e = {0};
    dsq_record r;
    dsq_record_init(&r);
    EXPECT(dsq_st_decode(&r, "\1\0\0", 3, "tiny", &e) == DSQ_EDATA && strstr(e.msg, "too few"),
           "3-byte blob: %s", e.msg);
    uint64_t total;
    EXPECT(dsq_st_header_total("{}", 2, &total, "tiny", &e) == DSQ_EDATA, "header_total on 2 bytes");
}

/* ---- tests: streams ----------------------------------------------------- */

static void test_stream_roundtrip(void) {
    dsq_record recs[5], got[5];
    for (int i = 0; i < 5; i++) {
        if (i % 2) make_mixed(&recs[i], i);
        else make_examples(&recs[i], 1 + i, 8 + i, 10 * i);
    }
    size_t n;
    char *s = stream_of(recs, 5, &n);
    int rc;
    dsq_err e = {0};
    int k = read_all(s, n, 0, got, 5, &rc, &e);
    EXPECT(k == 5 && rc == 0, "read %d records, rc %d: %s", k, rc, e.msg);
    for (int i = 0; i < k && i < 5; i++) {
        EXPECT(dsq_record_equal(&recs[i], &got[i]), "record %d differs", i + 1);
        dsq_record_free(&got[i]);
    }
    /* Re-encoding the records read gives the same bytes. */
    k = read_all(s, n, 0, got, 5, &rc, &e);
    size_t n2;
    char *s2 = stream_of(got, 5, &n2);
    EXPECT(n == n2 && memcmp(s, s2, n) == 0, "stream -> records -> stream not byte-identical");
    /* After the end, reading again stays at the end. */
    FILE *f = mem_in(s, n);
    dsq_stream_reader *rd = dsq_stream_reader_open(f, "again", 0);
    dsq_record r;
    dsq_record_init(&r);
    while (dsq_stream_read(rd, &r, &e) == 1) {}
    EXPECT(dsq_stream_read(rd, &r, &e) == 0 && dsq_stream_records_read(rd) == 5, "read after end");
    dsq_stream_reader_close(rd);
    fclose(f);
    for (int i = 0; i < 5; i++) dsq_record_free(&recs[i]), dsq_record_free(&got[i]);
    free(s);
    free(s2);
}

static void test_stream_empty(void) {
    int rc;
    dsq_err e = {0};
    int k = read_all("", 0, 0, NULL, 0, &rc, &e);
    EXPECT(k == 0 && rc == 0, "0 bytes: %d records, rc %d: %s", k, rc, e.msg);
    size_t n;
    char *s = stream_of(NULL, 0, &n);
    EXPECT(n > 0, "a closed writer writes a frame");
    k = read_all(s, n, 0, NULL, 0, &rc, &e);
    EXPECT(k == 0 && rc == 0, "record-less stream: %d records, rc %d: %s", k, rc, e.msg);
    free(s);
}

static void test_stream_concat(void) {
    dsq_record a[2], b[3], got[6];
    for (int i = 0; i < 2; i++) make_examples(&a[i], 2, 4, i);
    for (int i = 0; i < 3; i++) make_mixed(&b[i], i);
    size_t na, nb, ne;
    char *sa = stream_of(a, 2, &na), *sb = stream_of(b, 3, &nb), *se = stream_of(NULL, 0, &ne);
    /* `cat a empty b` */
    size_t n = na + ne + nb;
    char *cat = xmalloc(n);
    memcpy(cat, sa, na);
    memcpy(cat + na, se, ne);
    memcpy(cat + na + ne, sb, nb);
    int rc;
    dsq_err e = {0};
    int k = read_all(cat, n, 0, got, 6, &rc, &e);
    EXPECT(k == 5 && rc == 0, "concatenation: %d records, rc %d: %s", k, rc, e.msg);
    for (int i = 0; i < k && i < 5; i++) {
        EXPECT(dsq_record_equal(i < 2 ? &a[i] : &b[i - 2], &got[i]), "record %d differs", i + 1);
        dsq_record_free(&got[i]);
    }
    /* Cut exactly between two frames: a complete stream. */
    k = read_all(cat, na, 0, got, 6, &rc, &e);
    EXPECT(k == 2 && rc == 0, "cut at a frame boundary: %d records, rc %d", k, rc);
    for (int i = 0; i < k && i < 6; i++) dsq_record_free(&got[i]);
    for (int i = 0; i < 2; i++) dsq_record_free(&a[i]);
    for (int i = 0; i < 3; i++) dsq_record_free(&b[i]);
    free(sa), free(sb), free(se), free(cat);
}

/* Every cut of a stream short of its end is an error, never a silent
 * short read, and the records delivered before it are intact. */
static void test_stream_truncation(void) {
    dsq_record recs[3], got[3];
    make_examples(&recs[0], 2, 6, 0);
    make_mixed(&recs[1], 2);
    make_examples(&recs[2], 1, 3, 5);
    size_t n;
    char *s = stream_of(recs, 3, &n);
    int errors = 0, frame_msgs = 0;
    for (size_t cut = 1; cut < n; cut++) {
        int rc;
        dsq_err e = {0};
        int k = read_all(s, cut, 0, got, 3, &rc, &e);
        EXPECT(rc == -1 && e.code == DSQ_EDATA, "cut at %zu of %zu: rc %d after %d records", cut, n,
               rc, k);
        if (rc == -1) {
            errors++;
            EXPECT(strstr(e.msg, "mem.dsq: ") == e.msg && strstr(e.msg, "truncated stream"),
                   "cut at %zu: message '%s'", cut, e.msg);
            if (strstr(e.msg, "inside a zstd frame")) frame_msgs++;
        }
        for (int i = 0; i < k && i < 3; i++) {
            EXPECT(dsq_record_equal(&recs[i], &got[i]), "cut at %zu: record %d differs", cut, i);
            dsq_record_free(&got[i]);
        }
    }
    EXPECT(errors == (int)n - 1, "%d of %zu cuts detected", errors, n - 1);
    EXPECT(frame_msgs > 0, "no cut reported as inside a zstd frame");
    /* A cut inside record 3's compressed block: zstd delivers a block
     * whole, so nothing of record 3 arrived. */
    {
        int rc;
        dsq_err e = {0};
        int k = read_all(s, n - 8, 0, got, 3, &rc, &e);
        EXPECT(k == 2 && strstr(e.msg, "mem.dsq: truncated stream: input ends inside a zstd frame "
                                        "after record 2"), "cut in record 3: %d records, '%s'", k, e.msg);
        for (int i = 0; i < k && i < 3; i++) dsq_record_free(&got[i]);
    }
    /* A record of several zstd blocks cut in the middle: part of it
     * arrived, and the message says how much. */
    {
        dsq_record big;
        make_examples(&big, 64, 1024, 0);  /* ~330 kB: three 128 kB blocks */
        size_t bn;
        char *bs = stream_of(&big, 1, &bn);
        int rc;
        dsq_err e = {0};
        int k = read_all(bs, bn / 2, 0, got, 1, &rc, &e);
        EXPECT(k == 0 && rc == -1 && strstr(e.msg, "mem.dsq: record 1: truncated stream: input ends inside "
                                                   "a zstd frame after 131072 of the record's"), "big record cut: '%s'", e.msg);
        dsq_record_free(&big);
        free(bs);
    }
    /* All records flushed but the frame never ended: the writer was killed
     * between records. */
    {
        char *p = NULL;
        size_t pn;
        FILE *f = open_memstream(&p, &pn);
        dsq_stream_writer *w = dsq_stream_writer_open(f, "mem", 3);
        dsq_err e = {0};
        dsq_stream_write(w, &recs[0], &e);
        fflush(f);
        size_t cut = pn;  /* everything the flush produced */
        dsq_stream_writer_close(w, &e);
        fclose(f);
        int rc;
        int k = read_all(p, cut, 0, got, 3, &rc, &e);
        EXPECT(k == 1 && rc == -1 && strstr(e.msg, "inside a zstd frame after record 1"),
               "unended frame: %d records, rc %d, '%s'", k, rc, e.msg);
        for (int i = 0; i < k && i < 3; i++) dsq_record_free(&got[i]);
        free(p);
    }
    for (int i = 0; i < 3; i++) dsq_record_free(&recs[i]);
    free(s);
}

/* A valid zstd stream whose content is not a sequence of records. */
static char *zstd_of(const void *p, size_t n, size_t *out_n) {
    size_t cap = ZSTD_compressBound(n);
    char *z = xmalloc(cap);
    *out_n = ZSTD_compress(z, cap, p, n, 3);
    return z;
}

static void test_stream_bad_records(void) {
    dsq_record good;
    make_examples(&good, 2, 4, 0);
    void *gb;
    size_t gn;
    dsq_err e = {0};
    dsq_st_encode(&good, &gb, &gn, &e);
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        if (!c->total_too) continue;  /* in a stream, those are a different record boundary */
        size_t bn;
        unsigned char *b = bad_blob(c, &bn);
        char *both = xmalloc(gn + bn);
        memcpy(both, gb, gn);
        memcpy(both + gn, b, bn);
        size_t zn;
        char *z = zstd_of(both, gn + bn, &zn);
        dsq_record got[2];
        int rc;
        memset(&e, 0, sizeof e);
        int k = read_all(z, zn, 0, got, 2, &rc, &e);
        EXPECT(k == 1 && rc == -1 && e.code == DSQ_EDATA &&
                   strstr(e.msg, "mem.dsq: record 2: ") == e.msg &&
                   (strstr(e.msg, c->want) || strstr(e.msg, "truncated")),
               "case %zu in a stream: %d records, '%s'", i, k, e.msg);
        for (int j = 0; j < k && j < 2; j++) dsq_record_free(&got[j]);
        free(b), free(both), free(z);
    }
    /* The brief's example message, with the data region reached. */
    {
        const char *json = "{\"input_ids\":{\"dtype\":\"I32\",\"shape\":[2,100],\"data_offsets\":[0,999]}}";
        size_t jn = strlen(json);
        size_t n = 8 + jn + 999;
        unsigned char *b = xcalloc(1, 2 * gn + n);
        memcpy(b, gb, gn);
        memcpy(b + gn, gb, gn);
        for (int i = 0; i < 8; i++) b[2 * gn + i] = (unsigned char)((uint64_t)jn >> (8 * i));
        memcpy(b + 2 * gn + 8, json, jn);
        size_t zn;
        char *z = zstd_of(b, 2 * gn + n, &zn);
        dsq_record got[3];
        int rc;
        int k = read_all(z, zn, 0, got, 3, &rc, &e);
        EXPECT(k == 2 && rc == -1 && strcmp(e.msg, "mem.dsq: record 3: tensor 'input_ids': data_offsets "
                                            "[0, 999] hold 999 bytes but shape [2, 100] of I32 needs 800") == 0,
               "record 3: '%s'", e.msg);
        for (int j = 0; j < k && j < 3; j++) dsq_record_free(&got[j]);
        free(b), free(z);
    }
    /* Records exactly followed by junk shorter than a record header. */
    {
        char *b = xmalloc(gn + 5);
        memcpy(b, gb, gn);
        memcpy(b + gn, "junk!", 5);
        size_t zn;
        char *z = zstd_of(b, gn + 5, &zn);
        dsq_record got[2];
        int rc;
        int k = read_all(z, zn, 0, got, 2, &rc, &e);
        EXPECT(k == 1 && rc == -1 && strstr(e.msg, "record 2: truncated stream: input ends after 5 bytes"),
               "junk tail: '%s'", e.msg);
        for (int j = 0; j < k && j < 2; j++) dsq_record_free(&got[j]);
        free(b), free(z);
    }
    free(gb);
    dsq_record_free(&good);
}

static void test_stream_not_zstd(void) {
    int rc;
    dsq_err e = {0};
    const char *text = "{\"src\": \"hello\"}\n";
    int k = read_all(text, strlen(text), 0, NULL, 0, &rc, &e);
    EXPECT(k == 0 && rc == -1 && e.code == DSQ_EDATA && strstr(e.msg, "mem.dsq: not a zstd stream"),
           "JSON text: '%s'", e.msg);
    k = read_all("hi", 2, 0, NULL, 0, &rc, &e);
    EXPECT(k == 0 && rc == -1 && e.code == DSQ_EDATA, "2 bytes: rc %d '%s'", rc, e.msg);
    /* A raw safetensors blob (forgot to compress). */
    dsq_record r;
    make_examples(&r, 1, 2, 0);
    void *b;
    size_t n;
    dsq_st_encode(&r, &b, &n, &e);
    k = read_all(b, n, 0, NULL, 0, &rc, &e);
    EXPECT(rc == -1 && strstr(e.msg, "not a zstd stream"), "raw blob: '%s'", e.msg);
    /* Junk after a complete stream. */
    size_t sn;
    char *s = stream_of(&r, 1, &sn);
    s = xrealloc(s, sn + 16);
    memcpy(s + sn, "garbage garbage!", 16);
    dsq_record got[2];
    k = read_all(s, sn + 16, 0, got, 2, &rc, &e);
    EXPECT(k == 1 && rc == -1 && strstr(e.msg, "record 2: bytes after the zstd frame"),
           "junk after: %d '%s'", k, e.msg);
    for (int j = 0; j < k && j < 2; j++) dsq_record_free(&got[j]);
    free(b), free(s);
    dsq_record_free(&r);
}

/* Flipping any byte of the compressed stream gives an error or (for
 * bytes zstd does not depend on) the same records: never wrong data. */
static void test_stream_corrupt(void) {
    dsq_record recs[2], got[2];
    make_examples(&recs[0], 3, 5, 0);
    make_mixed(&recs[1], 3);
    size_t n;
    char *s = stream_of(recs, 2, &n);
    int errors = 0, checksum = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            s[i] ^= (char)(1 << bit);
            int rc;
            dsq_err e = {0};
            int k = read_all(s, n, 0, got, 2, &rc, &e);
            if (rc == -1) {
                errors++;
                EXPECT(e.code == DSQ_EDATA, "flip %zu.%d: code %d", i, bit, e.code);
                if (strstr(e.msg, "checksum")) checksum++;
            } else {
                EXPECT(k == 2, "flip %zu.%d: %d records, clean end", i, bit, k);
            }
            for (int j = 0; j < k && j < 2; j++) {
                if (rc == 0)
                    EXPECT(dsq_record_equal(&recs[j], &got[j]), "flip %zu.%d: record %d silently differs",
                           i, bit, j + 1);
                dsq_record_free(&got[j]);
            }
            s[i] ^= (char)(1 << bit);
        }
    }
    EXPECT(errors > (int)(2 * n), "only %d of %zu flips detected", errors, 3 * n);
    EXPECT(checksum > 0, "no flip reported as a checksum mismatch");
    for (int i = 0; i < 2; i++) dsq_record_free(&recs[i]);
    free(s);
}

/* A FILE that serves one compressed stream `reps` times over: a long
 * stream made of concatenated frames, never held in memory. */
typedef struct {
    const char *p;
    size_t n, at;
    long reps;
} rep_cookie;

static ssize_t rep_read(void *c, char *buf, size_t size) {
    rep_cookie *r = c;
    size_t done = 0;
    while (done < size && r->reps > 0) {
        size_t k = r->n - r->at < size - done ? r->n - r->at : size - done;
        memcpy(buf + done, r->p + r->at, k);
        done += k;
        r->at += k;
        if (r->at == r->n) r->at = 0, r->reps--;
    }
    return (ssize_t)done;
}

static long max_rss_kb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static void test_stream_bounded_memory(void) {
    /* 500 records of ~1.7 kB per frame, served 200 times: 100000 records,
     * ~170 MB of records, read with a 4 kB record limit. */
    dsq_record recs[500];
    for (int i = 0; i < 500; i++) make_examples(&recs[i], 4, 64, i);
    size_t n;
    char *s = stream_of(recs, 500, &n);
    void *b;
    size_t bn;
    dsq_err e = {0};
    dsq_st_encode(&recs[0], &b, &bn, &e);
    rep_cookie c = {s, n, 0, 200};
    FILE *f = fopencookie(&c, "rb", (cookie_io_functions_t){.read = rep_read});
    long rss0 = max_rss_kb();
    dsq_stream_reader *rd = dsq_stream_reader_open(f, "long.dsq", 4096);
    dsq_record r;
    dsq_record_init(&r);
    long k = 0, bad = 0;
    int rc;
    while ((rc = dsq_stream_read(rd, &r, &e)) == 1) {
        if (!dsq_record_equal(&r, &recs[k % 500])) bad++;
        k++;
    }
    long grown = max_rss_kb() - rss0;
    EXPECT(rc == 0 && k == 100000 && bad == 0, "read %ld records (%ld differ), rc %d: %s", k, bad, rc, e.msg);
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN  /* ASan's quarantine keeps freed memory resident */
    EXPECT(grown < 16 * 1024, "max RSS grew by %ld kB reading %.0f MB of records", grown,
           100000.0 * (double)bn / 1e6);
#endif
    printf("# bounded memory: %ld records, %.0f MB decompressed, max RSS +%ld kB\n", k,
           100000.0 * (double)bn / 1e6, grown);
    dsq_stream_reader_close(rd);
    fclose(f);
    /* A record over the limit is refused, not read. */
    dsq_record big;
    make_examples(&big, 16, 64, 0);
    size_t bs;
    char *sb = stream_of(&big, 1, &bs);
    dsq_record got[1];
    k = read_all(sb, bs, 4096, got, 1, &rc, &e);
    EXPECT(k == 0 && rc == -1 && strstr(e.msg, "exceeds the record size limit of 4096 bytes"),
           "big record: '%s'", e.msg);
    dsq_record_free(&big);
    dsq_record_free(&r);
    for (int i = 0; i < 500; i++) dsq_record_free(&recs[i]);
    free(s), free(sb), free(b);
}

/* A reader on a pipe gets each record as soon as the writer has written
 * it, while the writer is still running (it does not wait for more
 * input than the record needs). */
static void test_stream_pipe_latency(void) {
    int data[2], ack[2];
    if (pipe(data) || pipe(ack)) {
        EXPECT(0, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);  /* a reader that died must not kill us */
    pid_t pid = fork();
    if (pid == 0) {
        close(data[1]);
        close(ack[0]);
        alarm(10);  /* a reader that over-reads blocks forever */
        FILE *f = fdopen(data[0], "rb");
        dsq_stream_reader *rd = dsq_stream_reader_open(f, "pipe", 0);
        dsq_record r;
        dsq_record_init(&r);
        dsq_err e;
        for (int i = 0; i < 3; i++) {
            if (dsq_stream_read(rd, &r, &e) != 1) _exit(3);
            if (write(ack[1], "k", 1) != 1) _exit(4);
        }
        _exit(dsq_stream_read(rd, &r, &e) == 0 ? 0 : 5);
    }
    close(data[0]);
    close(ack[1]);
    FILE *f = fdopen(data[1], "wb");
    dsq_stream_writer *w = dsq_stream_writer_open(f, "pipe", 3);
    dsq_err e = {0};
    int acks = 0;
    for (int i = 0; i < 3; i++) {
        dsq_record r;
        make_examples(&r, 1 + i, 300, i);  /* ~1-3 kB each: less than a pipe or zstd buffer */
        dsq_stream_write(w, &r, &e);
        dsq_record_free(&r);
        char c;
        if (read(ack[0], &c, 1) == 1) acks++;  /* the reader has it: we wait for it */
    }
    dsq_stream_writer_close(w, &e);
    fclose(f);
    int st;
    waitpid(pid, &st, 0);
    close(ack[0]);
    EXPECT(acks == 3 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "reader got %d records while the writer waited; status %d", acks, st);
}

static void test_stream_read_error(void) {
    FILE *f = fopen(".", "rb");  /* a directory: read() fails with EISDIR */
    if (!f) {
        EXPECT(0, "fopen .");
        return;
    }
    dsq_stream_reader *rd = dsq_stream_reader_open(f, "dir", 0);
    dsq_record r;
    dsq_record_init(&r);
    dsq_err e = {0};
    int rc = dsq_stream_read(rd, &r, &e);
    EXPECT(rc == -1 && e.code == DSQ_EIO && strstr(e.msg, "dir: read error"), "rc %d '%s'", rc, e.msg);
    /* Errors are sticky. */
    memset(&e, 0, sizeof e);
    EXPECT(dsq_stream_read(rd, &r, &e) == -1 && e.code == DSQ_EIO, "second read after an error");
    dsq_stream_reader_close(rd);
    fclose(f);
}

/* ---- tests: files ------------------------------------------------------- */

static int count_entries(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static void test_files(void) {
    char dir[] = "/tmp/dsq_test_st.XXXXXX";
    if (!mkdtemp(dir)) {
        EXPECT(0, "mkdtemp");
        return;
    }
    char path[256], bad[300];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    dsq_record r, d;
    make_mixed(&r, 5);
    dsq_record_init(&d);
    dsq_err e = {0};
    EXPECT(dsq_st_write_file(path, &r, &e) == 0, "write: %s", e.msg);
    EXPECT(count_entries(dir) == 1, "temporary left behind");
    EXPECT(dsq_st_read_file(path, &d, &e) == 0 && dsq_record_equal(&r, &d), "read back: %s", e.msg);
    /* The file holds exactly the encoded blob. */
    void *b;
    size_t n;
    dsq_st_encode(&r, &b, &n, &e);
    FILE *f = fopen(path, "rb");
    char *fb = xmalloc(n + 1);
    size_t fn = fread(fb, 1, n + 1, f);
    fclose(f);
    EXPECT(fn == n && memcmp(fb, b, n) == 0, "file bytes differ from the encoding");
    /* Overwrite in place, atomically. */
    dsq_record_free(&d);
    make_examples(&d, 2, 3, 1);
    EXPECT(dsq_st_write_file(path, &d, &e) == 0, "overwrite: %s", e.msg);
    dsq_record d2;
    dsq_record_init(&d2);
    EXPECT(dsq_st_read_file(path, &d2, &e) == 0 && dsq_record_equal(&d, &d2), "overwrite read back");
    /* Every truncation of a file is an error. */
    int cut_errors = 0;
    for (size_t cut = 0; cut < n; cut += 1 + cut / 16) {
        snprintf(bad, sizeof bad, "%s/cut", dir);
        f = fopen(bad, "wb");
        fwrite(b, 1, cut, f);
        fclose(f);
        if (dsq_st_read_file(bad, &d2, &e) == DSQ_EDATA && d2.n_tensors == 0) cut_errors++;
        else EXPECT(0, "cut at %zu read as valid", cut);
    }
    EXPECT(cut_errors > 10, "cuts: %d", cut_errors);
    /* A trailing byte is an error. */
    f = fopen(bad, "wb");
    fwrite(b, 1, n, f);
    fputc(0, f);
    fclose(f);
    EXPECT(dsq_st_read_file(bad, &d2, &e) == DSQ_EDATA && strstr(e.msg, "but the tensors cover"),
           "trailing byte: %s", e.msg);
    /* A header promising a huge tensor in a small file fails before
     * allocating it. */
    const char *json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000000000],\"data_offsets\":[0,4000000000000]}}";
    f = fopen(bad, "wb");
    uint64_t jn = strlen(json);
    fwrite(&jn, 8, 1, f);
    fputs(json, f);
    fclose(f);
    EXPECT(dsq_st_read_file(bad, &d2, &e) == DSQ_EDATA &&
               strstr(e.msg, "exceed the 0-byte data section"), "huge tensor: %s", e.msg);
    EXPECT(dsq_st_read_file("/nonexistent/x.safetensors", &d2, &e) == DSQ_EIO, "missing file: %s", e.msg);
    /* Writing where it cannot: an error, nothing left behind. */
    snprintf(bad, sizeof bad, "%s/no/such/dir.safetensors", dir);
    EXPECT(dsq_st_write_file(bad, &r, &e) == DSQ_EIO && strstr(e.msg, bad), "write to bad dir: %s", e.msg);
    snprintf(bad, sizeof bad, "%s/cut", dir);
    unlink(bad);
    EXPECT(count_entries(dir) == 1, "files left: %d", count_entries(dir));
    /* A FIFO is read as a whole. */
    snprintf(bad, sizeof bad, "%s/fifo", dir);
    if (mkfifo(bad, 0600) == 0) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open(bad, O_WRONLY);
            _exit(write(fd, b, n) == (ssize_t)n ? 0 : 1);
        }
        EXPECT(dsq_st_read_file(bad, &d2, &e) == 0 && dsq_record_equal(&r, &d2), "fifo: %s", e.msg);
        waitpid(pid, NULL, 0);
        unlink(bad);
    }
    unlink(path);
    rmdir(dir);
    free(b), free(fb);
    dsq_record_free(&r), dsq_record_free(&d), dsq_record_free(&d2);
}

/* ---- helper modes for the interop oracle ------------------------------- */

static void die_if(int rc, const dsq_err *e) {
    if (rc) dsq_die_err(e);
}

static void dump_record(const dsq_record *r) {
    json_t *o = json_object(), *ts = json_object(), *md = json_object();
    for (int i = 0; i < r->n_meta; i++)
        json_object_set_new(md, r->meta[i].key, json_string(r->meta[i].value));
    for (int i = 0; i < r->n_tensors; i++) {
        const dsq_tensor *t = &r->tensors[i];
        json_t *x = json_object(), *sh = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(sh, json_integer(t->shape[d]));
        char *hex = xmalloc(2 * t->nbytes + 1);
        for (size_t k = 0; k < t->nbytes; k++)
            sprintf(hex + 2 * k, "%02x", ((unsigned char *)t->data)[k]);
        hex[2 * t->nbytes] = 0;
        json_object_set_new(x, "dtype", json_string(dsq_dtype_name(t->dtype)));
        json_object_set_new(x, "shape", sh);
        json_object_set_new(x, "hex", json_string(hex));
        json_object_set_new(ts, t->name, x);
        free(hex);
    }
    json_object_set_new(o, "metadata", md);
    json_object_set_new(o, "tensors", ts);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    puts(s);
    free(s);
    json_decref(o);
}

static int helper(int argc, char **argv) {
    dsq_progname = "test_tensor_stream";
    dsq_err e = {0};
    dsq_record r;
    dsq_record_init(&r);
    const char *mode = argv[1];
    if (strcmp(mode, "dump-file") == 0 && argc == 3) {
        die_if(dsq_st_read_file(argv[2], &r, &e), &e);
        dump_record(&r);
    } else if (strcmp(mode, "dump-stream") == 0 && argc == 3) {
        FILE *f = strcmp(argv[2], "-") ? fopen(argv[2], "rb") : stdin;
        if (!f) dsq_die(DSQ_EIO, "%s: %s", argv[2], strerror(errno));
        dsq_stream_reader *rd = dsq_stream_reader_open(f, argv[2], 0);
        int rc;
        while ((rc = dsq_stream_read(rd, &r, &e)) == 1) dump_record(&r);
        fflush(stdout);
        if (rc < 0) dsq_die_err(&e);
        dsq_stream_reader_close(rd);
    } else if (strcmp(mode, "copy-file") == 0 && argc == 4) {
        die_if(dsq_st_read_file(argv[2], &r, &e), &e);
        die_if(dsq_st_write_file(argv[3], &r, &e), &e);
    } else if (strcmp(mode, "files-to-stream") == 0 && argc >= 4) {
        FILE *f = fopen(argv[2], "wb");
        if (!f) dsq_die(DSQ_EIO, "%s: %s", argv[2], strerror(errno));
        dsq_stream_writer *w = dsq_stream_writer_open(f, argv[2], 3);
        for (int i = 3; i < argc; i++) {
            die_if(dsq_st_read_file(argv[i], &r, &e), &e);
            die_if(dsq_stream_write(w, &r, &e), &e);
        }
        die_if(dsq_stream_writer_close(w, &e), &e);
        if (fclose(f)) dsq_die(DSQ_EIO, "%s: %s", argv[2], strerror(errno));
    } else if (strcmp(mode, "write-examples") == 0 && argc == 5) {
        FILE *f = fopen(argv[2], "wb");
        if (!f) dsq_die(DSQ_EIO, "%s: %s", argv[2], strerror(errno));
        make_examples(&r, atoi(argv[3]), atoi(argv[4]), 0);
        dsq_stream_writer *w = dsq_stream_writer_open(f, argv[2], 3);
        die_if(dsq_stream_write(w, &r, &e), &e);
        die_if(dsq_stream_writer_close(w, &e), &e);
        if (fclose(f)) dsq_die(DSQ_EIO, "%s: %s", argv[2], strerror(errno));
    } else {
        dsq_die(DSQ_EUSAGE, "usage: test_tensor_stream [dump-file F | dump-stream F | copy-file IN OUT"
                " | files-to-stream OUT IN... | write-examples OUT N L]");
    }
    dsq_record_free(&r);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) return helper(argc, argv);
    RUN_TEST(test_dtypes);
    RUN_TEST(test_record_api);
    RUN_TEST(test_encode_matches_python);
    RUN_TEST(test_blob_roundtrip);
    RUN_TEST(test_encode_errors);
    RUN_TEST(test_decode_errors);
    RUN_TEST(test_stream_roundtrip);
    RUN_TEST(test_stream_empty);
    RUN_TEST(test_stream_concat);
    RUN_TEST(test_stream_truncation);
    RUN_TEST(test_stream_bad_records);
    RUN_TEST(test_stream_not_zstd);
    RUN_TEST(test_stream_corrupt);
    RUN_TEST(test_stream_bounded_memory);
    RUN_TEST(test_stream_pipe_latency);
    RUN_TEST(test_stream_read_error);
    RUN_TEST(test_files);
    TEST_MAIN_END();
}

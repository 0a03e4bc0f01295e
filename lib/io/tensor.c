#include "tensor.h"

#include <string.h>

#include "err.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[DSQ_DTYPE_COUNT] = {
    [DSQ_BOOL] = {"BOOL", 1}, [DSQ_U8] = {"U8", 1},     [DSQ_I8] = {"I8", 1},
    [DSQ_U16] = {"U16", 2},   [DSQ_I16] = {"I16", 2},   [DSQ_F16] = {"F16", 2},
    [DSQ_BF16] = {"BF16", 2}, [DSQ_U32] = {"U32", 4},   [DSQ_I32] = {"I32", 4},
    [DSQ_F32] = {"F32", 4},   [DSQ_U64] = {"U64", 8},   [DSQ_I64] = {"I64", 8},
    [DSQ_F64] = {"F64", 8},
};

size_t dsq_dtype_size(dsq_dtype t) {
    DSQ_CHECK((unsigned)t < DSQ_DTYPE_COUNT);
    return dtype_info[t].size;
}

const char *dsq_dtype_name(dsq_dtype t) {
    DSQ_CHECK((unsigned)t < DSQ_DTYPE_COUNT);
    return dtype_info[t].name;
}

int dsq_dtype_parse(const char *s, dsq_dtype *out) {
    for (int i = 0; i < DSQ_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (dsq_dtype)i;
            return 0;
        }
    return -1;
}

void dsq_record_init(dsq_record *r) { memset(r, 0, sizeof *r); }

void dsq_record_free(dsq_record *r) {
    for (int i = 0; i < r->n_tensors; i++) {
        free(r->tensors[i].name);
        free(r->tensors[i].data);
    }
    for (int i = 0; i < r->n_meta; i++) {
        free(r->meta[i].key);
        free(r->meta[i].value);
    }
    free(r->tensors);
    free(r->meta);
    dsq_record_init(r);
}

void dsq_record_clear(dsq_record *r) { dsq_record_free(r); }

/* Byte size of a shape, or -1 when a dim is negative or the byte size
 * would overflow: callers validate untrusted shapes before getting here. */
static int64_t shape_bytes(dsq_dtype dtype, int ndim, const int64_t *shape) {
    uint64_t n = dsq_dtype_size(dtype);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return -1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) return 0;  /* empty, whatever the other dims */
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && n > (uint64_t)INT64_MAX / (uint64_t)shape[i]) return -1;
        n *= (uint64_t)shape[i];
    }
    return (int64_t)n;
}

dsq_tensor *dsq_record_add_owned(dsq_record *r, const char *name, dsq_dtype dtype,
                                 int ndim, const int64_t *shape, void *data) {
    DSQ_CHECK(ndim >= 0 && ndim <= DSQ_MAX_DIMS);
    int64_t nbytes = shape_bytes(dtype, ndim, shape);
    DSQ_CHECK(nbytes >= 0 && (uint64_t)nbytes <= SIZE_MAX);
    if (r->n_tensors == r->cap_tensors) {
        r->cap_tensors = r->cap_tensors ? 2 * r->cap_tensors : 8;
        r->tensors = xrealloc(r->tensors, (size_t)r->cap_tensors * sizeof *r->tensors);
    }
    dsq_tensor *t = &r->tensors[r->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = (size_t)nbytes;
    t->data = data ? data : xcalloc(1, t->nbytes);
    return t;
}

dsq_tensor *dsq_record_add(dsq_record *r, const char *name, dsq_dtype dtype,
                           int ndim, const int64_t *shape, const void *data) {
    DSQ_CHECK(ndim >= 0 && ndim <= DSQ_MAX_DIMS);
    int64_t nbytes = shape_bytes(dtype, ndim, shape);
    DSQ_CHECK(nbytes >= 0 && (uint64_t)nbytes <= SIZE_MAX);
    void *copy = data ? xmalloc((size_t)nbytes) : xcalloc(1, (size_t)nbytes);
    if (data && nbytes) memcpy(copy, data, (size_t)nbytes);
    return dsq_record_add_owned(r, name, dtype, ndim, shape, copy);
}

const dsq_tensor *dsq_record_find(const dsq_record *r, const char *name) {
    for (int i = 0; i < r->n_tensors; i++)
        if (strcmp(r->tensors[i].name, name) == 0) return &r->tensors[i];
    return NULL;
}

void dsq_record_set_meta(dsq_record *r, const char *key, const char *value) {
    for (int i = 0; i < r->n_meta; i++)
        if (strcmp(r->meta[i].key, key) == 0) {
            free(r->meta[i].value);
            r->meta[i].value = xstrdup(value);
            return;
        }
    if (r->n_meta == r->cap_meta) {
        r->cap_meta = r->cap_meta ? 2 * r->cap_meta : 8;
        r->meta = xrealloc(r->meta, (size_t)r->cap_meta * sizeof *r->meta);
    }
    r->meta[r->n_meta].key = xstrdup(key);
    r->meta[r->n_meta].value = xstrdup(value);
    r->n_meta++;
}

const char *dsq_record_meta(const dsq_record *r, const char *key) {
    for (int i = 0; i < r->n_meta; i++)
        if (strcmp(r->meta[i].key, key) == 0) return r->meta[i].value;
    return NULL;
}

int64_t dsq_tensor_numel(const dsq_tensor *t) {
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0) return 0;  /* other dims may be huge */
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int dsq_record_equal(const dsq_record *a, const dsq_record *b) {
    if (a->n_tensors != b->n_tensors || a->n_meta != b->n_meta) return 0;
    for (int i = 0; i < a->n_tensors; i++) {
        const dsq_tensor *x = &a->tensors[i];
        const dsq_tensor *y = dsq_record_find(b, x->name);
        if (!y || x->dtype != y->dtype || x->ndim != y->ndim || x->nbytes != y->nbytes)
            return 0;
        for (int d = 0; d < x->ndim; d++)
            if (x->shape[d] != y->shape[d]) return 0;
        if (x->nbytes && memcmp(x->data, y->data, x->nbytes) != 0) return 0;
    }
    for (int i = 0; i < a->n_meta; i++) {
        const char *v = dsq_record_meta(b, a->meta[i].key);
        if (!v || strcmp(v, a->meta[i].value) != 0) return 0;
    }
    return 1;
}

/* Named tensors and records: the in-memory form of one safetensors blob
 * (a stream record or a checkpoint file). */
#ifndef DSQ_TENSOR_H
#define DSQ_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DSQ_BOOL, DSQ_U8, DSQ_I8, DSQ_U16, DSQ_I16, DSQ_F16, DSQ_BF16,
    DSQ_U32, DSQ_I32, DSQ_F32, DSQ_U64, DSQ_I64, DSQ_F64,
    DSQ_DTYPE_COUNT
} dsq_dtype;

size_t dsq_dtype_size(dsq_dtype t);          /* bytes per element */
const char *dsq_dtype_name(dsq_dtype t);     /* safetensors spelling: "F32" */
int dsq_dtype_parse(const char *s, dsq_dtype *out);  /* 0 ok, -1 unknown */

#define DSQ_MAX_DIMS 8

typedef struct {
    char *name;
    dsq_dtype dtype;
    int ndim;
    int64_t shape[DSQ_MAX_DIMS];
    void *data;      /* little-endian element bytes, nbytes long */
    size_t nbytes;   /* = product(shape) * dtype size */
} dsq_tensor;

typedef struct {
    char *key;
    char *value;
} dsq_meta;

/* A record owns its tensors' names, data and metadata strings. */
typedef struct {
    int n_tensors, cap_tensors;
    dsq_tensor *tensors;  /* in insertion order (serialised sorted by name) */
    int n_meta, cap_meta;
    dsq_meta *meta;       /* the string-valued __metadata__ */
} dsq_record;

void dsq_record_init(dsq_record *r);
void dsq_record_free(dsq_record *r);   /* frees everything, leaves r init'ed */
void dsq_record_clear(dsq_record *r);  /* same as free: ready for reuse */

/* Adds a tensor, copying `data` (may be NULL: zero-filled). Returns it. */
dsq_tensor *dsq_record_add(dsq_record *r, const char *name, dsq_dtype dtype,
                           int ndim, const int64_t *shape, const void *data);
/* Adds a tensor taking ownership of malloc'ed `data` (nbytes must match). */
dsq_tensor *dsq_record_add_owned(dsq_record *r, const char *name, dsq_dtype dtype,
                                 int ndim, const int64_t *shape, void *data);
const dsq_tensor *dsq_record_find(const dsq_record *r, const char *name);

/* Sets (or replaces) a metadata string. */
void dsq_record_set_meta(dsq_record *r, const char *key, const char *value);
/* Returns the value or NULL. */
const char *dsq_record_meta(const dsq_record *r, const char *key);

int64_t dsq_tensor_numel(const dsq_tensor *t);

/* 1 when a and b hold the same tensors (name, dtype, shape, bytes) and the
 * same metadata, in any order; 0 otherwise. */
int dsq_record_equal(const dsq_record *a, const dsq_record *b);

#endif

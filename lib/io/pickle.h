/* The subset of Python's pickle that PyTorch state dicts use (torch.save,
 * protocol 2 and up), run by a small stack machine that never constructs
 * an object from a global outside its list.
 *
 * Values: None, bool, int (64-bit), float, str/bytes, tuple, list, dict
 * (collections.OrderedDict too: insertion order kept, a BUILD of its
 * `_metadata` ignored), storages (the persistent ids torch writes:
 * ('storage', torch.<Type>Storage, key, location, numel[, None])) and
 * tensors (torch._utils._rebuild_tensor_v2 of a storage, offset, sizes,
 * strides; _rebuild_parameter(_with_state) unwraps to its tensor).
 *
 * The globals allowed are exactly: collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter,
 * torch._utils._rebuild_parameter_with_state and torch.FloatStorage,
 * HalfStorage, BFloat16Storage, LongStorage.  Any other global (os.system,
 * builtins.eval, ...), a REDUCE of anything but the listed callables with
 * the arguments torch writes, the object-building opcodes (INST, OBJ,
 * NEWOBJ, EXT*) and the text opcodes of protocol 0 are DSQ_EDATA errors
 * naming the offset.  Nothing is executed: a "call" only builds one of the
 * value kinds above.
 *
 * Every count and length is checked against the bytes left before
 * anything is allocated; the machine keeps at most DSQ_PK_MAX_VALUES values
 * and never recurses over them (memo cycles are harmless). */
#ifndef DSQ_PICKLE_H
#define DSQ_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tensor.h"

#define DSQ_PK_MAX_VALUES (1 << 22)

typedef enum {
    DSQ_PK_NONE, DSQ_PK_BOOL, DSQ_PK_INT, DSQ_PK_FLOAT, DSQ_PK_STR, DSQ_PK_TUPLE,
    DSQ_PK_LIST, DSQ_PK_DICT, DSQ_PK_GLOBAL, DSQ_PK_STORAGE, DSQ_PK_TENSOR
} dsq_pk_kind;

typedef struct dsq_pk_tensor {
    struct dsq_pkv *storage;
    int64_t offset;                       /* in elements */
    int ndim;
    int64_t size[DSQ_MAX_DIMS], stride[DSQ_MAX_DIMS];
} dsq_pk_tensor;

typedef struct dsq_pkv {
    dsq_pk_kind kind;
    int64_t i;                /* INT, BOOL; STORAGE: numel */
    double f;                 /* FLOAT */
    char *s;                  /* STR (n bytes + NUL); STORAGE: key; GLOBAL: "module.name" */
    size_t n;
    struct dsq_pkv **items;   /* TUPLE, LIST; DICT: key, value, key, value ... */
    size_t len, cap;          /* items used (DICT: 2 per entry), allocated */
    int gid;                  /* GLOBAL: index in the allowed list */
    dsq_dtype dtype;          /* STORAGE */
    dsq_pk_tensor *t;         /* TENSOR */
    struct dsq_pkv *all;      /* every value of a machine, for freeing */
} dsq_pkv;

typedef struct dsq_pk dsq_pk;

dsq_pk *dsq_pk_new(void);
/* Frees every value the machine made. */
void dsq_pk_free(dsq_pk *pk);

/* Runs one pickle from p[0..n) (it ends at its STOP; *used gets the bytes
 * consumed) and returns its value in *out (owned by pk).  `where` names
 * the pickle in messages ("m.pt: archive/data.pkl"). */
int dsq_pk_load(dsq_pk *pk, const uint8_t *p, size_t n, size_t *used, dsq_pkv **out,
                const char *where, dsq_err *e);

/* The pickle of an OrderedDict of tensors, as torch.save (protocol 2)
 * writes a state dict: r's tensors in order, each with the persistent id
 * ('storage', torch.<Type>Storage, key, 'cpu', numel), contiguous, offset
 * 0; key[i] names tensor i's storage (tensors may share one).  F32, F16,
 * BF16 and I64 only (DSQ_EDATA otherwise).  *out malloc'ed. */
int dsq_pk_write_state_dict(const dsq_record *r, const char *const *keys, uint8_t **out,
                            size_t *out_n, dsq_err *e);

#endif

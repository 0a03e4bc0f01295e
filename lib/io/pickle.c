/* The state-dict subset of pickle (pickle.h): a stack machine over a
 * byte buffer whose only "calls" build values of a fixed set of kinds. */
#include "pickle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The allowed globals; GLOBAL of anything else is an error. */
enum { G_ODICT, G_REBUILD, G_PARAM, G_PARAM_STATE, G_FLOAT, G_HALF, G_BF16, G_LONG, G_N };
static const char *const allowed[G_N] = {
    "collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.LongStorage",
};
static const dsq_dtype storage_dtype[G_N] = {[G_FLOAT] = DSQ_F32, [G_HALF] = DSQ_F16,
                                             [G_BF16] = DSQ_BF16, [G_LONG] = DSQ_I64};

struct dsq_pk {
    dsq_pkv *all;             /* every value made, linked through ->all */
    size_t n_values;
    dsq_pkv **stack;
    size_t sp, stack_cap;
    size_t *marks;            /* stack heights at MARK */
    size_t n_marks, marks_cap;
    dsq_pkv **memo;
    size_t memo_cap, memo_set;   /* allocated; entries set (MEMOIZE's index) */
    dsq_pkv none, t, f;       /* shared constants */
};

dsq_pk *dsq_pk_new(void) {
    dsq_pk *pk = xcalloc(1, sizeof *pk);
    pk->none.kind = DSQ_PK_NONE;
    pk->t.kind = pk->f.kind = DSQ_PK_BOOL;
    pk->t.i = 1;
    return pk;
}

void dsq_pk_free(dsq_pk *pk) {
    if (!pk) return;
    for (dsq_pkv *v = pk->all, *next; v; v = next) {
        next = v->all;
        free(v->s);
        free(v->items);
        free(v->t);
        free(v);
    }
    free(pk->stack);
    free(pk->marks);
    free(pk->memo);
    free(pk);
}

/* The machine's state during one load. */
typedef struct {
    dsq_pk *pk;
    const uint8_t *p;
    size_t n, pos, op_at;     /* op_at: the current opcode's offset */
    const char *where;
    dsq_err *e;
} vm;

static int fail(vm *m, const char *fmt, const char *arg) {
    char what[512];
    snprintf(what, sizeof what, fmt, arg);
    return dsq_err_set(m->e, DSQ_EDATA, "%s: pickle byte %zu: %s", m->where, m->op_at, what);
}

static dsq_pkv *new_value(vm *m, dsq_pk_kind kind) {
    dsq_pk *pk = m->pk;
    if (pk->n_values >= DSQ_PK_MAX_VALUES) {
        fail(m, "more than %s values (not a state dict)", "4194304");
        return NULL;
    }
    dsq_pkv *v = xcalloc(1, sizeof *v);
    v->kind = kind;
    v->all = pk->all;
    pk->all = v;
    pk->n_values++;
    return v;
}

static int push(vm *m, dsq_pkv *v) {
    dsq_pk *pk = m->pk;
    if (!v) return m->e->code;
    if (pk->sp == pk->stack_cap) {
        if (pk->stack_cap >= DSQ_PK_MAX_VALUES) return fail(m, "stack deeper than %s", "4194304");
        pk->stack_cap = pk->stack_cap ? 2 * pk->stack_cap : 64;
        pk->stack = xrealloc(pk->stack, pk->stack_cap * sizeof *pk->stack);
    }
    pk->stack[pk->sp++] = v;
    return 0;
}

/* The values above the topmost mark (their count in *k); 0 or error. */
static int above_mark(vm *m, size_t *k) {
    dsq_pk *pk = m->pk;
    if (!pk->n_marks) return fail(m, "%s without a MARK", "a mark-based opcode");
    *k = pk->sp - pk->marks[pk->n_marks - 1];
    return 0;
}

static dsq_pkv *pop(vm *m) {
    dsq_pk *pk = m->pk;
    size_t floor = pk->n_marks ? pk->marks[pk->n_marks - 1] : 0;
    if (pk->sp <= floor) {
        fail(m, "%s", "stack underflow");
        return NULL;
    }
    return pk->stack[--pk->sp];
}

static void add_item(dsq_pkv *c, dsq_pkv *v) {
    if (c->len == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 4;
        c->items = xrealloc(c->items, c->cap * sizeof *c->items);
    }
    c->items[c->len++] = v;
}

/* The k values on top of the stack, in order, into a new tuple (or list). */
static dsq_pkv *collect(vm *m, dsq_pk_kind kind, size_t k) {
    dsq_pk *pk = m->pk;
    dsq_pkv *t = new_value(m, kind);
    if (!t) return NULL;
    if (k) {
        t->items = xmalloc(k * sizeof *t->items);
        memcpy(t->items, pk->stack + pk->sp - k, k * sizeof *t->items);
    }
    t->len = t->cap = k;
    pk->sp -= k;
    return t;
}

/* n bytes at the read position, or NULL (error set) past the end. */
static const uint8_t *take(vm *m, uint64_t n) {
    if (n > m->n - m->pos) {
        fail(m, "%s", "truncated (an argument runs past the end of the pickle)");
        return NULL;
    }
    const uint8_t *q = m->p + m->pos;
    m->pos += (size_t)n;
    return q;
}

static uint64_t le(const uint8_t *q, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | q[i];
    return v;
}

static int push_str(vm *m, uint64_t n) {
    const uint8_t *q = take(m, n);
    if (!q) return m->e->code;
    dsq_pkv *v = new_value(m, DSQ_PK_STR);
    if (!v) return m->e->code;
    v->s = xmalloc((size_t)n + 1);
    memcpy(v->s, q, (size_t)n);
    v->s[n] = 0;
    v->n = (size_t)n;
    return push(m, v);
}

static int push_int(vm *m, int64_t x) {
    dsq_pkv *v = new_value(m, DSQ_PK_INT);
    if (v) v->i = x;
    return push(m, v);
}

/* LONG1: n little-endian two's-complement bytes; more than 8 do not fit. */
static int push_long1(vm *m) {
    const uint8_t *q = take(m, 1);
    if (!q) return m->e->code;
    int n = q[0];
    if (n > 8) return fail(m, "%s", "an integer wider than 64 bits");
    if (!(q = take(m, (uint64_t)n))) return m->e->code;
    uint64_t u = le(q, n);
    if (n && n < 8 && (q[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
    return push_int(m, (int64_t)u);
}

/* GLOBAL "module\nname\n" or STACK_GLOBAL: only the allowed list. */
static int push_global(vm *m, const char *mod, const char *name) {
    char full[300];
    snprintf(full, sizeof full, "%.140s.%.140s", mod, name);
    for (int g = 0; g < G_N; g++) {
        if (strcmp(full, allowed[g])) continue;
        dsq_pkv *v = new_value(m, DSQ_PK_GLOBAL);
        if (!v) return m->e->code;
        v->gid = g;
        v->s = xstrdup(full);
        return push(m, v);
    }
    return fail(m, "global %s is not part of a PyTorch state dict: refused (a checkpoint holds "
                "only tensors; this file may be hostile)", full);
}

static int op_global(vm *m) {
    char part[2][141];
    for (int k = 0; k < 2; k++) {
        size_t start = m->pos, end = start;
        while (end < m->n && m->p[end] != '\n' && end - start < 140) end++;
        if (end >= m->n || m->p[end] != '\n') return fail(m, "%s", "a GLOBAL name that does not end");
        memcpy(part[k], m->p + start, end - start);
        part[k][end - start] = 0;
        if (strlen(part[k]) != end - start) return fail(m, "%s", "a NUL byte in a GLOBAL name");
        m->pos = end + 1;
    }
    return push_global(m, part[0], part[1]);
}

static int op_stack_global(vm *m) {
    dsq_pkv *name = pop(m), *mod = name ? pop(m) : NULL;
    if (!mod) return m->e->code;
    if (name->kind != DSQ_PK_STR || mod->kind != DSQ_PK_STR || strlen(name->s) != name->n ||
        strlen(mod->s) != mod->n)
        return fail(m, "%s", "STACK_GLOBAL of a value that is not a string");
    return push_global(m, mod->s, name->s);
}

static int is_int(const dsq_pkv *v) { return v->kind == DSQ_PK_INT; }

/* A tuple of at most DSQ_MAX_DIMS ints into out; its length or -1. */
static int int_tuple(const dsq_pkv *v, int64_t *out) {
    if (v->kind != DSQ_PK_TUPLE || v->len > DSQ_MAX_DIMS) return -1;
    for (size_t k = 0; k < v->len; k++) {
        if (!is_int(v->items[k])) return -1;
        out[k] = v->items[k]->i;
    }
    return (int)v->len;
}

/* BINPERSID: ('storage', torch.<Type>Storage, key, location, numel) as the
 * zip format writes it, or with a sixth element None (the legacy format). */
static int op_persid(vm *m) {
    dsq_pkv *id = pop(m);
    if (!id) return m->e->code;
    dsq_pkv **it = id->items;
    if (id->kind != DSQ_PK_TUPLE || (id->len != 5 && id->len != 6) || it[0]->kind != DSQ_PK_STR ||
        strcmp(it[0]->s, "storage"))
        return fail(m, "%s", "a persistent id that is not ('storage', type, key, location, numel)");
    if (it[1]->kind != DSQ_PK_GLOBAL || it[1]->gid < G_FLOAT)
        return fail(m, "%s", "a storage whose type is not torch.Float/Half/BFloat16/LongStorage");
    if (it[2]->kind != DSQ_PK_STR || strlen(it[2]->s) != it[2]->n || !it[2]->n ||
        it[3]->kind != DSQ_PK_STR || !is_int(it[4]) || it[4]->i < 0)
        return fail(m, "%s", "a storage id with a bad key, location or size");
    if (id->len == 6 && it[5]->kind != DSQ_PK_NONE)
        return fail(m, "%s", "a storage view (pre-1.0 legacy files): re-save the checkpoint with "
                    "a current PyTorch");
    dsq_pkv *s = new_value(m, DSQ_PK_STORAGE);
    if (!s) return m->e->code;
    s->dtype = storage_dtype[it[1]->gid];
    s->s = xstrdup(it[2]->s);
    s->n = it[2]->n;
    s->i = it[4]->i;
    return push(m, s);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]). */
static dsq_pkv *rebuild_tensor(vm *m, const dsq_pkv *a) {
    dsq_pk_tensor t = {0};
    int64_t st[DSQ_MAX_DIMS];
    if (a->len < 6 || a->len > 7 || a->items[0]->kind != DSQ_PK_STORAGE || !is_int(a->items[1]) ||
        a->items[1]->i < 0 || (t.ndim = int_tuple(a->items[2], t.size)) < 0 ||
        int_tuple(a->items[3], st) != t.ndim) {
        fail(m, "%s", "_rebuild_tensor_v2 with arguments other than (storage, offset, sizes, "
             "strides, ...) of at most 8 dimensions");
        return NULL;
    }
    for (int k = 0; k < t.ndim; k++)
        if (t.size[k] < 0 || st[k] < 0) {
            fail(m, "%s", "a negative tensor size or stride");
            return NULL;
        }
    memcpy(t.stride, st, sizeof st);
    t.storage = a->items[0];
    t.offset = a->items[1]->i;
    dsq_pkv *v = new_value(m, DSQ_PK_TENSOR);
    if (!v) return NULL;
    v->t = xmalloc(sizeof *v->t);
    *v->t = t;
    return v;
}

/* REDUCE: only the listed callables, with the arguments torch writes. */
static int op_reduce(vm *m) {
    dsq_pkv *args = pop(m), *f = args ? pop(m) : NULL;
    if (!f) return m->e->code;
    if (f->kind != DSQ_PK_GLOBAL) return fail(m, "%s", "REDUCE of a value that is not callable");
    if (args->kind != DSQ_PK_TUPLE) return fail(m, "REDUCE of %s without an argument tuple", f->s);
    switch (f->gid) {
    case G_ODICT:
        if (args->len) return fail(m, "%s", "OrderedDict(...) with arguments (only OrderedDict())");
        return push(m, new_value(m, DSQ_PK_DICT));
    case G_REBUILD: {
        dsq_pkv *t = rebuild_tensor(m, args);
        return t ? push(m, t) : m->e->code;
    }
    case G_PARAM:
    case G_PARAM_STATE:
        if (args->len < 3 || args->items[0]->kind != DSQ_PK_TENSOR)
            return fail(m, "%s", "_rebuild_parameter of something that is not a tensor");
        return push(m, args->items[0]);
    default:
        return fail(m, "%s called: a storage type is not a callable of a state dict", f->s);
    }
}

/* SETITEM / SETITEMS: key, value pairs into the dict below them. */
static int set_items(vm *m, size_t k) {
    dsq_pk *pk = m->pk;
    if (k % 2) return fail(m, "%s", "SETITEMS with an odd number of values");
    if (pk->sp < k + 1 || (pk->n_marks && pk->sp - k - 1 < pk->marks[pk->n_marks - 1]))
        return fail(m, "%s", "SETITEM(S) without a dict");
    dsq_pkv *d = pk->stack[pk->sp - k - 1];
    if (d->kind != DSQ_PK_DICT) return fail(m, "%s", "SETITEM(S) on a value that is not a dict");
    for (size_t j = pk->sp - k; j < pk->sp; j++) add_item(d, pk->stack[j]);
    pk->sp -= k;
    return 0;
}

static int append_items(vm *m, size_t k) {
    dsq_pk *pk = m->pk;
    if (pk->sp < k + 1 || (pk->n_marks && pk->sp - k - 1 < pk->marks[pk->n_marks - 1]))
        return fail(m, "%s", "APPEND(S) without a list");
    dsq_pkv *l = pk->stack[pk->sp - k - 1];
    if (l->kind != DSQ_PK_LIST) return fail(m, "%s", "APPEND(S) on a value that is not a list");
    for (size_t j = pk->sp - k; j < pk->sp; j++) add_item(l, pk->stack[j]);
    pk->sp -= k;
    return 0;
}

/* Ends a mark-based opcode: the mark is dropped after its values went. */
static int pop_mark(vm *m) {
    m->pk->n_marks--;
    return 0;
}

static int memo_put(vm *m, uint64_t idx) {
    dsq_pk *pk = m->pk;
    if (!pk->sp) return fail(m, "%s", "PUT on an empty stack");
    if (idx >= DSQ_PK_MAX_VALUES) return fail(m, "%s", "a memo index beyond 4194304");
    if (idx >= pk->memo_cap) {
        size_t cap = pk->memo_cap ? pk->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        pk->memo = xrealloc(pk->memo, cap * sizeof *pk->memo);
        memset(pk->memo + pk->memo_cap, 0, (cap - pk->memo_cap) * sizeof *pk->memo);
        pk->memo_cap = cap;
    }
    if (!pk->memo[idx]) pk->memo_set++;
    pk->memo[idx] = pk->stack[pk->sp - 1];
    return 0;
}

static int memo_get(vm *m, uint64_t idx) {
    dsq_pk *pk = m->pk;
    if (idx >= pk->memo_cap || !pk->memo[idx]) return fail(m, "%s", "GET of an unset memo entry");
    return push(m, pk->memo[idx]);
}

/* Mark-based and container opcodes; -1 for an opcode not handled here. */
static int op_container(vm *m, int op) {
    dsq_pk *pk = m->pk;
    size_t k = 0;  /* set by above_mark before any use */
    int rc;
    switch (op) {
    case '(':
        if (pk->n_marks == pk->marks_cap) {
            if (pk->marks_cap >= DSQ_PK_MAX_VALUES) return fail(m, "%s", "too many MARKs");
            pk->marks_cap = pk->marks_cap ? 2 * pk->marks_cap : 16;
            pk->marks = xrealloc(pk->marks, pk->marks_cap * sizeof *pk->marks);
        }
        pk->marks[pk->n_marks++] = pk->sp;
        return 0;
    case 't': case 'l':
        if ((rc = above_mark(m, &k))) return rc;
        pop_mark(m);
        return push(m, collect(m, op == 't' ? DSQ_PK_TUPLE : DSQ_PK_LIST, k));
    case 'd':
        if ((rc = above_mark(m, &k))) return rc;
        pop_mark(m);
        if ((rc = push(m, new_value(m, DSQ_PK_DICT)))) return rc;
        {   /* the dict sits above its items: move it below them */
            dsq_pkv *d = pk->stack[pk->sp - 1];
            memmove(pk->stack + pk->sp - k, pk->stack + pk->sp - k - 1, k * sizeof *pk->stack);
            pk->stack[pk->sp - k - 1] = d;
        }
        return set_items(m, k);
    case 'u': case 'e':
        if ((rc = above_mark(m, &k))) return rc;
        pop_mark(m);
        return op == 'u' ? set_items(m, k) : append_items(m, k);
    case '1':
        if ((rc = above_mark(m, &k))) return rc;
        pk->sp -= k;
        return pop_mark(m);
    case 's': return set_items(m, 2);
    case 'a': return append_items(m, 1);
    case ')': return push(m, collect(m, DSQ_PK_TUPLE, 0));
    case ']': return push(m, collect(m, DSQ_PK_LIST, 0));
    case '}': return push(m, new_value(m, DSQ_PK_DICT));
    case 0x85: case 0x86: case 0x87:
        k = (size_t)(op - 0x84);
        if (pk->sp < k + (pk->n_marks ? pk->marks[pk->n_marks - 1] : 0))
            return fail(m, "%s", "stack underflow");
        return push(m, collect(m, DSQ_PK_TUPLE, k));
    }
    return -1;
}

/* Opcodes with an inline argument (numbers, strings, memo); -1 if not one. */
static int op_argument(vm *m, int op) {
    const uint8_t *q;
    switch (op) {
    case 'K': return (q = take(m, 1)) ? push_int(m, q[0]) : m->e->code;
    case 'M': return (q = take(m, 2)) ? push_int(m, (int64_t)le(q, 2)) : m->e->code;
    case 'J': return (q = take(m, 4)) ? push_int(m, (int32_t)(uint32_t)le(q, 4)) : m->e->code;
    case 0x8a: return push_long1(m);
    case 'G': {
        if (!(q = take(m, 8))) return m->e->code;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | q[i];   /* big-endian */
        dsq_pkv *v = new_value(m, DSQ_PK_FLOAT);
        if (v) memcpy(&v->f, &u, sizeof v->f);
        return push(m, v);
    }
    case 'X': case 'B': case 'T':
        if (!(q = take(m, 4))) return m->e->code;
        if (op == 'T' && (q[3] & 0x80)) return fail(m, "%s", "a negative string length");
        return push_str(m, le(q, 4));
    case 0x8c: case 'U': case 'C': return (q = take(m, 1)) ? push_str(m, q[0]) : m->e->code;
    case 0x8d: case 0x8e: return (q = take(m, 8)) ? push_str(m, le(q, 8)) : m->e->code;
    case 'q': return (q = take(m, 1)) ? memo_put(m, q[0]) : m->e->code;
    case 'r': return (q = take(m, 4)) ? memo_put(m, le(q, 4)) : m->e->code;
    case 0x94: return memo_put(m, m->pk->memo_set);
    case 'h': return (q = take(m, 1)) ? memo_get(m, q[0]) : m->e->code;
    case 'j': return (q = take(m, 4)) ? memo_get(m, le(q, 4)) : m->e->code;
    case 0x95: return take(m, 8) ? 0 : m->e->code;   /* FRAME: a read-ahead hint */
    }
    return -1;
}

static int op_other(vm *m, int op) {
    dsq_pk *pk = m->pk;
    dsq_pkv *v;
    switch (op) {
    case 'N': return push(m, &pk->none);
    case 0x88: return push(m, &pk->t);
    case 0x89: return push(m, &pk->f);
    case 'c': return op_global(m);
    case 0x93: return op_stack_global(m);
    case 'R': return op_reduce(m);
    case 'Q': return op_persid(m);
    case '0': return pop(m) ? 0 : m->e->code;
    case '2':
        if (!(v = pop(m))) return m->e->code;
        pk->sp++;
        return push(m, v);
    case 'b':   /* BUILD: only an OrderedDict's state (its _metadata), dropped */
        if (!(v = pop(m)) || !pop(m)) return m->e->code;
        if (pk->stack[pk->sp]->kind != DSQ_PK_DICT)
            return fail(m, "%s", "BUILD of a value that is not an OrderedDict");
        pk->sp++;
        return 0;
    }
    return fail(m, "opcode 0x%s is not used by state dicts: refused", (char[3]){
                "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15], 0});
}

int dsq_pk_load(dsq_pk *pk, const uint8_t *p, size_t n, size_t *used, dsq_pkv **out,
                const char *where, dsq_err *e) {
    vm m = {.pk = pk, .p = p, .n = n, .where = where, .e = e};
    pk->sp = pk->n_marks = 0;
    if (pk->memo) memset(pk->memo, 0, pk->memo_cap * sizeof *pk->memo);
    pk->memo_set = 0;
    for (;;) {
        m.op_at = m.pos;
        if (m.pos >= n) return fail(&m, "%s", "truncated (no STOP)");
        int op = p[m.pos++], rc;
        if (op == '.') break;
        if (op == 0x80) {
            const uint8_t *q = take(&m, 1);
            if (!q) return e->code;
            if (q[0] < 2 || q[0] > 5) return fail(&m, "%s", "pickle protocol other than 2 to 5");
            continue;
        }
        if ((rc = op_container(&m, op)) == -1 && (rc = op_argument(&m, op)) == -1)
            rc = op_other(&m, op);
        if (rc) return rc;
    }
    if (pk->sp != 1 || pk->n_marks) return fail(&m, "%s", "STOP with a stack of other than one value");
    *out = pk->stack[0];
    *used = m.pos;
    return 0;
}

/* ---- writing a state dict -------------------------------------------------- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} wbuf;

static void put(wbuf *w, const void *p, size_t n) {
    if (w->n + n > w->cap) {
        while (w->n + n > w->cap) w->cap = w->cap ? 2 * w->cap : 4096;
        w->b = xrealloc(w->b, w->cap);
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_op(wbuf *w, int op) {
    uint8_t c = (uint8_t)op;
    put(w, &c, 1);
}

static void put_str(wbuf *w, const char *s) {
    size_t n = strlen(s);
    uint8_t h[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    put(w, h, 5);
    put(w, s, n);
}

/* Non-negative ints: BININT1/BININT2/BININT, else LONG1 with 8 bytes. */
static void put_int(wbuf *w, int64_t v) {
    uint64_t u = (uint64_t)v;
    if (v >= 0 && v < 256) {
        uint8_t h[2] = {'K', (uint8_t)v};
        put(w, h, 2);
    } else if (v >= 0 && v < 65536) {
        uint8_t h[3] = {'M', (uint8_t)v, (uint8_t)(v >> 8)};
        put(w, h, 3);
    } else if (v >= 0 && v < 0x7fffffff) {
        uint8_t h[5] = {'J', (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        put(w, h, 5);
    } else {
        uint8_t h[10] = {0x8a, 8};
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)(u >> (8 * i));
        put(w, h, 10);
    }
}

static void put_global(wbuf *w, const char *mod, const char *name) {
    put_op(w, 'c');
    put(w, mod, strlen(mod));
    put_op(w, '\n');
    put(w, name, strlen(name));
    put_op(w, '\n');
}

static void put_int_tuple(wbuf *w, int n, const int64_t *v) {
    put_op(w, '(');
    for (int k = 0; k < n; k++) put_int(w, v[k]);
    put_op(w, 't');
}

/* _rebuild_tensor_v2(persistent storage, 0, size, contiguous strides,
 * False, OrderedDict()) */
static void put_tensor(wbuf *w, const dsq_tensor *t, const char *type, const char *key) {
    int64_t stride[DSQ_MAX_DIMS], acc = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        stride[k] = acc;
        acc *= t->shape[k];
    }
    put_global(w, "torch._utils", "_rebuild_tensor_v2");
    put_op(w, '(');
    put_op(w, '(');
    put_str(w, "storage");
    put_global(w, "torch", type);
    put_str(w, key);
    put_str(w, "cpu");
    put_int(w, dsq_tensor_numel(t));
    put_op(w, 't');
    put_op(w, 'Q');
    put_int(w, 0);
    put_int_tuple(w, t->ndim, t->shape);
    put_int_tuple(w, t->ndim, stride);
    put_op(w, 0x89);
    put_global(w, "collections", "OrderedDict");
    put_op(w, ')');
    put_op(w, 'R');
    put_op(w, 't');
    put_op(w, 'R');
}

int dsq_pk_write_state_dict(const dsq_record *r, const char *const *keys, uint8_t **out,
                            size_t *out_n, dsq_err *e) {
    wbuf w = {0};
    put(&w, "\x80\x02", 2);
    put_global(&w, "collections", "OrderedDict");
    put_op(&w, ')');
    put_op(&w, 'R');
    for (int i = 0; i < r->n_tensors; i++) {
        const dsq_tensor *t = &r->tensors[i];
        const char *type = t->dtype == DSQ_F32 ? "FloatStorage" : t->dtype == DSQ_F16 ? "HalfStorage"
                           : t->dtype == DSQ_BF16 ? "BFloat16Storage"
                           : t->dtype == DSQ_I64 ? "LongStorage" : NULL;
        if (!type) {
            free(w.b);
            return dsq_err_set(e, DSQ_EDATA, "tensor %s is %s: a PyTorch checkpoint takes F32, "
                               "F16, BF16 or I64", t->name, dsq_dtype_name(t->dtype));
        }
        put_op(&w, '(');      /* one SETITEMS per tensor keeps MARKs shallow */
        put_str(&w, t->name);
        put_tensor(&w, t, type, keys[i]);
        put_op(&w, 'u');
    }
    put_op(&w, '.');
    *out = w.b;
    *out_n = w.n;
    return 0;
}

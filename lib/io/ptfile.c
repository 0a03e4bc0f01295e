/* PyTorch checkpoint files: the zip and legacy containers around
 * pickle.h's state dicts (ptfile.h). */
#include "ptfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "pickle.h"

/* At most this many zip entries or state-dict tensors. */
#define MAX_ENTRIES (1 << 20)

static const uint8_t legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                       0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

dsq_pt_format dsq_pt_sniff(const void *head, size_t n) {
    const uint8_t *p = head;
    if (n >= 4 && !memcmp(p, "PK\3\4", 4)) return DSQ_PT_ZIP;
    if (n >= 8 && !memcmp(p, legacy_magic, 8)) return DSQ_PT_LEGACY;
    return DSQ_PT_NONE;
}

const char *dsq_pt_format_name(dsq_pt_format f) {
    return f == DSQ_PT_ZIP ? "zip" : f == DSQ_PT_LEGACY ? "legacy" : "none";
}

static uint64_t rd(const uint8_t *q, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | q[i];
    return v;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- storages: where each key's bytes are ------------------------------------ */

typedef struct {
    char *name;               /* zip: the entry name; legacy: the storage key */
    const uint8_t *data;
    uint64_t size;            /* bytes */
    uint32_t crc;
    int crc_checked, has_crc;
    uint64_t header_at;       /* zip: local header offset */
} entry;

typedef struct {
    entry *v;
    size_t n;
} entries;

static int by_name(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static entry *find_entry(entries *es, const char *name) {
    entry key = {.name = (char *)name};
    return bsearch(&key, es->v, es->n, sizeof *es->v, by_name);
}

static void entries_free(entries *es) {
    for (size_t i = 0; i < es->n; i++) free(es->v[i].name);
    free(es->v);
}

/* The entry's bytes, with their CRC-32 checked on first use. */
static const uint8_t *entry_data(entry *x, const char *where, dsq_err *e) {
    if (x->has_crc && !x->crc_checked) {
        if (crc32_of(x->data, x->size) != x->crc) {
            dsq_err_set(e, DSQ_EDATA, "%s: entry %s fails its CRC-32 check (a damaged or "
                        "truncated file)", where, x->name);
            return NULL;
        }
        x->crc_checked = 1;
    }
    return x->data;
}

/* ---- the zip container ---------------------------------------------------------- */

typedef struct {
    uint64_t n_entries, cd_size, cd_off;
} zip_end;

/* The end of central directory record (and the zip64 one torch always
 * writes before it). */
static int zip_find_end(const uint8_t *p, size_t n, zip_end *z, const char *where, dsq_err *e) {
    if (n < 22) return dsq_err_set(e, DSQ_EDATA, "%s: truncated zip archive", where);
    size_t lo = n > 22 + 65535 ? n - 22 - 65535 : 0, at = n - 22 + 1;
    while (at-- > lo)
        if (!memcmp(p + at, "PK\5\6", 4) && at + 22 + rd(p + at + 20, 2) <= n) break;
    if (at < lo || at == (size_t)-1 || memcmp(p + at, "PK\5\6", 4))
        return dsq_err_set(e, DSQ_EDATA, "%s: no zip end-of-directory record (a truncated "
                           "file?)", where);
    z->n_entries = rd(p + at + 10, 2);
    z->cd_size = rd(p + at + 12, 4);
    z->cd_off = rd(p + at + 16, 4);
    size_t limit = at;
    if (at >= 20 && !memcmp(p + at - 20, "PK\6\7", 4)) {
        uint64_t z64 = rd(p + at - 20 + 8, 8);
        if (z64 > at - 20 || at - 20 - z64 < 56 || memcmp(p + z64, "PK\6\6", 4))
            return dsq_err_set(e, DSQ_EDATA, "%s: a bad zip64 end-of-directory locator", where);
        z->n_entries = rd(p + z64 + 32, 8);
        z->cd_size = rd(p + z64 + 40, 8);
        z->cd_off = rd(p + z64 + 48, 8);
        limit = (size_t)z64;
    }
    if (z->cd_off > limit || z->cd_size > limit - z->cd_off || z->n_entries > MAX_ENTRIES ||
        z->n_entries > z->cd_size / 46)
        return dsq_err_set(e, DSQ_EDATA, "%s: the zip central directory (%" PRIu64 " entries, "
                           "%" PRIu64 " bytes at %" PRIu64 ") does not fit the file", where,
                           z->n_entries, z->cd_size, z->cd_off);
    return 0;
}

/* zip64 extra field: the 64-bit values of the fields that hold 0xffffffff. */
static int zip64_extra(const uint8_t *x, size_t xn, uint64_t *usize, uint64_t *csize,
                       uint64_t *off) {
    while (xn >= 4) {
        size_t id = rd(x, 2), len = rd(x + 2, 2);
        if (len > xn - 4) return -1;
        if (id == 1) {
            const uint8_t *q = x + 4, *end = x + 4 + len;
            uint64_t *f[3] = {usize, csize, off};
            for (int k = 0; k < 3; k++) {
                if (*f[k] != 0xffffffffu) continue;
                if (end - q < 8) return -1;
                *f[k] = rd(q, 8);
                q += 8;
            }
        }
        x += 4 + len;
        xn -= 4 + len;
    }
    return 0;
}

/* One central directory entry at p + *at (advanced past it) into x. */
static int zip_entry(const uint8_t *p, size_t n, uint64_t *at, uint64_t cd_end, entry *x,
                     const char *where, dsq_err *e) {
    const uint8_t *c = p + *at;
    if (cd_end - *at < 46 || memcmp(c, "PK\1\2", 4))
        return dsq_err_set(e, DSQ_EDATA, "%s: a bad zip central directory entry at byte %" PRIu64,
                           where, *at);
    size_t nl = rd(c + 28, 2), xl = rd(c + 30, 2), cl = rd(c + 32, 2);
    if (cd_end - *at - 46 < nl + xl + cl)
        return dsq_err_set(e, DSQ_EDATA, "%s: a zip entry name runs past the directory", where);
    int flags = (int)rd(c + 8, 2), method = (int)rd(c + 10, 2);
    uint64_t csize = rd(c + 20, 4), usize = rd(c + 24, 4), off = rd(c + 42, 4);
    x->name = strndup((const char *)c + 46, nl);
    DSQ_CHECK(x->name);
    x->crc = (uint32_t)rd(c + 16, 4);
    x->has_crc = 1;
    *at += 46 + nl + xl + cl;
    if (strlen(x->name) != nl || zip64_extra(c + 46 + nl, xl, &usize, &csize, &off))
        return dsq_err_set(e, DSQ_EDATA, "%s: zip entry %s has a bad name or zip64 field", where,
                           x->name);
    if (flags & 1)
        return dsq_err_set(e, DSQ_EDATA, "%s: zip entry %s is encrypted", where, x->name);
    if (method != 0 || csize != usize)
        return dsq_err_set(e, DSQ_EDATA, "%s: zip entry %s is compressed (method %d); torch.save "
                           "stores entries uncompressed: load and save the file with torch, or "
                           "re-zip it with `zip -0`", where, x->name, method);
    if (off > n || n - off < 30 || memcmp(p + off, "PK\3\4", 4))
        return dsq_err_set(e, DSQ_EDATA, "%s: zip entry %s: no local header at byte %" PRIu64,
                           where, x->name, off);
    uint64_t data = off + 30 + rd(p + off + 26, 2) + rd(p + off + 28, 2);
    if (data > n || usize > n - data)
        return dsq_err_set(e, DSQ_EDATA, "%s: zip entry %s (%" PRIu64 " bytes at %" PRIu64 ") "
                           "runs past the end of the file (truncated?)", where, x->name, usize, data);
    x->header_at = off;
    x->data = p + data;
    x->size = usize;
    return 0;
}

static int by_offset(const void *a, const void *b) {
    uint64_t x = ((const entry *)a)->header_at, y = ((const entry *)b)->header_at;
    return x < y ? -1 : x > y;
}

/* Every entry, checked not to overlap another (the overlapping-entry zip
 * bomb) nor the central directory, then sorted by name. */
static int zip_entries(const uint8_t *p, size_t n, entries *es, const char *where, dsq_err *e) {
    zip_end z = {0};
    int rc = zip_find_end(p, n, &z, where, e);
    if (rc) return rc;
    es->v = xcalloc(z.n_entries ? z.n_entries : 1, sizeof *es->v);
    uint64_t at = z.cd_off;
    for (es->n = 0; es->n < z.n_entries; es->n++)
        if ((rc = zip_entry(p, n, &at, z.cd_off + z.cd_size, &es->v[es->n], where, e))) {
            es->n++;
            return rc;
        }
    qsort(es->v, es->n, sizeof *es->v, by_offset);
    for (size_t i = 0; i < es->n; i++) {
        uint64_t end = (uint64_t)(es->v[i].data - p) + es->v[i].size;
        uint64_t next = i + 1 < es->n ? es->v[i + 1].header_at : z.cd_off;
        if (end > next)
            return dsq_err_set(e, DSQ_EDATA, "%s: zip entry %s overlaps the next entry or the "
                               "directory: refused", where, es->v[i].name);
    }
    qsort(es->v, es->n, sizeof *es->v, by_name);
    for (size_t i = 1; i < es->n; i++)
        if (!strcmp(es->v[i - 1].name, es->v[i].name))
            return dsq_err_set(e, DSQ_EDATA, "%s: zip entry %s appears twice", where, es->v[i].name);
    return 0;
}

/* ---- tensors out of storages ------------------------------------------------------- */

typedef struct {
    int legacy;
    entries es;
    char prefix[256];         /* zip: "archive/" */
    uint64_t budget;          /* bytes of tensors still allowed */
    const char *where;
} source;

/* The bytes of a storage (n elements of dtype) by its key. */
static const uint8_t *storage_bytes(source *s, const dsq_pkv *st, dsq_err *e) {
    char name[600];
    snprintf(name, sizeof name, "%s%s%s", s->prefix, s->legacy ? "" : "data/", st->s);
    entry *x = strlen(st->s) < 300 ? find_entry(&s->es, name) : NULL;
    if (!x) {
        dsq_err_set(e, DSQ_EDATA, "%s: storage %.300s is missing from the file", s->where, st->s);
        return NULL;
    }
    size_t es = dsq_dtype_size(st->dtype);
    if ((uint64_t)st->i > UINT64_MAX / es || x->size != (uint64_t)st->i * es) {
        dsq_err_set(e, DSQ_EDATA, "%s: storage %s holds %" PRIu64 " bytes, not %" PRId64 " %s "
                    "elements", s->where, x->name, x->size, st->i, dsq_dtype_name(st->dtype));
        return NULL;
    }
    return entry_data(x, s->where, e);
}

/* Copies the view t of storage bytes src into dst, row-major. */
static void copy_view(uint8_t *dst, const uint8_t *src, const dsq_pk_tensor *t, size_t es,
                      int64_t numel) {
    int64_t idx[DSQ_MAX_DIMS] = {0}, off = t->offset, want = 1;
    int contiguous = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        if (t->size[k] != 1 && t->stride[k] != want) contiguous = 0;
        want *= t->size[k];
    }
    if (contiguous) {
        memcpy(dst, src + (size_t)off * es, (size_t)numel * es);
        return;
    }
    for (int64_t i = 0; i < numel; i++) {
        memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
        for (int k = t->ndim - 1; k >= 0; k--) {   /* odometer over the sizes */
            off += t->stride[k];
            if (++idx[k] < t->size[k]) break;
            off -= t->stride[k] * t->size[k];
            idx[k] = 0;
        }
    }
}

/* One named tensor of the state dict into r, its view range-checked. */
static int add_tensor(dsq_record *r, source *s, const char *name, const dsq_pk_tensor *t,
                      dsq_err *e) {
    const dsq_pkv *st = t->storage;
    size_t es = dsq_dtype_size(st->dtype);
    int64_t numel = 1, last = t->offset;
    for (int k = 0; k < t->ndim; k++) {
        if (t->size[k] && numel > INT64_MAX / 16 / t->size[k])
            return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s: sizes overflow", s->where, name);
        numel *= t->size[k];
    }
    for (int k = 0; numel && k < t->ndim; k++) {
        if (t->stride[k] && t->size[k] - 1 > (INT64_MAX - last) / t->stride[k])
            return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s: strides overflow", s->where, name);
        last += (t->size[k] - 1) * t->stride[k];
    }
    if (numel && last >= st->i)
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s reads element %" PRId64 " of storage %s, "
                           "which has %" PRId64 ": refused", s->where, name, last, st->s, st->i);
    if ((uint64_t)numel * es > s->budget)
        return dsq_err_set(e, DSQ_EDATA, "%s: tensor %s: %" PRId64 " elements, more than twice the "
                           "file's size in all: refused", s->where, name, numel);
    s->budget -= (uint64_t)numel * es;
    const uint8_t *src = numel ? storage_bytes(s, st, e) : NULL;
    if (numel && !src) return e->code;
    uint8_t *dst = xmalloc((size_t)numel * es + 1);
    if (numel) copy_view(dst, src, t, es, numel);
    dsq_record_add_owned(r, name, st->dtype, t->ndim, t->size, dst);
    return 0;
}

static int by_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The top object must be a dict of distinct names -> tensors. */
static int check_state_dict(const source *s, const dsq_pkv *top, dsq_err *e) {
    if (top->kind != DSQ_PK_DICT)
        return dsq_err_set(e, DSQ_EDATA, "%s: the saved object is not a dict of tensors (a state "
                           "dict)", s->where);
    size_t n = top->len / 2;
    if (n > MAX_ENTRIES) return dsq_err_set(e, DSQ_EDATA, "%s: too many tensors", s->where);
    char **names = xmalloc((n ? n : 1) * sizeof *names);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const dsq_pkv *k = top->items[2 * i], *v = top->items[2 * i + 1];
        if (k->kind != DSQ_PK_STR || strlen(k->s) != k->n || !k->n)
            rc = dsq_err_set(e, DSQ_EDATA, "%s: a state-dict key that is not a name", s->where);
        else if (v->kind != DSQ_PK_TENSOR)
            rc = dsq_err_set(e, DSQ_EDATA, "%s: %.200s is not a tensor (the file holds more than "
                             "a state dict: save model.state_dict() alone)", s->where, k->s);
        else
            names[i] = k->s;
    }
    if (!rc) {
        qsort(names, n, sizeof *names, by_str);
        for (size_t i = 1; i < n && !rc; i++)
            if (!strcmp(names[i - 1], names[i]))
                rc = dsq_err_set(e, DSQ_EDATA, "%s: tensor %.200s appears twice", s->where, names[i]);
    }
    free(names);
    return rc;
}

/* The checked state dict's tensors into r, in its order. */
static int add_state_dict(dsq_record *r, source *s, const dsq_pkv *top, dsq_err *e) {
    int rc = 0;
    for (size_t i = 0; i < top->len / 2 && !rc; i++)
        rc = add_tensor(r, s, top->items[2 * i]->s, top->items[2 * i + 1]->t, e);
    return rc;
}

/* ---- the two containers ------------------------------------------------------------- */

static int decode_zip(dsq_record *r, source *s, const uint8_t *p, size_t n, dsq_pk *pk,
                      dsq_err *e) {
    int rc = zip_entries(p, n, &s->es, s->where, e);
    if (rc) return rc;
    entry *pkl = NULL;
    for (size_t i = 0; i < s->es.n && !pkl; i++) {
        const char *nm = s->es.v[i].name, *slash = strchr(nm, '/');
        if (slash && !strcmp(slash, "/data.pkl") && (size_t)(slash - nm) < sizeof s->prefix - 1)
            pkl = &s->es.v[i];
    }
    if (!pkl)
        return dsq_err_set(e, DSQ_EDATA, "%s: a zip archive without */data.pkl: not a PyTorch "
                           "checkpoint", s->where);
    size_t plen = (size_t)(strchr(pkl->name, '/') - pkl->name) + 1;
    memcpy(s->prefix, pkl->name, plen);
    s->prefix[plen] = 0;
    const uint8_t *q = entry_data(pkl, s->where, e);
    if (!q) return e->code;
    char where[600];
    snprintf(where, sizeof where, "%s: %s", s->where, pkl->name);
    dsq_pkv *top;
    size_t used;
    if ((rc = dsq_pk_load(pk, q, pkl->size, &used, &top, where, e)) ||
        (rc = check_state_dict(s, top, e)))
        return rc;
    return add_state_dict(r, s, top, e);
}

/* One pickle of the legacy sequence at *at; its value in *v. */
static int legacy_pickle(dsq_pk *pk, const uint8_t *p, size_t n, size_t *at, dsq_pkv **v,
                         const char *what, const char *where, dsq_err *e) {
    char w[600];
    snprintf(w, sizeof w, "%s: legacy %s pickle", where, what);
    size_t used;
    int rc = dsq_pk_load(pk, p + *at, n - *at, &used, v, w, e);
    *at += used;
    return rc;
}

static int by_key(const void *a, const void *b) {
    return strcmp((*(const dsq_pkv *const *)a)->s, (*(const dsq_pkv *const *)b)->s);
}

/* Storage keys (a list of str) to entries over the raw section, each an
 * int64 element count and the bytes; the dtype of each comes from the
 * object's storages. */
static int legacy_storages(source *s, const dsq_pkv *keys, const dsq_pkv *top, const uint8_t *p,
                           size_t n, size_t at, dsq_err *e) {
    if (keys->kind != DSQ_PK_LIST || top->kind != DSQ_PK_DICT || keys->len > top->len / 2)
        return dsq_err_set(e, DSQ_EDATA, "%s: the legacy storage-key list is not a list of at "
                           "most one key per tensor", s->where);
    size_t nt = 0;
    const dsq_pkv **used = xmalloc((top->len / 2 + 1) * sizeof *used);
    for (size_t j = 1; j < top->len; j += 2)
        if (top->items[j]->kind == DSQ_PK_TENSOR) used[nt++] = top->items[j]->t->storage;
    qsort(used, nt, sizeof *used, by_key);
    s->es.v = xcalloc(keys->len + 1, sizeof *s->es.v);
    int rc = 0;
    for (size_t i = 0; i < keys->len && !rc; i++) {
        const dsq_pkv *k = keys->items[i], **st = NULL;
        if (k->kind == DSQ_PK_STR) st = bsearch(&k, used, nt, sizeof *used, by_key);
        if (!st) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: legacy storage %zu is not used by any tensor",
                             s->where, i);
            break;
        }
        size_t es = dsq_dtype_size((*st)->dtype);
        uint64_t cnt = n - at >= 8 ? rd(p + at, 8) : UINT64_MAX;
        if (n - at < 8 || cnt > (n - at - 8) / es) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: legacy storage %.200s runs past the end of the "
                             "file (truncated?)", s->where, k->s);
            break;
        }
        entry *x = &s->es.v[s->es.n++];
        x->name = xstrdup(k->s);
        x->data = p + at + 8;
        x->size = cnt * es;
        at += 8 + x->size;
    }
    free(used);
    if (rc) return rc;
    qsort(s->es.v, s->es.n, sizeof *s->es.v, by_name);
    for (size_t i = 1; i < s->es.n; i++)
        if (!strcmp(s->es.v[i - 1].name, s->es.v[i].name))
            return dsq_err_set(e, DSQ_EDATA, "%s: legacy storage %s appears twice", s->where,
                               s->es.v[i].name);
    return 0;
}

static int decode_legacy(dsq_record *r, source *s, const uint8_t *p, size_t n, dsq_pk *pk,
                         dsq_err *e) {
    size_t at = sizeof legacy_magic;
    dsq_pkv *proto, *info, *top, *keys;
    int rc;
    if (n < at || memcmp(p, legacy_magic, at))
        return dsq_err_set(e, DSQ_EDATA, "%s: not a PyTorch legacy file (bad magic number)", s->where);
    if ((rc = legacy_pickle(pk, p, n, &at, &proto, "protocol", s->where, e))) return rc;
    if (proto->kind != DSQ_PK_INT || proto->i != 1001)
        return dsq_err_set(e, DSQ_EDATA, "%s: legacy protocol version is not 1001", s->where);
    if ((rc = legacy_pickle(pk, p, n, &at, &info, "system-info", s->where, e))) return rc;
    int little = 0;
    for (size_t j = 0; info->kind == DSQ_PK_DICT && j + 1 < info->len; j += 2)
        if (info->items[j]->kind == DSQ_PK_STR && !strcmp(info->items[j]->s, "little_endian"))
            little = info->items[j + 1]->kind == DSQ_PK_BOOL && info->items[j + 1]->i;
    if (!little)
        return dsq_err_set(e, DSQ_EDATA, "%s: a big-endian legacy checkpoint: not supported", s->where);
    /* the object's pickle is kept: the next load resets the stack, not the values */
    if ((rc = legacy_pickle(pk, p, n, &at, &top, "object", s->where, e)) ||
        (rc = check_state_dict(s, top, e)))
        return rc;
    if ((rc = legacy_pickle(pk, p, n, &at, &keys, "storage-key", s->where, e))) return rc;
    if ((rc = legacy_storages(s, keys, top, p, n, at, e))) return rc;
    return add_state_dict(r, s, top, e);
}

int dsq_pt_decode(dsq_record *r, const void *buf, size_t n, const char *where, dsq_err *e) {
    dsq_record_clear(r);
    source s = {.where = where, .budget = 2 * (uint64_t)n + 65536};
    dsq_pk *pk = dsq_pk_new();
    dsq_pt_format f = dsq_pt_sniff(buf, n);
    int rc = f == DSQ_PT_ZIP      ? decode_zip(r, &s, buf, n, pk, e)
             : f == DSQ_PT_LEGACY ? (s.legacy = 1, decode_legacy(r, &s, buf, n, pk, e))
                                  : dsq_err_set(e, DSQ_EDATA, "%s: not a PyTorch checkpoint (no "
                                                "zip or legacy-format signature)", where);
    dsq_pk_free(pk);
    entries_free(&s.es);
    if (rc) dsq_record_clear(r);
    return rc;
}

int dsq_pt_read_file(const char *path, dsq_record *r, dsq_pt_format *fmt, dsq_err *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return dsq_err_set(e, DSQ_EDATA, "%s: not a regular, non-empty file", path);
    }
    size_t n = (size_t)st.st_size;
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return dsq_err_set(e, DSQ_EIO, "%s: cannot map: %s", path, strerror(errno));
    if (fmt) *fmt = dsq_pt_sniff(p, n);
    int rc = dsq_pt_decode(r, p, n, path, e);
    munmap(p, n);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------ */

typedef struct {
    FILE *f;
    uint64_t at;
    struct { char name[64]; uint32_t crc; uint64_t size, off; } *cd;
    int n;
} zip_writer;

static void le_put(uint8_t *q, uint64_t v, int n) {
    for (int i = 0; i < n; i++) q[i] = (uint8_t)(v >> (8 * i));
}

/* One stored entry, its data aligned to 64 bytes by an extra field ("FB"
 * padding, as torch's writer does) so that readers can map it. */
static void zip_add(zip_writer *z, const char *name, const void *data, uint64_t size) {
    size_t nl = strlen(name);
    uint64_t pad = (64 - (z->at + 30 + nl) % 64) % 64;
    if (pad && pad < 4) pad += 64;
    uint8_t h[30 + 64 + 128] = {0};
    memcpy(h, "PK\3\4", 4);
    le_put(h + 4, 20, 2);
    uint32_t crc = crc32_of(data, (size_t)size);
    le_put(h + 14, crc, 4);
    le_put(h + 18, size, 4);
    le_put(h + 22, size, 4);
    le_put(h + 26, nl, 2);
    le_put(h + 28, pad, 2);
    memcpy(h + 30, name, nl);
    if (pad) {
        le_put(h + 30 + nl, 0x4246, 2);
        le_put(h + 32 + nl, pad - 4, 2);
        memset(h + 34 + nl, 'Z', (size_t)pad - 4);
    }
    fwrite(h, 1, 30 + nl + (size_t)pad, z->f);
    if (size) fwrite(data, 1, (size_t)size, z->f);
    z->cd = xrealloc(z->cd, (size_t)(z->n + 1) * sizeof *z->cd);
    snprintf(z->cd[z->n].name, sizeof z->cd[z->n].name, "%s", name);
    z->cd[z->n].crc = crc;
    z->cd[z->n].size = size;
    z->cd[z->n].off = z->at;
    z->n++;
    z->at += 30 + nl + pad + size;
}

static void zip_finish(zip_writer *z) {
    uint64_t cd_at = z->at, cd_size = 0;
    for (int i = 0; i < z->n; i++) {
        size_t nl = strlen(z->cd[i].name);
        uint8_t h[46] = {0};
        memcpy(h, "PK\1\2", 4);
        le_put(h + 4, 20, 2);
        le_put(h + 6, 20, 2);
        le_put(h + 16, z->cd[i].crc, 4);
        le_put(h + 20, z->cd[i].size, 4);
        le_put(h + 24, z->cd[i].size, 4);
        le_put(h + 28, nl, 2);
        le_put(h + 42, z->cd[i].off, 4);
        fwrite(h, 1, 46, z->f);
        fwrite(z->cd[i].name, 1, nl, z->f);
        cd_size += 46 + nl;
    }
    uint8_t end[22] = {0};
    memcpy(end, "PK\5\6", 4);
    le_put(end + 8, (uint64_t)z->n, 2);
    le_put(end + 10, (uint64_t)z->n, 2);
    le_put(end + 12, cd_size, 4);
    le_put(end + 16, cd_at, 4);
    fwrite(end, 1, 22, z->f);
}

int dsq_pt_write_file(const char *path, const dsq_record *r, dsq_err *e) {
    int n = r->n_tensors;
    char (*keys)[24] = xmalloc((size_t)(n + 1) * sizeof *keys);
    const char **kp = xmalloc((size_t)(n + 1) * sizeof *kp);
    int *own = xmalloc((size_t)(n + 1) * sizeof *own), n_st = 0;
    uint64_t total = 4096;
    for (int i = 0; i < n; i++) {
        const dsq_tensor *t = &r->tensors[i];
        own[i] = i;
        for (int j = 0; j < i && own[i] == i; j++) {
            const dsq_tensor *u = &r->tensors[j];
            if (own[j] == j && u->dtype == t->dtype && u->nbytes == t->nbytes &&
                !memcmp(u->data, t->data, t->nbytes))
                own[i] = j;
        }
        if (own[i] == i) {
            snprintf(keys[i], sizeof keys[i], "%d", n_st++);
            total += t->nbytes + 200;
        }
        kp[i] = keys[own[i]];
    }
    uint8_t *pkl = NULL;
    size_t pn = 0;
    int rc = total > 0xffffffffu
                 ? dsq_err_set(e, DSQ_EDATA, "%s: more than 4 GiB of tensors: beyond this "
                               "writer (no zip64 records)", path)
                 : dsq_pk_write_state_dict(r, kp, &pkl, &pn, e);
    dsq_out o;
    if (!rc && !(rc = dsq_out_open(&o, path, e))) {
        zip_writer z = {.f = o.f};
        zip_add(&z, "archive/data.pkl", pkl, pn);
        zip_add(&z, "archive/byteorder", "little", 6);
        for (int i = 0; i < n; i++) {
            if (own[i] != i) continue;
            char name[48];
            snprintf(name, sizeof name, "archive/data/%s", keys[i]);
            zip_add(&z, name, r->tensors[i].data, r->tensors[i].nbytes);
        }
        zip_add(&z, "archive/version", "3\n", 2);
        zip_finish(&z);
        free(z.cd);
        if (ferror(o.f)) {
            rc = dsq_err_set(e, DSQ_EIO, "%s: write error: %s", path, strerror(errno));
            dsq_out_abort(&o);
        } else {
            rc = dsq_out_commit(&o, e);
        }
    } else if (rc == DSQ_EDATA && pkl == NULL && total <= 0xffffffffu) {
        dsq_err_prefix(e, "%s", path);
    }
    free(pkl);
    free(keys);
    free(kp);
    free(own);
    return rc;
}

/* BERT normaliser rules matching HF tokenizers; see bertnorm.h. */
#include "bertnorm.h"

#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

#include "err.h"
#include "bertnorm_tables.h"

void dsq_bn_buf_init(dsq_bn_buf *b, char *stack, size_t stack_cap) {
    b->p = stack;
    b->n = 0;
    b->cap = stack_cap;
    b->on_heap = 0;
}

void dsq_bn_buf_free(dsq_bn_buf *b) {
    if (b->on_heap) free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->on_heap = 0;
}

void dsq_bn_buf_reserve(dsq_bn_buf *b, size_t extra) {
    if (b->n + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    if (b->on_heap) {
        b->p = xrealloc(b->p, cap);
    } else {
        char *p = xmalloc(cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->on_heap = 1;
    }
    b->cap = cap;
}

const char *dsq_bn_tables_unicode(void) { return DSQ_BN_TABLES_UNICODE; }
const char *dsq_bn_utf8proc_unicode(void) { return utf8proc_unicode_version(); }

int dsq_bn_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* Rust char::is_whitespace (the White_Space property), \t \n \r included. */
int dsq_bn_is_ws(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 9 && cp <= 13);
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

static int category(uint32_t cp) { return utf8proc_category((utf8proc_int32_t)cp); }

/* Override flags of cp (bertnorm_tables.h), 0 for most code points. */
static unsigned ov_flags(uint32_t cp) {
    size_t lo = 0, hi = sizeof bn_override / sizeof bn_override[0];
    if (cp < bn_override[0].lo) return 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp > bn_override[mid].hi) lo = mid + 1;
        else if (cp < bn_override[mid].lo) hi = mid;
        else return bn_override[mid].flags;
    }
    return 0;
}

static int dropped_f(uint32_t cp, unsigned f) {
    if (cp == 9 || cp == 10 || cp == 13) return 0;
    if (cp == 0 || cp == 0xFFFD) return 1;
    if (f & BN_KEEP) return 0;
    int c = category(cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CO;
}

static int punct_f(uint32_t cp, unsigned f) {
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
               (cp >= 123 && cp <= 126);
    if (f & BN_PUNCT) return 1;
    if (f & BN_NOT_PUNCT) return 0;
    int c = category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

int dsq_bn_is_dropped(uint32_t cp) { return dropped_f(cp, ov_flags(cp)); }
int dsq_bn_is_punct(uint32_t cp) { return punct_f(cp, cp < 0x80 ? 0 : ov_flags(cp)); }

static int is_mn_f(uint32_t cp, unsigned f) {
    if (f & BN_STRIP) return 1;
    if (f & BN_KEEP) return 0;
    return category(cp) == UTF8PROC_CATEGORY_MN;
}

static int ccc_f(uint32_t cp, unsigned f) {
    if (f & BN_CCC0) return 0;
    return utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
}

/* Full canonical decomposition (NFD of one code point). */
static int decompose(uint32_t cp, unsigned f, uint32_t *out, int cap) {
    if (f & BN_KEEP) { out[0] = cp; return 1; }
    int last = 0;
    utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)cp, (utf8proc_int32_t *)out, cap,
                                                 UTF8PROC_DECOMPOSE, &last);
    DSQ_CHECK(k > 0 && k <= cap);
    return (int)k;
}

/* Full lowercase mapping as Rust char::to_lowercase; returns the count. */
static int lower(uint32_t cp, uint32_t *out) {
    if (cp == 0x130) { out[0] = 0x69; out[1] = 0x307; return 2; }
    if (cp >= bn_lower[0].cp) {
        size_t lo = 0, hi = sizeof bn_lower / sizeof bn_lower[0];
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (bn_lower[mid].cp == cp) { out[0] = bn_lower[mid].lower; return 1; }
            if (bn_lower[mid].cp < cp) lo = mid + 1;
            else hi = mid;
        }
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

/* ASCII: 0 dropped, 1 space, else the lowercased byte itself. */
static unsigned char ascii_norm[128];
static pthread_once_t ascii_once = PTHREAD_ONCE_INIT;

static void ascii_init(void) {
    for (int c = 0; c < 128; c++) {
        unsigned char v = (unsigned char)c;
        if (c >= 'A' && c <= 'Z') v = (unsigned char)(c + 32);
        if (dsq_bn_is_dropped((uint32_t)c)) v = 0;
        else if (dsq_bn_is_ws((uint32_t)c)) v = 1;
        ascii_norm[c] = v;
    }
}

/* Combining marks waiting for canonical ordering: only the kept (non-Mn)
 * ones with ccc > 0, since a stable sort commutes with dropping the Mn. */
typedef struct {
    uint32_t cp[16];
    uint8_t cc[16];
    uint32_t *hcp;       /* heap copy when more than 16 pile up */
    uint8_t *hcc;
    size_t n, cap;
} pending;

static void put_cp(dsq_bn_buf *out, uint32_t cp) {
    uint32_t lo[3];
    int k = lower(cp, lo);
    dsq_bn_buf_reserve(out, 4 * (size_t)k);
    for (int i = 0; i < k; i++) out->n += (size_t)dsq_utf8_encode(lo[i], out->p + out->n);
}

static void pend_add(pending *pd, uint32_t cp, int cc) {
    if (pd->n == pd->cap) {
        size_t cap = pd->cap * 2;
        uint32_t *ncp = xmalloc(cap * sizeof *ncp);
        uint8_t *ncc = xmalloc(cap);
        memcpy(ncp, pd->hcp ? pd->hcp : pd->cp, pd->n * sizeof *ncp);
        memcpy(ncc, pd->hcc ? pd->hcc : pd->cc, pd->n);
        free(pd->hcp);
        free(pd->hcc);
        pd->hcp = ncp;
        pd->hcc = ncc;
        pd->cap = cap;
    }
    uint32_t *a = pd->hcp ? pd->hcp : pd->cp;
    uint8_t *c = pd->hcc ? pd->hcc : pd->cc;
    /* stable insertion by combining class */
    size_t i = pd->n;
    while (i > 0 && c[i - 1] > cc) { a[i] = a[i - 1]; c[i] = c[i - 1]; i--; }
    a[i] = cp;
    c[i] = (uint8_t)cc;
    pd->n++;
}

static void pend_flush(pending *pd, dsq_bn_buf *out) {
    uint32_t *a = pd->hcp ? pd->hcp : pd->cp;
    for (size_t i = 0; i < pd->n; i++) put_cp(out, a[i]);
    pd->n = 0;
}

/* One code point after clean_text and the CJK rule: NFD, drop Mn, order. */
static void nfd_cp(uint32_t cp, unsigned f, pending *pd, dsq_bn_buf *out) {
    uint32_t d[8];
    int k = decompose(cp, f, d, 8);
    for (int i = 0; i < k; i++) {
        unsigned fi = k == 1 ? f : ov_flags(d[i]);
        int cc = ccc_f(d[i], fi);
        if (cc == 0) {
            pend_flush(pd, out);
            if (!is_mn_f(d[i], fi)) put_cp(out, d[i]);
        } else if (!is_mn_f(d[i], fi)) {
            pend_add(pd, d[i], cc);
        }
    }
}

static void put_space(pending *pd, dsq_bn_buf *out) {
    pend_flush(pd, out);
    dsq_bn_buf_reserve(out, 1);
    out->p[out->n++] = ' ';
}

void dsq_bn_normalize(const char *s, size_t n, dsq_bn_buf *out) {
    pthread_once(&ascii_once, ascii_init);
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    pending pd = {.n = 0, .cap = 16};
    dsq_bn_buf_reserve(out, n);
    while (p < end) {
        if (*p < 0x80) {
            /* ASCII run: a plain byte map (an ASCII starter also ends any
             * pending combining sequence). */
            if (pd.n) pend_flush(&pd, out);
            dsq_bn_buf_reserve(out, (size_t)(end - p));
            char *o = out->p + out->n;
            while (p < end && *p < 0x80) {
                unsigned char v = ascii_norm[*p++];
                if (v) *o++ = v == 1 ? ' ' : (char)v;
            }
            out->n = (size_t)(o - out->p);
            continue;
        }
        uint32_t cp;
        p += dsq_utf8_decode(p, &cp);
        unsigned f = ov_flags(cp);
        if (dropped_f(cp, f)) continue;
        if (dsq_bn_is_ws(cp)) { put_space(&pd, out); continue; }
        if (dsq_bn_is_cjk(cp)) {
            put_space(&pd, out);
            nfd_cp(cp, f, &pd, out);
            put_space(&pd, out);
            continue;
        }
        nfd_cp(cp, f, &pd, out);
    }
    pend_flush(&pd, out);
    free(pd.hcp);
    free(pd.hcc);
}

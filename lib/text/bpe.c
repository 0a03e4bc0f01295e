/* Byte-level BPE: vocab.json + merges.txt loading and encoding (bpe.h). */
#include "bpe.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

#include "bertnorm.h"
#include "jsonl.h"
#include "sha256.h"
#include "textscan.h"
#include "tokenizer_impl.h"
#include "util.h"

#define CACHE_SLOTS 8192
#define CACHE_LOCKS 64
#define CACHE_MAX_KEY 64   /* longer pre-tokens are not cached */

typedef struct {
    char *key;           /* mapped pre-token, NULL when empty */
    size_t klen;
    int32_t *ids;
    size_t n;
} cache_slot;

struct dsq_bpe {
    dsq_strmap *ranks;         /* "a b" -> merge rank */
    char enc[256][3];          /* byte -> UTF-8 of its mapped code point */
    unsigned char enc_len[256];
    int add_prefix_space;
    int32_t mask_id;           /* -1 when absent */
    char merges_sha[65];       /* of merges.txt, for the digest */
    cache_slot *cache;
    pthread_mutex_t locks[CACHE_LOCKS];
};

int dsq_bpe_class(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return DSQ_BPE_LETTER;
        if (cp >= '0' && cp <= '9') return DSQ_BPE_NUMBER;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return DSQ_BPE_SPACE;
        return DSQ_BPE_OTHER;
    }
    if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
        cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return DSQ_BPE_SPACE;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    if (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) return DSQ_BPE_LETTER;
    if (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) return DSQ_BPE_NUMBER;
    return DSQ_BPE_OTHER;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves,
 * the other 68 to 256, 257, ... in byte order. */
static void byte_table(struct dsq_bpe *b) {
    int next = 256;
    for (int c = 0; c < 256; c++) {
        int keep = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        uint32_t cp = keep ? (uint32_t)c : (uint32_t)next++;
        b->enc_len[c] = (unsigned char)dsq_utf8_encode(cp, b->enc[c]);
    }
}

void dsq_bpe_free(struct dsq_bpe *b) {
    if (!b) return;
    dsq_strmap_free(b->ranks);
    if (b->cache) {
        for (size_t i = 0; i < CACHE_SLOTS; i++) {
            free(b->cache[i].key);
            free(b->cache[i].ids);
        }
        free(b->cache);
        for (int i = 0; i < CACHE_LOCKS; i++) pthread_mutex_destroy(&b->locks[i]);
    }
    free(b);
}

/* ---- loading ------------------------------------------------------------ */

/* vocab.json ({"token": id, ...}, ids 0..2^24-1, distinct) into t->tok /
 * t->blob / t->map; ids missing from the file are empty strings that no
 * lookup finds. */
static int load_vocab(dsq_tokenizer *t, const char *path, dsq_err *e) {
    size_t n;
    char *buf = dsq_read_file(path, "BPE vocabulary", &n, e);
    if (!buf) return e->code;
    json_error_t je;
    json_t *root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!root)
        return dsq_err_set(e, DSQ_EDATA, "%s:%d: %s (a vocab.json of {\"token\": id})", path,
                           je.line, je.text);
    int rc = 0;
    if (!json_is_object(root) || json_object_size(root) == 0) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: not a non-empty JSON object of token ids", path);
        goto out;
    }
    const char *k;
    json_t *v;
    json_int_t maxid = -1;
    size_t bytes = 0;
    json_object_foreach(root, k, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= (1 << 24)) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: token \"%s\": id must be an integer in "
                             "0..16777215", path, k);
            goto out;
        }
        if (!*k || dsq_utf8_invalid_at(k, strlen(k)) >= 0) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: empty token or invalid UTF-8 (id %lld)", path,
                             (long long)id);
            goto out;
        }
        if (id > maxid) maxid = id;
        bytes += strlen(k) + 1;
    }
    t->n = (int32_t)(maxid + 1);
    t->tok = xmalloc((size_t)t->n * sizeof *t->tok);
    t->blob = xmalloc(bytes + 1);
    t->blob[bytes] = '\0';
    for (int32_t i = 0; i < t->n; i++) t->tok[i] = NULL;
    t->map = dsq_strmap_new(json_object_size(root));
    size_t off = 0;
    json_object_foreach(root, k, v) {
        int32_t id = (int32_t)json_integer_value(v);
        size_t len = strlen(k);
        if (t->tok[id]) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tokens \"%s\" and \"%s\" share id %d", path,
                             t->tok[id], k, (int)id);
            goto out;
        }
        memcpy(t->blob + off, k, len + 1);
        t->tok[id] = t->blob + off;
        off += len + 1;
        dsq_strmap_put(t->map, k, len, id);
        if (len > t->max_len) t->max_len = len;
    }
    for (int32_t i = 0; i < t->n; i++)
        if (!t->tok[i]) t->tok[i] = t->blob + bytes;  /* a gap: "" */
out:
    json_decref(root);
    return rc;
}

/* merges.txt: an optional first line "#version...", then "A B" per line
 * (rank = order); blank lines are skipped. */
static int load_merges(struct dsq_bpe *b, const char *path, dsq_err *e) {
    size_t n;
    char *buf = dsq_read_file(path, "BPE merges", &n, e);
    if (!buf) return e->code;
    int rc = 0;
    dsq_sha256_of(buf, n, b->merges_sha);
    long bad = dsq_utf8_invalid_at(buf, n);
    if (bad >= 0) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: invalid UTF-8 at byte %ld", path, bad + 1);
        goto out;
    }
    b->ranks = dsq_strmap_new(n / 8 + 16);
    int32_t rank = 0;
    long line = 0;
    for (size_t i = 0; i < n;) {
        size_t a = i;
        while (i < n && buf[i] != '\n') i++;
        size_t z = i++;
        line++;
        if (z > a && buf[z - 1] == '\r') z--;
        if (line == 1 && z - a >= 8 && memcmp(buf + a, "#version", 8) == 0) continue;
        if (z == a) continue;
        size_t sp = a, spaces = 0;
        for (size_t p = a; p < z; p++)
            if (buf[p] == ' ') { sp = p; spaces++; }
        if (spaces != 1 || sp == a || sp + 1 == z) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s:%ld: a merge is two symbols separated by one "
                             "space", path, line);
            goto out;
        }
        if (dsq_strmap_put(b->ranks, buf + a, z - a, rank) >= 0) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s:%ld: duplicate merge", path, line);
            goto out;
        }
        if (++rank == INT32_MAX) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: too many merges", path);
            goto out;
        }
    }
out:
    free(buf);
    return rc;
}

/* The id of special token s (NULL: absent), which must be in the vocabulary. */
static int special(dsq_tokenizer *t, const char *s, int required, const char *path,
                   int32_t *id, dsq_err *e) {
    *id = -1;
    if (!s) {
        if (required) return dsq_err_set(e, DSQ_EDATA, "%s: no cls/sep special token", path);
        return 0;
    }
    *id = dsq_strmap_get(t->map, s, strlen(s));
    if (*id < 0) {
        if (!required) return 0;
        return dsq_err_set(e, DSQ_EDATA, "%s: the special token %s is not in the vocabulary",
                           path, s);
    }
    if (t->nadded < (int)(sizeof t->added / sizeof t->added[0]))
        t->added[t->nadded++] = (dsq_added_token){t->tok[*id], strlen(s), *id};
    return 0;
}

int dsq_tokenizer_load_bpe(dsq_tokenizer **out, const char *vocab_json, const char *merges_txt,
                           const dsq_bpe_opts *o, dsq_err *e) {
    *out = NULL;
    dsq_tokenizer *t = xcalloc(1, sizeof *t);
    t->kind = DSQ_TOK_BPE;
    struct dsq_bpe *b = t->bpe = xcalloc(1, sizeof *t->bpe);
    byte_table(b);
    b->add_prefix_space = o->add_prefix_space;
    int rc = load_vocab(t, vocab_json, e);
    if (!rc) rc = load_merges(b, merges_txt, e);
    int32_t cls = -1, sep = -1, pad = -1, unk = -1;
    if (!rc) rc = special(t, o->cls, 1, vocab_json, &cls, e);
    if (!rc) rc = special(t, o->sep, 1, vocab_json, &sep, e);
    if (!rc) rc = special(t, o->pad, 0, vocab_json, &pad, e);
    if (!rc) rc = special(t, o->unk, 0, vocab_json, &unk, e);
    if (!rc) rc = special(t, o->mask, 0, vocab_json, &b->mask_id, e);
    if (rc) {
        dsq_tokenizer_free(t);
        return rc;
    }
    t->sp = (dsq_special_ids){.pad = pad, .unk = unk, .start = cls, .end = sep, .sep = sep};
    b->cache = xcalloc(CACHE_SLOTS, sizeof *b->cache);
    for (int i = 0; i < CACHE_LOCKS; i++) pthread_mutex_init(&b->locks[i], NULL);
    char extra[96];
    snprintf(extra, sizeof extra, "merges sha256:%s\n", b->merges_sha);
    dsq_tokenizer_make_digest(t, extra);
    *out = t;
    return 0;
}

/* ---- encoding ----------------------------------------------------------- */

/* Byte length of GPT-2's pattern match at s[i..n) (valid UTF-8, i < n). */
static size_t pretoken(const unsigned char *s, size_t i, size_t n) {
    if (s[i] == '\'' && i + 1 < n) {
        unsigned c = s[i + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
        if (i + 2 < n && ((c == 'r' && s[i + 2] == 'e') || (c == 'v' && s[i + 2] == 'e') ||
                          (c == 'l' && s[i + 2] == 'l')))
            return 3;
    }
    uint32_t cp;
    size_t j = i, w = (size_t)dsq_utf8_decode(s + j, &cp);
    int k = dsq_bpe_class(cp);
    if (cp == ' ' && i + 1 < n) {  /* " ?X+": a space joins a following L/N/O run */
        uint32_t c2;
        int w2 = dsq_utf8_decode(s + i + 1, &c2);
        int k2 = dsq_bpe_class(c2);
        if (k2 != DSQ_BPE_SPACE) {
            j = i + 1 + (size_t)w2;
            while (j < n) {
                int wl = dsq_utf8_decode(s + j, &c2);
                if (dsq_bpe_class(c2) != k2) break;
                j += (size_t)wl;
            }
            return j - i;
        }
    }
    if (k != DSQ_BPE_SPACE) {
        j += w;
        while (j < n) {
            int wl = dsq_utf8_decode(s + j, &cp);
            if (dsq_bpe_class(cp) != k) break;
            j += (size_t)wl;
        }
        return j - i;
    }
    /* \s+(?!\S) | \s+ : the whole run at the end of the text or before more
     * space; before a non-space, the run less its last character unless
     * that leaves nothing. */
    size_t last = j;
    while (j < n) {
        int wl = dsq_utf8_decode(s + j, &cp);
        if (dsq_bpe_class(cp) != DSQ_BPE_SPACE) break;
        last = j;
        j += (size_t)wl;
    }
    if (j == n || last == i) return j - i;
    return last - i;
}

/* Merges the mapped pre-token m[0..len) and appends its ids. */
static void merge_word(const dsq_tokenizer *t, const char *m, size_t len, dsq_ids *out) {
    const struct dsq_bpe *b = t->bpe;
    size_t cap = len + 1, ns = 0;
    size_t stack_cut[130];
    size_t *cut = cap <= 130 ? stack_cut : xmalloc(cap * sizeof *cut);  /* symbol k = [cut[k], cut[k+1]) */
    for (size_t p = 0; p < len;) {
        cut[ns++] = p;
        p += (unsigned char)m[p] < 0x80 ? 1 : 2;  /* mapped code points are < 0x800 */
    }
    cut[ns] = len;
    char kbuf[256], *key = kbuf;
    size_t kcap = sizeof kbuf;
    while (ns > 1) {
        int32_t best = INT32_MAX;
        size_t bi = 0;
        for (size_t k = 0; k + 1 < ns; k++) {
            size_t la = cut[k + 1] - cut[k], lb = cut[k + 2] - cut[k + 1];
            if (la + lb + 1 > kcap) {
                kcap = 2 * (la + lb + 1);
                key = key == kbuf ? xmalloc(kcap) : xrealloc(key, kcap);
            }
            memcpy(key, m + cut[k], la);
            key[la] = ' ';
            memcpy(key + la + 1, m + cut[k + 1], lb);
            int32_t r = dsq_strmap_get(b->ranks, key, la + lb + 1);
            if (r >= 0 && r < best) { best = r; bi = k; }
        }
        if (best == INT32_MAX) break;
        /* The pair's strings; merge every occurrence left to right. */
        size_t fa = cut[bi], la = cut[bi + 1] - fa, fb = cut[bi + 1], lb = cut[bi + 2] - fb;
        size_t w = 0;
        for (size_t k = 0; k < ns;) {
            int hit = k + 1 < ns && cut[k + 1] - cut[k] == la && cut[k + 2] - cut[k + 1] == lb &&
                      memcmp(m + cut[k], m + fa, la) == 0 &&
                      memcmp(m + cut[k + 1], m + fb, lb) == 0;
            cut[w++] = cut[k];
            k += hit ? 2 : 1;
        }
        ns = w;
        cut[ns] = len;
    }
    for (size_t k = 0; k < ns; k++) {
        int32_t id = dsq_strmap_get(t->map, m + cut[k], cut[k + 1] - cut[k]);
        dsq_ids_push(out, id >= 0 ? id : t->sp.unk);
    }
    if (key != kbuf) free(key);
    if (cut != stack_cut) free(cut);
}

/* Ids of one mapped pre-token, through the cache. */
static void bpe_word(const dsq_tokenizer *t, const char *m, size_t len, dsq_ids *out) {
    struct dsq_bpe *b = t->bpe;
    if (len > CACHE_MAX_KEY) { merge_word(t, m, len, out); return; }
    uint64_t h = dsq_strmap_hash(m, len);
    size_t slot = (size_t)(h % CACHE_SLOTS);
    pthread_mutex_t *lk = &b->locks[slot % CACHE_LOCKS];
    cache_slot *c = &b->cache[slot];
    pthread_mutex_lock(lk);
    if (c->key && c->klen == len && memcmp(c->key, m, len) == 0) {
        dsq_ids_reserve(out, c->n);
        memcpy(out->ids + out->n, c->ids, c->n * sizeof *c->ids);
        out->n += c->n;
        pthread_mutex_unlock(lk);
        return;
    }
    pthread_mutex_unlock(lk);
    size_t first = out->n;
    merge_word(t, m, len, out);
    size_t k = out->n - first;
    char *key = xmalloc(len);
    int32_t *ids = xmalloc(k * sizeof *ids);
    memcpy(key, m, len);
    memcpy(ids, out->ids + first, k * sizeof *ids);
    pthread_mutex_lock(lk);
    free(c->key);
    free(c->ids);
    *c = (cache_slot){key, len, ids, k};
    pthread_mutex_unlock(lk);
}

/* Pre-tokenises s[0..n) and appends the ids of every pre-token. */
static void encode_piece(const dsq_tokenizer *t, const char *s, size_t n, dsq_ids *out) {
    const struct dsq_bpe *b = t->bpe;
    const unsigned char *u = (const unsigned char *)s;
    char stack[512];
    for (size_t i = 0; i < n;) {
        size_t len = pretoken(u, i, n);
        char *m = 2 * len <= sizeof stack ? stack : xmalloc(2 * len);
        size_t ml = 0;
        for (size_t p = i; p < i + len; p++) {
            memcpy(m + ml, b->enc[u[p]], b->enc_len[u[p]]);
            ml += b->enc_len[u[p]];
        }
        bpe_word(t, m, ml, out);
        if (m != stack) free(m);
        i += len;
    }
}

/* The special token starting at s[i..n): its index in t->added, or -1. */
static int special_at(const dsq_tokenizer *t, const char *s, size_t i, size_t n) {
    int best = -1;
    for (int k = 0; k < t->nadded; k++) {
        size_t l = t->added[k].n;
        if (l <= n - i && memcmp(s + i, t->added[k].s, l) == 0 &&
            (best < 0 || l > t->added[best].n))
            best = k;
    }
    return best;
}

int dsq_bpe_encode(const dsq_tokenizer *t, const char *text, size_t len, dsq_ids *out) {
    const struct dsq_bpe *b = t->bpe;
    char *buf = NULL;
    if (b->add_prefix_space && len > 0 &&
        dsq_space_len((const unsigned char *)text, len) == 0) {
        buf = xmalloc(len + 1);
        buf[0] = ' ';
        memcpy(buf + 1, text, len);
        text = buf;
        len++;
    }
    dsq_ids_push(out, t->sp.start);
    size_t piece = 0;  /* start of the current non-special piece */
    for (size_t i = 0; i < len;) {
        int k = special_at(t, text, i, len);
        if (k < 0) { i++; continue; }
        size_t end = i;
        if (t->added[k].id == b->mask_id) end = dsq_py_rstrip_len(text, piece, i);
        encode_piece(t, text + piece, end - piece, out);
        dsq_ids_push(out, t->added[k].id);
        i += t->added[k].n;
        piece = i;
    }
    encode_piece(t, text + piece, len - piece, out);
    dsq_ids_push(out, t->sp.end);
    free(buf);
    return 0;
}

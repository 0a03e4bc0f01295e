/* String hash map: linear probing over a power-of-two slot array; keys live
 * in one growing arena.  See strmap.h. */
#include "strmap.h"

#include <string.h>

#include "err.h"

typedef struct {
    uint64_t hash;
    uint32_t off, len;  /* key in the arena */
    int32_t val;
    int32_t used;
} slot;

struct dsq_strmap {
    slot *slots;
    size_t mask, count;
    char *arena;
    size_t arena_n, arena_cap;
};

dsq_strmap *dsq_strmap_new(size_t expected) {
    dsq_strmap *m = xcalloc(1, sizeof *m);
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    m->arena_cap = 1024;
    m->arena = xmalloc(m->arena_cap);
    return m;
}

void dsq_strmap_free(dsq_strmap *m) {
    if (!m) return;
    free(m->slots);
    free(m->arena);
    free(m);
}

size_t dsq_strmap_size(const dsq_strmap *m) { return m->count; }

/* The low bits of FNV-1a are weak; fold the high half in. */
static inline size_t home(uint64_t h, size_t mask) { return (size_t)(h ^ (h >> 29) ^ (h >> 47)) & mask; }

int32_t dsq_strmap_get_h(const dsq_strmap *m, const char *s, size_t n, uint64_t h) {
    for (size_t i = home(h, m->mask);; i = (i + 1) & m->mask) {
        const slot *sl = &m->slots[i];
        if (!sl->used) return -1;
        if (sl->hash == h && sl->len == n && memcmp(m->arena + sl->off, s, n) == 0) return sl->val;
    }
}

static slot *find(dsq_strmap *m, const char *s, size_t n, uint64_t h) {
    for (size_t i = home(h, m->mask);; i = (i + 1) & m->mask) {
        slot *sl = &m->slots[i];
        if (!sl->used) return sl;
        if (sl->hash == h && sl->len == n && memcmp(m->arena + sl->off, s, n) == 0) return sl;
    }
}

static void grow(dsq_strmap *m) {
    size_t cap = (m->mask + 1) * 2;
    slot *old = m->slots;
    size_t oldcap = m->mask + 1;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].used) continue;
        size_t j = home(old[i].hash, m->mask);
        while (m->slots[j].used) j = (j + 1) & m->mask;
        m->slots[j] = old[i];
    }
    free(old);
}

static slot *insert(dsq_strmap *m, const char *s, size_t n, int32_t v, int *fresh) {
    uint64_t h = dsq_strmap_hash(s, n);
    slot *sl = find(m, s, n, h);
    if (sl->used) { *fresh = 0; return sl; }
    DSQ_CHECK(n <= UINT32_MAX && m->arena_n + n <= UINT32_MAX);
    if (m->arena_n + n > m->arena_cap) {
        while (m->arena_n + n > m->arena_cap) m->arena_cap *= 2;
        m->arena = xrealloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_n, s, n);
    sl->hash = h;
    sl->off = (uint32_t)m->arena_n;
    sl->len = (uint32_t)n;
    sl->val = v;
    sl->used = 1;
    m->arena_n += n;
    m->count++;
    *fresh = 1;
    if (m->count * 2 > m->mask + 1) {
        grow(m);
        sl = find(m, s, n, h);
    }
    return sl;
}

int32_t dsq_strmap_put(dsq_strmap *m, const char *s, size_t n, int32_t v) {
    int fresh;
    slot *sl = insert(m, s, n, v, &fresh);
    return fresh ? -1 : sl->val;
}

int32_t *dsq_strmap_ref(dsq_strmap *m, const char *s, size_t n) {
    slot *sl = find(m, s, n, dsq_strmap_hash(s, n));
    return sl->used ? &sl->val : NULL;
}

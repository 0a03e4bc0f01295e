/* Open-addressing hash map from byte strings to int32 values, for
 * vocabularies and word counts.  Keys are copied into the map.  Lookups
 * never modify the map, so a filled map may be read by many threads. */
#ifndef DSQ_STRMAP_H
#define DSQ_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct dsq_strmap dsq_strmap;

dsq_strmap *dsq_strmap_new(size_t expected);
void dsq_strmap_free(dsq_strmap *m);
size_t dsq_strmap_size(const dsq_strmap *m);

/* FNV-1a, 64 bit; byte-incremental so that the hashes of all prefixes of a
 * word come out of one pass (WordPiece's longest-match search). */
#define DSQ_STRMAP_H0 0xcbf29ce484222325ULL
static inline uint64_t dsq_strmap_step(uint64_t h, unsigned char b) {
    return (h ^ b) * 0x100000001b3ULL;
}
static inline uint64_t dsq_strmap_hash(const char *s, size_t n) {
    uint64_t h = DSQ_STRMAP_H0;
    for (size_t i = 0; i < n; i++) h = dsq_strmap_step(h, (unsigned char)s[i]);
    return h;
}

/* Value for key s[0..n) (h its hash), or -1. */
int32_t dsq_strmap_get_h(const dsq_strmap *m, const char *s, size_t n, uint64_t h);
static inline int32_t dsq_strmap_get(const dsq_strmap *m, const char *s, size_t n) {
    return dsq_strmap_get_h(m, s, n, dsq_strmap_hash(s, n));
}
/* Inserts s -> v when absent and returns -1; otherwise leaves the map
 * unchanged and returns the existing value. */
int32_t dsq_strmap_put(dsq_strmap *m, const char *s, size_t n, int32_t v);
/* Pointer to the value of s (NULL when absent), to update counts in place. */
int32_t *dsq_strmap_ref(dsq_strmap *m, const char *s, size_t n);

#endif

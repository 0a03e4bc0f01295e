/* Text helpers shared by the metrics and the word tokenizer: UTF-8
 * stepping, Python's notion of whitespace, and a fast 64-bit byte hash.
 * Header-only (static inline) because they sit in the inner loops of tokenisers. */
#ifndef DSQ_TEXTSCAN_H
#define DSQ_TEXTSCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Decodes the code point at s[0..n) (n >= 1) into *cp and returns its byte
 * length.  Malformed bytes decode one at a time as 0xDC00+byte (outside
 * every class the metrics care about), so no input can stall a scanner. */
static inline size_t dsq_u8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else { *cp = 0xDC00 + c; return 1; }
    if (len > n) { *cp = 0xDC00 + c; return 1; }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = 0xDC00 + c; return 1; }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { *cp = 0xDC00 + c; return 1; }
    *cp = v;
    return len;
}

/* Python str.isspace() / str.split() whitespace (doc/metrics.md §0;
 * checked against CPython 3.11 over all code points). */
static inline int dsq_is_py_space(uint32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Length of the whitespace character at s (0 when s[0] is not one).
 * ASCII fast path first: almost every byte of real text takes it. */
static inline size_t dsq_space_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return (c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) ? 1 : 0;
    if (c != 0xC2 && c != 0xE1 && c != 0xE2 && c != 0xE3) return 0;
    uint32_t cp;
    size_t len = dsq_u8_next(s, n, &cp);
    return dsq_is_py_space(cp) ? len : 0;
}

/* Length of s[0..n) without trailing whitespace (Python rstrip()): backs up
 * to the start of the last character (at most 3 continuation bytes) and
 * drops it while it is whitespace of exactly that length. */
static inline size_t dsq_py_rstrip_len(const char *s, size_t a, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t b = n;
    while (b > a) {
        size_t st = b - 1;
        for (int k = 0; k < 3 && st > a && (u[st] & 0xC0) == 0x80; k++) st--;
        if (dsq_space_len(u + st, b - st) != b - st) break;
        b = st;
    }
    return b;
}

static inline uint64_t dsq_mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* 64-bit hash of a byte string.  Only speed depends on its quality:
 * every user confirms equal hashes by comparing the bytes. */
static inline uint64_t dsq_hash_bytes(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = dsq_mix64(h ^ w);
        s += 8; n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return dsq_mix64(h ^ w ^ ((uint64_t)n << 56));
}

#endif

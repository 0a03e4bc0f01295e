/* Every code point U+0000..U+10FFFF (surrogates excluded) against the HF
 * tokenizer: pre-tokeniser class, normalised form and canonical-ordering
 * probes (unicode_norm.txt.zst), then whole-pipeline ids per block of 1024
 * code points (unicode_ids.txt), and Python's str.isspace (pyspace.txt).
 * A failure names the code points. */
#include "bertnorm.h"
#include "check.h"
#include "textscan.h"
#include "tokfix.h"
#include "wordvocab.h"

/* HF normalize_str of the code points cps[0..k) as a list. */
static size_t norm_cps(const uint32_t *cps, int k, uint32_t *out, size_t cap) {
    char in[32], st[128];
    size_t n = 0, m = 0;
    for (int i = 0; i < k; i++) n += (size_t)dsq_utf8_encode(cps[i], in + n);
    dsq_bn_buf b;
    dsq_bn_buf_init(&b, st, sizeof st);
    dsq_bn_normalize(in, n, &b);
    for (size_t i = 0; i < b.n && m < cap;) {
        uint32_t c;
        i += (size_t)dsq_utf8_decode((const unsigned char *)b.p + i, &c);
        out[m++] = c;
    }
    dsq_bn_buf_free(&b);
    return m;
}

/* The fixture's rule string for cp ("=", "+32", "_", "x", comma-joined). */
static void rule_of(uint32_t cp, const uint32_t *n, size_t k, char *buf, size_t cap) {
    size_t o = 0;
    if (!k) { snprintf(buf, cap, "x"); return; }
    for (size_t i = 0; i < k; i++) {
        if (i) buf[o++] = ',';
        if (n[i] == 0x20) o += (size_t)snprintf(buf + o, cap - o, "_");
        else if (n[i] == cp) o += (size_t)snprintf(buf + o, cap - o, "=");
        else o += (size_t)snprintf(buf + o, cap - o, "%+ld", (long)n[i] - (long)cp);
    }
}

static void test_norm_sweep(void) {
    char *buf = fix_read(FIX_DIR "unicode_norm.txt.zst", NULL), *cur = buf, *line;
    EXPECT(buf != NULL, "fixture");
    long bad = 0, count = 0;
    uint32_t next = 0;
    while (buf && (line = fix_line(&cur))) {
        unsigned lo, hi, ordf;
        char cls, rule[256];
        if (sscanf(line, "%X %X %c %255s %u", &lo, &hi, &cls, rule, &ordf) != 5) { bad++; break; }
        if (lo != next && !(next == 0xD800 && lo == 0xE000)) { EXPECT(0, "gap before U+%04X", lo); }
        next = hi + 1;
        for (uint32_t cp = lo; cp <= hi; cp++) {
            count++;
            char gcls = dsq_bn_is_ws(cp) ? 'W' : dsq_bn_is_punct(cp) ? 'P' : 'O';
            uint32_t n[16], o[20];
            size_t k = norm_cps(&cp, 1, n, 16);
            char grule[256];
            rule_of(cp, n, k, grule, sizeof grule);
            uint32_t p1[2] = {0x1D16D, cp}, p2[2] = {cp, 0x1D165};
            size_t k1 = norm_cps(p1, 2, o, 20);
            int r1 = !(k1 == k + 1 && o[0] == 0x1D16D && memcmp(o + 1, n, k * sizeof *n) == 0);
            size_t k2 = norm_cps(p2, 2, o, 20);
            int r2 = !(k2 == k + 1 && o[k] == 0x1D165 && memcmp(o, n, k * sizeof *n) == 0);
            unsigned gord = (unsigned)(r1 + 2 * r2);
            if (gcls != cls || strcmp(grule, rule) != 0 || gord != ordf) {
                if (bad < 30)
                    fprintf(stderr, "  U+%04X: class %c rule %s order %u; HF: class %c rule %s order %u\n", cp,
                            gcls, grule, gord, cls, rule, ordf);
                bad++;
            }
        }
    }
    EXPECT(bad == 0, "%ld code points disagree with HF (override table made for Unicode %s, utf8proc has %s%s)", bad,
           dsq_bn_tables_unicode(), dsq_bn_utf8proc_unicode(),
           strcmp(dsq_bn_tables_unicode(), dsq_bn_utf8proc_unicode()) ? ": rerun tests/oracles/gen_bertnorm_tables.py" : "");
    EXPECT(count == 0x110000 - 0x800, "%ld code points covered", count);
    free(buf);
}

static void test_ids_sweep(void) {
    dsq_tokenizer *t = fix_bert();
    char *buf = fix_read(FIX_DIR "unicode_ids.txt", NULL), *cur = buf, *line;
    EXPECT(t && buf, "setup");
    long blocks = 0, bad = 0;
    dsq_ids v = {0};
    while (t && buf && (line = fix_line(&cur))) {
        unsigned blk;
        char want[17];
        if (sscanf(line, "%X %16s", &blk, want) != 2) { bad++; break; }
        dsq_sha256 c;
        dsq_sha256_init(&c);
        for (uint32_t cp = blk; cp < blk + 1024; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF) continue;
            char s[32], u[4];
            int k = dsq_utf8_encode(cp, u);
            size_t n = 0;
            s[n++] = 'a'; memcpy(s + n, u, (size_t)k); n += (size_t)k; s[n++] = 'b'; s[n++] = ' ';
            memcpy(s + n, u, (size_t)k); n += (size_t)k; s[n++] = ' ';
            memcpy(s + n, u, (size_t)k); n += (size_t)k; memcpy(s + n, u, (size_t)k); n += (size_t)k; s[n++] = 'x';
            v.n = 0;
            dsq_err e = {0};
            dsq_tokenizer_encode(t, s, n, &v, &e);
            for (size_t i = 0; i < v.n; i++) {
                unsigned char le[4] = {(unsigned char)v.ids[i], (unsigned char)(v.ids[i] >> 8),
                                       (unsigned char)(v.ids[i] >> 16), (unsigned char)(v.ids[i] >> 24)};
                dsq_sha256_update(&c, le, 4);
            }
        }
        unsigned char d[32];
        char hex[65];
        dsq_sha256_final(&c, d);
        dsq_sha256_hex(d, hex);
        blocks++;
        if (strncmp(hex, want, 16) != 0) {
            if (bad < 20) fprintf(stderr, "  ids of block U+%04X..U+%04X differ from HF\n", blk, blk + 1023);
            bad++;
        }
    }
    EXPECT(bad == 0, "%ld blocks differ", bad);
    EXPECT(blocks == 1086, "%ld blocks (1088 less the two surrogate blocks)", blocks);
    dsq_ids_free(&v);
    dsq_tokenizer_free(t);
    free(buf);
}

static void test_pyspace(void) {
    char *buf = fix_read(FIX_DIR "pyspace.txt", NULL), *cur = buf, *line;
    EXPECT(buf != NULL, "fixture");
    static unsigned char want[0x110000];
    int n = 0;
    while (buf && (line = fix_line(&cur))) {
        unsigned cp;
        if (sscanf(line, "%X", &cp) == 1 && cp < 0x110000) { want[cp] = 1; n++; }
    }
    EXPECT(n == 29, "%d space code points", n);
    for (uint32_t cp = 0; cp < 0x110000; cp++)
        EXPECT(dsq_is_py_space(cp) == want[cp], "U+%04X: isspace %d, Python %d", cp, dsq_is_py_space(cp), want[cp]);
    free(buf);
}

int main(void) {
    RUN_TEST(test_norm_sweep);
    RUN_TEST(test_ids_sweep);
    RUN_TEST(test_pyspace);
    TEST_MAIN_END();
}

/* BERT WordPiece against the HuggingFace fast tokenizer (fixtures from
 * tests/oracles/gen_tokenizer_fixtures.py): hand-made hard cases, every
 * line of the shipped data sets, decoding in both join styles, the
 * encode -> decode -> encode round trip, vocabulary loading and errors. */
#include <omp.h>

#include "check.h"
#include "tokfix.h"

static dsq_tokenizer *bert, *words;

static int cmp_ids(const char *what, long line, const char *field, const dsq_ids *got, const dsq_ids *want) {
    if (ids_equal(got, want)) return 1;
    char a[600], b[600];
    fprintf(stderr, "  %s:%ld %s ids differ\n    got  %s\n    want %s\n", what, line, field,
            ids_str(got->ids, got->n, a, sizeof a), ids_str(want->ids, want->n, b, sizeof b));
    return 0;
}

static void test_api(void) {
    EXPECT(dsq_tokenizer_kind(bert) == DSQ_TOK_WORDPIECE, "kind");
    EXPECT(strcmp(dsq_tokenizer_kind_name(DSQ_TOK_WORDPIECE), "wordpiece") == 0, "name");
    EXPECT(strcmp(dsq_tokenizer_kind_name(DSQ_TOK_WORD), "word") == 0, "name");
    dsq_tok_kind k;
    EXPECT(dsq_tokenizer_kind_parse("word", &k) == 0 && k == DSQ_TOK_WORD, "parse word");
    EXPECT(dsq_tokenizer_kind_parse("bpe", &k) == -1, "parse bad");
    dsq_join j;
    EXPECT(dsq_join_parse("legacy", &j) == 0 && j == DSQ_JOIN_LEGACY, "join parse");
    EXPECT(dsq_join_parse("x", &j) == -1, "join parse bad");
    EXPECT(dsq_tokenizer_vocab_size(bert) == 30522, "size %d", dsq_tokenizer_vocab_size(bert));
    dsq_special_ids sp = dsq_tokenizer_specials(bert);
    EXPECT(sp.pad == 0 && sp.unk == 100 && sp.start == 101 && sp.end == 102 && sp.sep == 102,
           "specials %d %d %d %d %d", sp.pad, sp.unk, sp.start, sp.end, sp.sep);
    EXPECT(strcmp(dsq_tokenizer_token(bert, 103), "[MASK]") == 0, "token 103");
    EXPECT(strcmp(dsq_tokenizer_token(bert, 30521), "##～") == 0, "last token %s", dsq_tokenizer_token(bert, 30521));
    EXPECT(dsq_tokenizer_token(bert, 30522) == NULL && dsq_tokenizer_token(bert, -1) == NULL, "out of range");
    EXPECT(dsq_tokenizer_id(bert, "hello", 5) == 7592, "id hello");
    EXPECT(dsq_tokenizer_id(bert, "zzzzq", 5) == -1, "absent");
    /* digests against the Python canonical form */
    char *d = fix_read(FIX_DIR "digest.txt", NULL);
    EXPECT(d && strstr(d, dsq_tokenizer_digest(bert)) != NULL, "wordpiece digest %s", dsq_tokenizer_digest(bert));
    EXPECT(d && strstr(d, dsq_tokenizer_digest(words)) != NULL, "word digest %s", dsq_tokenizer_digest(words));
    EXPECT(strcmp(dsq_tokenizer_digest(bert), dsq_tokenizer_digest(words)) != 0, "digests differ");
    sp = dsq_tokenizer_specials(words);
    EXPECT(sp.start == 0 && sp.end == 1 && sp.unk == 2 && sp.pad == 3 && sp.sep == 1, "word specials");
    free(d);
}

static void test_hard_cases(void) {
    char *buf = fix_read(FIX_DIR "hard.jsonl", NULL), *cur = buf, *line;
    EXPECT(buf != NULL, "fixture");
    dsq_ids got = {0}, want = {0};
    dsq_str s = {0};
    int n = 0;
    while (buf && (line = fix_line(&cur))) {
        json_t *o = json_loads(line, JSON_ALLOW_NUL, NULL);
        EXPECT(o != NULL, "hard.jsonl: unparsable line %d", n + 1);
        if (!o) continue;
        long cs = (long)json_integer_value(json_object_get(o, "case"));
        dsq_err e = {0};
        got.n = 0;
        n++;
        if (json_object_get(o, "hex")) {
            const char *hx = json_string_value(json_object_get(o, "hex"));
            size_t bl = strlen(hx) / 2;
            char raw[256];
            for (size_t i = 0; i < bl; i++) sscanf(hx + 2 * i, "%2hhx", (unsigned char *)&raw[i]);
            int rc = dsq_tokenizer_encode(bert, raw, bl, &got, &e);
            char msg[64];
            snprintf(msg, sizeof msg, "invalid UTF-8 at byte %ld", (long)json_integer_value(json_object_get(o, "error_at")));
            EXPECT(rc == DSQ_EDATA && strstr(e.msg, msg) && got.n == 0, "case %ld: rc %d msg '%s' want '%s'", cs, rc, e.msg, msg);
            rc = dsq_tokenizer_encode(words, raw, bl, &got, &e);
            EXPECT(rc == DSQ_EDATA && strstr(e.msg, msg), "case %ld (word): rc %d msg '%s'", cs, rc, e.msg);
            json_decref(o);
            continue;
        }
        const char *text = json_string_value(json_object_get(o, "text"));
        size_t tl = json_string_length(json_object_get(o, "text"));
        EXPECT(dsq_tokenizer_encode(bert, text, tl, &got, &e) == 0, "case %ld: %s", cs, e.msg);
        fix_ids(json_object_get(o, "ids"), &want);
        EXPECT(cmp_ids("hard.jsonl case", cs, "bert", &got, &want), "case %ld ids", cs);
        const char *jn[2] = {"modern", "legacy"};
        for (int j = 0; j < 2; j++) {
            dsq_tokenizer_decode(bert, want.ids, want.n, j ? DSQ_JOIN_LEGACY : DSQ_JOIN_MODERN, &s, &e);
            const char *w = json_string_value(json_object_get(o, jn[j]));
            EXPECT(strcmp(s.s, w) == 0, "case %ld %s decode\n    got  '%s'\n    want '%s'", cs, jn[j], s.s, w);
        }
        /* round trip: modern decode re-encoded */
        dsq_tokenizer_decode(bert, want.ids, want.n, DSQ_JOIN_MODERN, &s, &e);
        dsq_ids rt = {0};
        dsq_tokenizer_encode(bert, s.s, s.n, &rt, &e);
        if (json_object_get(o, "rt")) {
            fix_ids(json_object_get(o, "rt"), &want);
        } else {
            dsq_ids w2 = {0};
            dsq_ids_push(&w2, 101);
            for (size_t i = 0; i < want.n; i++) dsq_ids_push(&w2, want.ids[i]);
            dsq_ids_push(&w2, 102);
            dsq_ids_free(&want);
            want = w2;
        }
        EXPECT(cmp_ids("hard.jsonl case", cs, "round trip", &rt, &want), "case %ld round trip", cs);
        dsq_ids_free(&rt);
        /* word vocabulary */
        got.n = 0;
        dsq_tokenizer_encode(words, text, tl, &got, &e);
        fix_ids(json_object_get(o, "word"), &want);
        EXPECT(cmp_ids("hard.jsonl case", cs, "word", &got, &want), "case %ld word ids", cs);
        dsq_tokenizer_decode(words, want.ids, want.n, DSQ_JOIN_MODERN, &s, &e);
        const char *wd = json_string_value(json_object_get(o, "word_dec"));
        EXPECT(strcmp(s.s, wd) == 0, "case %ld word decode '%s' want '%s'", cs, s.s, wd);
        json_decref(o);
    }
    EXPECT(n >= 60, "only %d hard cases", n);
    dsq_ids_free(&got);
    dsq_ids_free(&want);
    dsq_str_free(&s);
    free(buf);
}

/* Every src/trg of one data file against bert_<set>_<split>.jsonl.zst. */
static void check_dataset(const char *set, const char *split) {
    char fx[512], rel[256];
    snprintf(rel, sizeof rel, "data/%s/%s.jsonl", set, split);
    snprintf(fx, sizeof fx, FIX_DIR "bert_%s_%s.jsonl.zst", set, split);
    char *data = fix_read(rel, NULL), *fix = fix_read(fx, NULL);
    EXPECT(data && fix, "%s / %s", rel, fx);
    if (!data || !fix) { free(data); free(fix); return; }
    char *dc = data, *fc = fix, *dl, *fl;
    dsq_ids got = {0}, want = {0}, rt = {0};
    dsq_str dec[2] = {{0}, {0}};
    long line = 0;
    int bad = 0;
    while ((dl = fix_line(&dc)) && (fl = fix_line(&fc))) {
        line++;
        json_t *d = json_loads(dl, JSON_ALLOW_NUL, NULL), *f = json_loads(fl, JSON_ALLOW_NUL, NULL);
        if (!d || !f) { bad++; fprintf(stderr, "  %s:%ld: unparsable data or fixture line\n", rel, line); break; }
        dsq_str all = {0};
        const char *fields[2] = {"src", "trg"};
        for (int k = 0; k < 2; k++) {
            dsq_err e = {0};
            json_t *js = json_object_get(d, fields[k]);
            got.n = 0;
            dsq_tokenizer_encode(bert, json_string_value(js), json_string_length(js), &got, &e);
            fix_ids(json_object_get(f, fields[k]), &want);
            if (!cmp_ids(rel, line, fields[k], &got, &want)) bad++;
            for (int j = 0; j < 2; j++) {
                dsq_tokenizer_decode(bert, want.ids, want.n, j ? DSQ_JOIN_LEGACY : DSQ_JOIN_MODERN, &dec[j], &e);
                char key[32];
                snprintf(key, sizeof key, "%s_%s", fields[k], j ? "legacy" : "modern");
                json_t *w = json_object_get(f, key);
                if (w && strcmp(json_string_value(w), dec[j].s) != 0) {
                    bad++;
                    fprintf(stderr, "  %s:%ld %s\n    got  '%s'\n    want '%s'\n", rel, line, key, dec[j].s, json_string_value(w));
                }
                if (all.n || k || j) dsq_str_append(&all, "", 1);
                dsq_str_append(&all, dec[j].s, dec[j].n);
            }
            /* round trip */
            rt.n = 0;
            dsq_tokenizer_encode(bert, dec[0].s, dec[0].n, &rt, &e);
            char key[32];
            snprintf(key, sizeof key, "%s_rt", fields[k]);
            if (json_object_get(f, key)) {
                fix_ids(json_object_get(f, key), &want);
            } else {
                dsq_ids_push(&want, 0);
                memmove(want.ids + 1, want.ids, (want.n - 1) * sizeof *want.ids);
                want.ids[0] = 101;
                dsq_ids_push(&want, 102);
            }
            if (!cmp_ids(rel, line, "round trip", &rt, &want)) bad++;
        }
        json_t *dh = json_object_get(f, "dec_h");
        if (dh) {
            char h[9];
            h8(all.s, all.n, h);
            if (strcmp(h, json_string_value(dh)) != 0) {
                bad++;
                fprintf(stderr, "  %s:%ld decodes hash %s want %s (decodes: %s | ...)\n", rel, line, h,
                        json_string_value(dh), all.s);
            }
        }
        dsq_str_free(&all);
        json_decref(d);
        json_decref(f);
        if (bad > 10) break;
    }
    EXPECT(bad == 0, "%s: %d mismatches", rel, bad);
    EXPECT(line > 0 && !fix_line(&fc), "%s: %ld lines, fixture has more", rel, line);
    dsq_ids_free(&got); dsq_ids_free(&want); dsq_ids_free(&rt);
    dsq_str_free(&dec[0]); dsq_str_free(&dec[1]);
    free(data);
    free(fix);
}

static void test_qqp(void) { check_dataset("qqp", "train"); check_dataset("qqp", "dev"); }
static void test_iwslt14(void) { check_dataset("iwslt14", "train"); }
static void test_conversation(void) { check_dataset("conversation", "train"); check_dataset("conversation", "valid"); }

static void test_decode_random(void) {
    char *buf = fix_read(FIX_DIR "decode.jsonl", NULL), *cur = buf, *line;
    EXPECT(buf != NULL, "fixture");
    dsq_ids ids = {0};
    dsq_str s = {0};
    long k = 0;
    while (buf && (line = fix_line(&cur))) {
        k++;
        json_t *o = json_loads(line, JSON_ALLOW_NUL, NULL);
        EXPECT(o != NULL, "decode.jsonl:%ld unparsable", k);
        if (!o) continue;
        dsq_err e = {0};
        fix_ids(json_object_get(o, "ids"), &ids);
        const char *jn[2] = {"modern", "legacy"};
        for (int j = 0; j < 2; j++) {
            EXPECT(dsq_tokenizer_decode(bert, ids.ids, ids.n, j ? DSQ_JOIN_LEGACY : DSQ_JOIN_MODERN, &s, &e) == 0, "%s", e.msg);
            const char *w = json_string_value(json_object_get(o, jn[j]));
            EXPECT(strcmp(s.s, w) == 0, "decode.jsonl:%ld %s\n    got  '%s'\n    want '%s'", k, jn[j], s.s, w);
        }
        fix_ids(json_object_get(o, "word"), &ids);
        EXPECT(dsq_tokenizer_decode(words, ids.ids, ids.n, DSQ_JOIN_MODERN, &s, &e) == 0, "%s", e.msg);
        const char *w = json_string_value(json_object_get(o, "word_dec"));
        EXPECT(strcmp(s.s, w) == 0, "decode.jsonl:%ld word\n    got  '%s'\n    want '%s'", k, s.s, w);
        json_decref(o);
    }
    EXPECT(k >= 400, "%ld cases", k);
    /* out-of-range ids are an error, trailing pads are not */
    int32_t bad[3] = {101, 30522, 102}, pads[4] = {0, 7592, 0, 0};
    dsq_err e = {0};
    EXPECT(dsq_tokenizer_decode(bert, bad, 3, DSQ_JOIN_MODERN, &s, &e) == DSQ_EDATA && strstr(e.msg, "30522"), "%s", e.msg);
    EXPECT(dsq_tokenizer_decode(bert, pads, 4, DSQ_JOIN_MODERN, &s, &e) == 0 && strcmp(s.s, "[PAD] hello") == 0, "'%s'", s.s);
    EXPECT(dsq_tokenizer_decode(bert, pads, 1, DSQ_JOIN_MODERN, &s, &e) == 0 && s.n == 0 && s.s[0] == 0, "all pads");
    dsq_ids_free(&ids);
    dsq_str_free(&s);
    free(buf);
}

static int load_err(const char *text, dsq_tok_kind k, const char *want) {
    dsq_tokenizer *t;
    dsq_err e = {0};
    int rc = dsq_tokenizer_load_mem(&t, text, strlen(text), "v.txt", k, &e);
    if (rc == 0) { dsq_tokenizer_free(t); fprintf(stderr, "  loaded, wanted error '%s'\n", want); return 0; }
    if (rc != DSQ_EDATA || !strstr(e.msg, want)) { fprintf(stderr, "  rc %d msg '%s' want '%s'\n", rc, e.msg, want); return 0; }
    return t == NULL;
}

static void test_vocab_files(void) {
    const char *base = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
    char v[256];
    snprintf(v, sizeof v, "%sa\n##b\nab\n", base);
    dsq_tokenizer *t;
    dsq_err e = {0};
    EXPECT(dsq_tokenizer_load_mem(&t, v, strlen(v), "v", DSQ_TOK_WORDPIECE, &e) == 0, "%s", e.msg);
    dsq_ids ids = {0};
    dsq_tokenizer_encode(t, "ab abb [MASK] Ab", 16, &ids, &e);
    /* no [MASK] in this vocab: it is plain text -> [ mask ] -> unk unk unk */
    int32_t want[] = {2, 6, 6, 5, 1, 1, 1, 6, 3};
    EXPECT(ids.n == 9 && memcmp(ids.ids, want, sizeof want) == 0, "small vocab ids (%zu)", ids.n);
    dsq_tokenizer_free(t);
    /* trailing whitespace and CRLF trimmed as Rust's trim_end */
    snprintf(v, sizeof v, "%sa \t\r\nb\xc2\xa0\n", base);
    EXPECT(dsq_tokenizer_load_mem(&t, v, strlen(v), "v", DSQ_TOK_WORDPIECE, &e) == 0, "%s", e.msg);
    EXPECT(t && strcmp(dsq_tokenizer_token(t, 4), "a") == 0 && strcmp(dsq_tokenizer_token(t, 5), "b") == 0, "trim");
    dsq_tokenizer_free(t);
    snprintf(v, sizeof v, "%sa\n\nb\n", base);
    EXPECT(load_err(v, DSQ_TOK_WORDPIECE, "v.txt:6: blank line"), "blank");
    snprintf(v, sizeof v, "%sa\nb\na\n", base);
    EXPECT(load_err(v, DSQ_TOK_WORDPIECE, "v.txt:7: duplicate token 'a' (first at line 5)"), "dup");
    EXPECT(load_err("[PAD]\n[UNK]\n[SEP]\n", DSQ_TOK_WORDPIECE, "lacks the token [CLS]"), "missing cls");
    EXPECT(load_err("[PAD]\n[UNK]\n\xff\n", DSQ_TOK_WORDPIECE, "v.txt:3: invalid UTF-8"), "utf8");
    EXPECT(load_err("", DSQ_TOK_WORDPIECE, "empty vocabulary"), "empty");
    EXPECT(load_err("", DSQ_TOK_WORD, "empty vocabulary"), "empty word");
    EXPECT(load_err("a 1\n[UNK] 3\n", DSQ_TOK_WORD, "v.txt:2: token '[UNK]' is reserved"), "reserved");
    EXPECT(load_err("a 1\nb 2\na 3\n", DSQ_TOK_WORD, "v.txt:3: duplicate token 'a' (first at line 1)"), "word dup");
    EXPECT(load_err("a\n \n", DSQ_TOK_WORD, "v.txt:2: blank line"), "word blank");
    /* word lists: first ' ' field after Python strip(); \r alone ends a line */
    const char *w = "  hello 5\r\nwor\tld 3\rx\xc2\xa0\n";
    EXPECT(dsq_tokenizer_load_mem(&t, w, strlen(w), "w", DSQ_TOK_WORD, &e) == 0, "%s", e.msg);
    EXPECT(t && dsq_tokenizer_vocab_size(t) == 7, "size");
    EXPECT(t && strcmp(dsq_tokenizer_token(t, 4), "hello") == 0 && strcmp(dsq_tokenizer_token(t, 5), "wor\tld") == 0 &&
           strcmp(dsq_tokenizer_token(t, 6), "x") == 0, "fields");
    dsq_tokenizer_free(t);
    dsq_err e2 = {0};
    EXPECT(dsq_tokenizer_load(&t, "/nonexistent/vocab.txt", DSQ_TOK_WORDPIECE, &e2) == DSQ_EIO &&
           strstr(e2.msg, "/nonexistent/vocab.txt"), "%s", e2.msg);
    dsq_ids_free(&ids);
}

/* Many threads encoding at once give the serial ids (no shared state). */
static uint64_t ids_hash(const char *text) {
    dsq_ids v = {0};
    dsq_err e = {0};
    dsq_tokenizer_encode(bert, text, strlen(text), &v, &e);
    uint64_t x = 1469598103934665603ULL;
    for (size_t k = 0; k < v.n; k++) x = (x ^ (uint64_t)v.ids[k]) * 1099511628211ULL;
    dsq_ids_free(&v);
    return x;
}

static void test_threads(void) {
    char *data = fix_read("data/qqp/train.jsonl", NULL);
    EXPECT(data != NULL, "data");
    if (!data) return;
    char *lines[4096];
    int n = 0;
    char *cur = data, *l;
    while (n < 4096 && (l = fix_line(&cur))) lines[n++] = l;
    uint64_t *h = xcalloc((size_t)n, sizeof *h);
#pragma omp parallel for num_threads(4) schedule(dynamic, 7)
    for (int i = 0; i < n; i++) h[i] = ids_hash(lines[i]);
    for (int i = 0; i < n; i++) EXPECT(ids_hash(lines[i]) == h[i], "line %d differs under threads", i + 1);
    EXPECT(n > 1000, "%d lines", n);
    free(h);
    free(data);
}

int main(void) {
    bert = fix_bert();
    size_t wn;
    char *wl = fix_read(FIX_DIR "words_iwslt14.txt.zst", &wn);
    dsq_err e = {0};
    if (!bert || !wl || dsq_tokenizer_load_mem(&words, wl, wn, "words_iwslt14.txt", DSQ_TOK_WORD, &e)) {
        printf("FAIL setup: cannot load the vocabularies (%s)\n", e.msg);
        return 1;
    }
    free(wl);
    RUN_TEST(test_api);
    RUN_TEST(test_hard_cases);
    RUN_TEST(test_qqp);
    RUN_TEST(test_iwslt14);
    RUN_TEST(test_conversation);
    RUN_TEST(test_decode_random);
    RUN_TEST(test_vocab_files);
    RUN_TEST(test_threads);
    dsq_tokenizer_free(bert);
    dsq_tokenizer_free(words);
    TEST_MAIN_END();
}

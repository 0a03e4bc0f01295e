/* Packing against a Python re-statement of DiffuSeq's merge_and_mask and
 * padding (pack.jsonl.zst): many seq_len values including the degenerate
 * ones, ties, one side empty, word and BERT specials, no-target inputs. */
#include "check.h"
#include "pack.h"
#include "tokfix.h"

static void test_fixture(void) {
    char *buf = fix_read(FIX_DIR "pack.jsonl.zst", NULL), *cur = buf, *line;
    EXPECT(buf != NULL, "fixture");
    dsq_ids src = {0}, trg = {0}, want = {0}, wmask = {0};
    long k = 0, errors = 0;
    while (buf && (line = fix_line(&cur))) {
        k++;
        json_t *o = json_loads(line, 0, NULL);
        fix_ids(json_object_get(o, "src"), &src);
        fix_ids(json_object_get(o, "trg"), &trg);
        int L = (int)json_integer_value(json_object_get(o, "seq_len"));
        int has = (int)json_integer_value(json_object_get(o, "has_trg"));
        json_t *j = json_object_get(o, "sp");
        dsq_special_ids sp = {
            .pad = (int32_t)json_integer_value(json_object_get(j, "pad")),
            .unk = (int32_t)json_integer_value(json_object_get(j, "unk")),
            .start = (int32_t)json_integer_value(json_object_get(j, "start")),
            .end = (int32_t)json_integer_value(json_object_get(j, "end")),
            .sep = (int32_t)json_integer_value(json_object_get(j, "sep")),
        };
        int32_t ids[256];
        uint8_t mask[256];
        int r = dsq_pack(ids, mask, src.ids, src.n, trg.ids, trg.n, has, L, sp);
        if (json_object_get(o, "error")) {
            errors++;
            EXPECT(r == -1, "pack.jsonl:%ld seq_len %d: expected an error, got %d", k, L, r);
        } else {
            fix_ids(json_object_get(o, "ids"), &want);
            fix_ids(json_object_get(o, "mask"), &wmask);
            int lx = (int)json_integer_value(json_object_get(o, "len_x"));
            int ok = r == lx && want.n == (size_t)L && memcmp(ids, want.ids, (size_t)L * sizeof *ids) == 0;
            for (int i = 0; ok && i < L; i++) ok = mask[i] == wmask.ids[i];
            if (!ok) {
                char a[2000], b[2000];
                dsq_ids g = {ids, (size_t)L, 0};
                EXPECT(0, "pack.jsonl:%ld seq_len %d has_trg %d: len_x %d want %d\n    got  %s\n    want %s", k, L, has, r,
                       lx, ids_str(g.ids, g.n, a, sizeof a), ids_str(want.ids, want.n, b, sizeof b));
            }
        }
        json_decref(o);
    }
    EXPECT(k > 500 && errors > 0, "%ld cases, %ld errors", k, errors);
    dsq_ids_free(&src); dsq_ids_free(&trg); dsq_ids_free(&want); dsq_ids_free(&wmask);
    free(buf);
}

/* The no-target layout decodes to an empty reference. */
static void test_no_target_reference(void) {
    dsq_tokenizer *t = fix_bert();
    EXPECT(t != NULL, "vocab");
    if (!t) return;
    dsq_ids s = {0};
    dsq_err e = {0};
    dsq_tokenizer_encode(t, "how are you?", 12, &s, &e);
    int32_t ids[16];
    uint8_t mask[16];
    int lx = dsq_pack(ids, mask, s.ids, s.n, NULL, 0, 0, 16, dsq_tokenizer_specials(t));
    EXPECT(lx == (int)s.n + 1, "len_x %d", lx);
    dsq_str out = {0};
    dsq_tokenizer_decode(t, ids + lx, (size_t)(16 - lx), DSQ_JOIN_MODERN, &out, &e);
    EXPECT(out.n == 0, "reference '%s'", out.s);
    dsq_tokenizer_decode(t, ids, (size_t)lx, DSQ_JOIN_MODERN, &out, &e);
    EXPECT(strcmp(out.s, "[CLS] how are you? [SEP] [SEP]") == 0, "source '%s'", out.s);
    EXPECT(dsq_pack(ids, mask, s.ids, 0, NULL, 0, 0, 16, dsq_tokenizer_specials(t)) == -1, "empty src");
    dsq_str_free(&out);
    dsq_ids_free(&s);
    dsq_tokenizer_free(t);
}

int main(void) {
    RUN_TEST(test_fixture);
    RUN_TEST(test_no_target_reference);
    TEST_MAIN_END();
}

/* PyTorch checkpoint files (lib/io/ptfile.c, lib/io/pickle.c): round
 * trips through the writer, views copied element by element, and hostile
 * inputs refused with a message (unknown globals, REDUCE of builtins,
 * huge sizes, truncated and overlapping archives, compressed entries,
 * views outside their storage).  The files torch itself writes are
 * tests/checks/pt_interop.sh's (this binary's `convert` mode is its dsq
 * side):
 *   test_ptfile convert IN OUT   .pt or .safetensors IN (by content) to
 *                                OUT (.pt: PyTorch zip, else safetensors) */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "pickle.h"
#include "ptfile.h"
#include "safetensors.h"
#include "util.h"

static char tmpdir[] = "/tmp/dsq_ptfile_XXXXXX";

static char *slurp(const char *path, size_t *n) {
    dsq_err e = {0};
    char *p = dsq_read_file(path, NULL, n, &e);
    if (!p) fprintf(stderr, "%s\n", e.msg);
    return p;
}

static void sample_record(dsq_record *r) {
    dsq_record_init(r);
    int64_t s2[2] = {3, 4}, s1[1] = {5}, s0[1] = {0};
    float w[12];
    for (int i = 0; i < 12; i++) w[i] = (float)i * 0.5f - 2.0f;
    dsq_record_add(r, "word_embedding.weight", DSQ_F32, 2, s2, w);
    dsq_record_add(r, "lm_head.weight", DSQ_F32, 2, s2, w);   /* shares the storage */
    int64_t ids[5] = {0, 1, 2, -3, (int64_t)1 << 40};
    dsq_record_add(r, "position_ids", DSQ_I64, 1, s1, ids);
    uint16_t h[5] = {0x3c00, 0xc000, 0x0001, 0x7bff, 0};
    dsq_record_add(r, "half", DSQ_F16, 1, s1, h);
    dsq_record_add(r, "bf", DSQ_BF16, 1, s1, h);
    dsq_record_add(r, "empty", DSQ_F32, 1, s0, NULL);
}

static void test_roundtrip(void) {
    dsq_record r, back;
    dsq_err e = {0};
    sample_record(&r);
    dsq_record_init(&back);
    char path[128];
    snprintf(path, sizeof path, "%s/rt.pt", tmpdir);
    EXPECT(dsq_pt_write_file(path, &r, &e) == 0, "%s", e.msg);
    dsq_pt_format f = DSQ_PT_NONE;
    EXPECT(dsq_pt_read_file(path, &back, &f, &e) == 0, "%s", e.msg);
    EXPECT(f == DSQ_PT_ZIP, "format %d", (int)f);
    EXPECT(dsq_record_equal(&r, &back), "round trip changed the tensors");
    for (int i = 0; i < back.n_tensors && i < r.n_tensors; i++)
        EXPECT(!strcmp(back.tensors[i].name, r.tensors[i].name), "order: %s", back.tensors[i].name);
    /* every entry of the archive is 64-byte aligned, and a record with a
     * dtype PyTorch files do not take is refused without a file */
    int64_t s1[1] = {2};
    dsq_record_add(&r, "bytes", DSQ_U8, 1, s1, NULL);
    snprintf(path, sizeof path, "%s/u8.pt", tmpdir);
    EXPECT(dsq_pt_write_file(path, &r, &e) == DSQ_EDATA && strstr(e.msg, "bytes is U8"), "%s", e.msg);
    EXPECT(access(path, F_OK) != 0, "a refused write left %s", path);
    dsq_record_free(&r);
    dsq_record_free(&back);
}

/* A state dict pickle around one tensor of storage "0" (6 floats 0..5) with
 * the given view, in a zip made by the writer's own container code: the
 * pickle bytes are replaced in a written file of the same length. */
static int decode_with_pickle(const char *pickle, size_t pn, dsq_record *out, dsq_err *e) {
    /* a legacy file carries its pickle verbatim: magic, 1001, info, obj, keys */
    static const uint8_t head[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                   0x6a, 0xa8, 0x50, 0x19, 0x2e,
                                   0x80, 0x02, 'M', 0xe9, 0x03, '.',
                                   0x80, 0x02, '}', 'X', 13, 0, 0, 0, 'l', 'i', 't', 't', 'l',
                                   'e', '_', 'e', 'n', 'd', 'i', 'a', 'n', 0x88, 's', '.'};
    static const char keys[] = "\x80\x02(X\x01\x00\x00\x00" "0l.";
    uint8_t buf[4096];
    size_t n = 0;
    memcpy(buf, head, sizeof head), n += sizeof head;
    memcpy(buf + n, pickle, pn), n += pn;
    memcpy(buf + n, keys, sizeof keys - 1), n += sizeof keys - 1;
    int64_t cnt = 6;
    memcpy(buf + n, &cnt, 8), n += 8;
    for (int i = 0; i < 6; i++) {
        float v = (float)i;
        memcpy(buf + n, &v, 4), n += 4;
    }
    return dsq_pt_decode(out, buf, n, "t.pt", e);
}

#define TENSOR_PICKLE(SIZE, STRIDE, OFF) \
    "\x80\x02}(X\x01\x00\x00\x00x" \
    "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage" \
    "ctorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x06Ntq" "\x00" \
    "Q" OFF SIZE STRIDE "\x89" "ccollections\nOrderedDict\n)Rtq\x01Ru."

static void test_views(void) {
    dsq_record r;
    dsq_record_init(&r);
    dsq_err e = {0};
    /* the transpose of a 2x3 view: [[0,3],[1,4],[2,5]] */
    static const char tr[] = TENSOR_PICKLE("(K\x03K\x02t", "(K\x01K\x03t", "K\x00");
    EXPECT(decode_with_pickle(tr, sizeof tr - 1, &r, &e) == 0, "%s", e.msg);
    const dsq_tensor *t = dsq_record_find(&r, "x");
    static const float want[6] = {0, 3, 1, 4, 2, 5};
    EXPECT(t && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 2 &&
           !memcmp(t->data, want, sizeof want), "transposed view copied wrongly");
    /* offset 4, size 2: [4, 5]; a broadcast (stride 0) row: [1, 1, 1] */
    static const char off[] = TENSOR_PICKLE("(K\x02t", "(K\x01t", "K\x04");
    EXPECT(decode_with_pickle(off, sizeof off - 1, &r, &e) == 0, "%s", e.msg);
    t = dsq_record_find(&r, "x");
    EXPECT(t && t->nbytes == 8 && ((float *)t->data)[0] == 4 && ((float *)t->data)[1] == 5,
           "offset view");
    static const char bc[] = TENSOR_PICKLE("(K\x03t", "(K\x00t", "K\x01");
    EXPECT(decode_with_pickle(bc, sizeof bc - 1, &r, &e) == 0, "%s", e.msg);
    t = dsq_record_find(&r, "x");
    EXPECT(t && t->nbytes == 12 && ((float *)t->data)[2] == 1, "broadcast view");
    /* views outside the storage */
    static const char past[] = TENSOR_PICKLE("(K\x02t", "(K\x01t", "K\x05");
    EXPECT(decode_with_pickle(past, sizeof past - 1, &r, &e) == DSQ_EDATA &&
           strstr(e.msg, "reads element 6 of storage 0"), "%s", e.msg);
    static const char big[] = TENSOR_PICKLE("(J\x00\x00\x01\x00J\x00\x00\x01\x00t", "(K\x00K\x00t", "K\x00");
    EXPECT(decode_with_pickle(big, sizeof big - 1, &r, &e) == DSQ_EDATA &&
           strstr(e.msg, "more than twice"), "%s", e.msg);
    static const char huge[] = TENSOR_PICKLE("(\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x3f"
                                             "\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x3ft",
                                             "(K\x01K\x01t", "K\x00");
    EXPECT(decode_with_pickle(huge, sizeof huge - 1, &r, &e) == DSQ_EDATA &&
           strstr(e.msg, "overflow"), "%s", e.msg);
    static const char neg[] = TENSOR_PICKLE("(J\xff\xff\xff\xfft", "(K\x01t", "K\x00");
    EXPECT(decode_with_pickle(neg, sizeof neg - 1, &r, &e) == DSQ_EDATA &&
           strstr(e.msg, "negative"), "%s", e.msg);
    dsq_record_free(&r);
}

static void expect_refused(const char *name, const char *pickle, size_t n, const char *why) {
    dsq_record r;
    dsq_record_init(&r);
    dsq_err e = {0};
    int rc = decode_with_pickle(pickle, n, &r, &e);
    EXPECT(rc == DSQ_EDATA && strstr(e.msg, why), "%s: rc %d, message '%s' lacks '%s'", name, rc,
           e.msg, why);
    EXPECT(r.n_tensors == 0, "%s: tensors left in the record", name);
    dsq_record_free(&r);
}

#define P(s) s, sizeof s - 1
static void test_hostile_pickles(void) {
    expect_refused("os.system", P("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00lsR."),
                   "global os.system is not part of a PyTorch state dict");
    expect_refused("builtins.eval", P("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93."),
                   "global builtins.eval");
    expect_refused("posix.system", P("\x80\x02" "cposix\nsystem\n."), "posix.system");
    expect_refused("REDUCE on a storage type",
                   P("\x80\x02" "ctorch\nFloatStorage\n)R."), "torch.FloatStorage called");
    expect_refused("REDUCE of a non-callable", P("\x80\x02K\x01)R."), "not callable");
    expect_refused("OrderedDict with items",
                   P("\x80\x02" "ccollections\nOrderedDict\n(]tR."), "with arguments");
    expect_refused("NEWOBJ", P("\x80\x02" "ccollections\nOrderedDict\n)\x81."), "opcode 0x81");
    expect_refused("INST", P("\x80\x02(ios\nsystem\n."), "opcode 0x69");
    expect_refused("protocol 0 text", P("I42\n."), "opcode 0x49");
    expect_refused("truncated", P("\x80\x02X\xff\xff\xff\x7f" "abc"), "truncated");
    expect_refused("two values at STOP", P("\x80\x02}}"), "STOP with a stack");
    expect_refused("memo", P("\x80\x02h\x05."), "unset memo");
    expect_refused("big memo index", P("\x80\x02}r\xff\xff\xff\xff."), "memo index");
    expect_refused("underflow", P("\x80\x02s."), "without a dict");
    expect_refused("LONG1 wider than 64 bits", P("\x80\x02\x8a\x09" "123456789."), "wider");
    expect_refused("a persistent id of another kind",
                   P("\x80\x02(X\x04\x00\x00\x00" "evilK\x01tQ."), "persistent id");
    expect_refused("a top object that is not a dict", P("\x80\x02K\x01."), "not a dict");
    expect_refused("a value that is not a tensor", P("\x80\x02}X\x01\x00\x00\x00xK\x01s."),
                   "x is not a tensor");
    expect_refused("DoubleStorage",
                   P("\x80\x02(X\x07\x00\x00\x00storagectorch\nDoubleStorage\n."),
                   "torch.DoubleStorage is not part");
}

/* Reads, writes back, patches bytes of a written archive and checks the
 * reader's answer. */
static void test_hostile_archives(void) {
    dsq_record r, back;
    dsq_err e = {0};
    sample_record(&r);
    dsq_record_init(&back);
    char path[128];
    snprintf(path, sizeof path, "%s/h.pt", tmpdir);
    EXPECT(dsq_pt_write_file(path, &r, &e) == 0, "%s", e.msg);
    size_t n;
    uint8_t *p = (uint8_t *)slurp(path, &n), *q = xmalloc(n + 1);
    for (size_t cut = 0; p && cut < n; cut += cut < 64 ? 1 : 37) {   /* every truncation */
        EXPECT(dsq_pt_decode(&back, p, cut, "h.pt", &e) == DSQ_EDATA, "cut at %zu decodes", cut);
        EXPECT(back.n_tensors == 0, "cut at %zu left tensors", cut);
    }
    for (size_t i = 0; p && i < n; i++) {   /* every single flipped byte: decodes or refuses */
        memcpy(q, p, n);
        q[i] ^= 0x5a;
        int rc = dsq_pt_decode(&back, q, n, "h.pt", &e);
        EXPECT(rc == 0 || rc == DSQ_EDATA, "flip at %zu: rc %d", i, rc);
    }
    /* a compressed entry (method 8 in the central directory) */
    if (p) {
        memcpy(q, p, n);
        uint8_t *cd = memmem(q, n, "PK\1\2", 4);
        cd[10] = 8;
        EXPECT(dsq_pt_decode(&back, q, n, "h.pt", &e) == DSQ_EDATA && strstr(e.msg, "compressed"),
               "%s", e.msg);
        /* two central entries pointing at one local header (overlap) */
        memcpy(q, p, n);
        uint8_t *cd2 = memmem(cd + 4, n - (size_t)(cd + 4 - q), "PK\1\2", 4);
        memcpy(cd2 + 42, cd + 42, 4);
        EXPECT(dsq_pt_decode(&back, q, n, "h.pt", &e) == DSQ_EDATA && strstr(e.msg, "overlaps"),
               "%s", e.msg);
        /* a damaged storage byte fails its CRC */
        memcpy(q, p, n);
        q[64] ^= 1;   /* the pickle's first byte */
        int rc = dsq_pt_decode(&back, q, n, "h.pt", &e);
        EXPECT(rc == DSQ_EDATA && strstr(e.msg, "CRC"), "rc %d %s", rc, e.msg);
    }
    free(p);
    free(q);
    dsq_record_free(&r);
    dsq_record_free(&back);
}

static int convert(const char *in, const char *out) {
    dsq_record r;
    dsq_record_init(&r);
    dsq_err e = {0};
    size_t n;
    char *p = slurp(in, &n);
    if (!p) return 1;
    int rc = dsq_pt_sniff(p, n) ? dsq_pt_decode(&r, p, n, in, &e) : dsq_st_read_file(in, &r, &e);
    free(p);
    size_t ol = strlen(out);
    if (!rc) rc = ol > 3 && !strcmp(out + ol - 3, ".pt") ? dsq_pt_write_file(out, &r, &e)
                                                         : dsq_st_write_file(out, &r, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    dsq_record_free(&r);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "convert")) return convert(argv[2], argv[3]);
    if (!mkdtemp(tmpdir)) {
        printf("FAIL mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    RUN_TEST(test_roundtrip);
    RUN_TEST(test_views);
    RUN_TEST(test_hostile_pickles);
    RUN_TEST(test_hostile_archives);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) return 1;
    TEST_MAIN_END();
}

#!/usr/bin/env python3
"""Generates tests/fixtures/tokenizer/*: what the HuggingFace fast tokenizer
(tokenizers 0.23.3, bert-base-uncased rebuilt offline by hf_bert.py) and
Python re-statements of DiffuSeq's word vocabulary and packing give, for the
C unit tests test_tokenizer*.c (which never need Python).

usage: gen_tokenizer_fixtures.py [DATA_DIR] [OUT_DIR]
  DATA_DIR defaults to the repository's data/ (data/README.md),
  OUT_DIR to tests/fixtures/tokenizer.

Files written (all JSONL unless said; *.zst compressed with zstd -19):
  meta.json                tool versions
  hard.jsonl               hand-made cases (tokenizer_hard_cases.txt): ids,
                           both decodes, re-encode, word-vocab ids
  bert_<set>_<file>.jsonl.zst  every src/trg line of the data sets: ids,
                           modern/legacy decodes (for iwslt14: dec_h, the first 8 hex of
                           sha256 of the four decodes joined by NUL: src modern, legacy, trg ...),
                           re-encode of the modern decode where it differs
  decode.jsonl             random id sequences (seeded) and their decodes
  unicode_norm.txt.zst     all code points: pre-tokeniser class, normalised
                           form, canonical-ordering probes (run-length lines)
  unicode_ids.txt          all code points, 1024 per block: sha256 of the ids
                           of "a<c>b <c> <c><c>x" for each c
  words_iwslt14.txt.zst    word list built from iwslt14/train.jsonl
  word_iwslt14.txt.zst     every iwslt14 line with the word vocabulary: "LINE H(ids) H(decodes)",
                           H = first 8 hex of sha256 of "src ids<TAB>trg ids" / "src dec<NUL>trg dec"
  pack.jsonl.zst           packing cases (DiffuSeq merge_and_mask + padding)
  sha256.txt               hashlib digests of generated test inputs
  digest.txt               vocabulary digests (canonical form of tokenizer.h)
  pyspace.txt              code points where Python str.isspace() is true
"""
import ast
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
from collections import Counter

import tokenizers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_bert import (SPECIALS, bert_tokenizer, decode_legacy,  # noqa: E402
                     decode_modern_restated, read_vocab)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "data")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "fixtures", "tokenizer")
VOCAB = os.path.join(DATA, "vocab", "bert-base-uncased.txt")
DATASETS = [("qqp", "train"), ("qqp", "dev"), ("iwslt14", "train"), ("conversation", "train"),
            ("conversation", "valid")]

T = bert_tokenizer(VOCAB)
VOC = read_vocab(VOCAB)
ID2TOK = {i: t for t, i in VOC.items()}


def h8(text):
    """First 8 hex digits of sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def jdump(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


def write(name, lines, compress=False):
    path = os.path.join(OUT, name)
    data = "".join(l + "\n" for l in lines).encode("utf-8")
    if compress:
        data = subprocess.run(["zstd", "-19", "-q", "-c"], input=data, capture_output=True, check=True).stdout
    with open(path, "wb") as f:
        f.write(data)
    print("wrote %s (%d bytes)" % (path, len(data)), file=sys.stderr)


def bert_decodes(ids):
    """DiffuSeq's decode_token: strip trailing [PAD], decode with specials."""
    ids = list(ids)
    while ids and ids[-1] == VOC["[PAD]"]:
        ids.pop()
    toks = [ID2TOK[i] for i in ids]
    modern = T.decode(ids, skip_special_tokens=False)
    assert modern == decode_modern_restated(toks), (ids, modern)
    return modern, decode_legacy(toks)


def bert_record(ids):
    """ids, decodes, and the ids of the modern decode re-encoded ("rt", only
    when they differ from [CLS] + ids + [SEP]: the decode keeps the special
    tokens, so re-encoding wraps them once more)."""
    modern, legacy = bert_decodes(ids)
    rec = {"ids": ids, "modern": modern, "legacy": legacy}
    rt = T.encode(modern).ids
    if rt != [VOC["[CLS]"]] + ids + [VOC["[SEP]"]]:
        rec["rt"] = rt
    return rec


# ---- DiffuSeq's word-level vocabulary, restated ----
def word_vocab_load(path):
    d = {"[START]": 0, "[END]": 1, "[UNK]": 2, "[PAD]": 3}
    with open(path, "r", encoding="utf-8") as f:
        for row in f:
            d[row.strip().split(" ")[0]] = len(d)
    return d, {v: k for k, v in d.items()}


def word_encode(d, s):
    return [0] + [d.get(x, d["[UNK]"]) for x in s.split()] + [1]


def word_decode(rev, ids):
    ids = list(ids)
    while ids and ids[-1] == 3:
        ids.pop()
    return " ".join(rev[x] for x in ids).replace("__ ", "").replace("@@ ", "")


def build_words(texts, min_count):
    c = Counter()
    for s in texts:
        c.update(s.split())
    return ["%s %d" % (w, n) for w, n in c.most_common()
            if n >= min_count and w not in ("[START]", "[END]", "[UNK]", "[PAD]")]


# ---- packing, restated from DiffuSeq merge_and_mask + _collate_batch_helper ----
def pack(src, trg, seq_len, has_trg, sep, pad):
    if seq_len < 3:
        return None  # the reference pops from an empty list
    end = src[-1]
    s = list(src[:-1])
    t = list(trg[:-1]) if has_trg else []
    while len(s) + len(t) > seq_len - 3:
        if len(s) > len(t):
            s.pop()
        elif len(s) < len(t):
            t.pop()
        else:
            s.pop()
            t.pop()
    s.append(end)
    if has_trg:  # without a target: dsq's rule, t stays empty (pack.h)
        t.append(end)
    ids = s + [sep] + t
    mask = [0] * (len(s) + 1)
    out_ids = [pad] * seq_len
    out_mask = [1] * seq_len
    n = min(len(ids), seq_len)
    out_ids[:n] = ids[:n]
    m = min(len(mask), seq_len)
    out_mask[:m] = mask[:m]
    return out_ids, out_mask, len(s) + 1


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f]


def hard_cases():
    out = []
    with open(os.path.join(HERE, "tokenizer_hard_cases.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line.startswith("hex:"):
                out.append(bytes.fromhex(line[4:]))
            else:
                out.append(ast.literal_eval(line))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        f.write(jdump({"tokenizers": tokenizers.__version__, "python": sys.version.split()[0],
                       "vocab_md5": hashlib.md5(open(VOCAB, "rb").read()).hexdigest()}) + "\n")

    # word vocabulary from iwslt14 (src then trg of each line, in order)
    iw = read_jsonl(os.path.join(DATA, "iwslt14", "train.jsonl"))
    iw_texts = []
    for o in iw:
        iw_texts += [o["src"], o["trg"]]
    words = build_words(iw_texts, 1)
    write("words_iwslt14.txt.zst", words, compress=True)
    words2 = build_words(iw_texts, 2)
    tmp = os.path.join(OUT, ".words.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(w + "\n" for w in words))
    wd, wrev = word_vocab_load(tmp)
    os.remove(tmp)

    # hard cases
    lines = []
    for k, case in enumerate(hard_cases()):
        if isinstance(case, bytes):
            try:
                case.decode("utf-8")
                raise SystemExit("hex case %d is valid UTF-8" % k)
            except UnicodeDecodeError as ex:
                lines.append(jdump({"case": k + 1, "hex": case.hex(), "error_at": ex.start + 1}))
            continue
        rec = {"case": k + 1, "text": case}
        rec.update(bert_record(T.encode(case).ids))
        rec["word"] = word_encode(wd, case)
        rec["word_dec"] = word_decode(wrev, rec["word"])
        lines.append(jdump(rec))
    write("hard.jsonl", lines)

    # data sets, BERT
    for ds, split in DATASETS:
        rows = read_jsonl(os.path.join(DATA, ds, split + ".jsonl"))
        src = T.encode_batch([o["src"] for o in rows])
        trg = T.encode_batch([o["trg"] for o in rows])
        lines = []
        big = len(rows) > 5000
        for i, o in enumerate(rows):
            rec = {"line": i + 1}
            decs = []
            for field, enc in (("src", src[i]), ("trg", trg[i])):
                r = bert_record(enc.ids)
                rec[field] = r["ids"]
                decs += [r["modern"], r["legacy"]]
                if not big:
                    rec[field + "_modern"] = r["modern"]
                    rec[field + "_legacy"] = r["legacy"]
                if "rt" in r:
                    rec[field + "_rt"] = r["rt"]
            if big:  # the four decodes as one hash, to keep the fixture small
                rec["dec_h"] = h8("\0".join(decs))
            lines.append(jdump(rec))
        write("bert_%s_%s.jsonl.zst" % (ds, split), lines, compress=True)

    # word vocabulary over iwslt14
    lines = []
    for i, o in enumerate(iw):
        s, t = word_encode(wd, o["src"]), word_encode(wd, o["trg"])
        ids_text = " ".join(map(str, s)) + "\t" + " ".join(map(str, t))
        lines.append("%d %s %s" % (i + 1, h8(ids_text), h8(word_decode(wrev, s) + "\0" + word_decode(wrev, t))))
    write("word_iwslt14.txt.zst", lines, compress=True)

    # random id sequences for decoding: common tokens, punctuation,
    # continuations, specials, trailing pads
    rng = random.Random(1234)
    cont = [i for t, i in VOC.items() if t.startswith("##")]
    punct = [VOC[c] for c in ".,!?'\"-:;()" if c in VOC]
    common = list(range(1996, 3000))
    words_for = [VOC[w] for w in ("do", "not", "n", "t", "s", "m", "ve", "re", "don") if w in VOC]
    special = [VOC[s] for s in SPECIALS] + [1, 5, 999]
    lines = []
    for k in range(400):
        n = rng.randint(0, 30)
        ids = []
        for _ in range(n):
            r = rng.random()
            pool = common if r < 0.35 else cont if r < 0.55 else punct if r < 0.75 else words_for if r < 0.9 else special
            ids.append(rng.choice(pool))
        if rng.random() < 0.3:
            ids += [VOC["[PAD]"]] * rng.randint(1, 5)
        m, l = bert_decodes(ids)
        wids = [rng.randrange(len(wrev)) for _ in range(rng.randint(0, 12))]
        if rng.random() < 0.3:
            wids += [3] * rng.randint(1, 3)
        lines.append(jdump({"ids": ids, "modern": m, "legacy": l, "word": wids, "word_dec": word_decode(wrev, wids)}))
    # decodes that exercise each replacement
    for toks in (["do", "not"], ["i", "do", "not", "know", "."], ["don", "'", "t"], ["it", "'", "s"],
                 ["we", "'", "ve"], ["i", "'", "m"], ["a", "'", "'", "s"], ["x", "'", ".", "y"],
                 ["##a", "##b", "c"], ["[CLS]", "hello", "[SEP]", "[SEP]", "[CLS]", "world", "[SEP]"],
                 ["what", "?", "!", ",", "."], ["[PAD]", "a", "[PAD]"]):
        ids = [VOC[t] for t in toks]
        m, l = bert_decodes(ids)
        lines.append(jdump({"ids": ids, "modern": m, "legacy": l, "word": [], "word_dec": ""}))
    write("decode.jsonl", lines)

    # Unicode sweep
    N, P = T.normalizer, T.pre_tokenizer
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    runs = []
    for cp in cps:
        c = chr(cp)
        pt = [w for w, _ in P.pre_tokenize_str("a" + c + "b")]
        cls = "W" if len(pt) == 2 else "P" if len(pt) == 3 else "O"
        n = [ord(x) for x in N.normalize_str(c)]
        rule = ",".join("_" if x == 0x20 else "=" if x == cp else "%+d" % (x - cp) for x in n) or "x"
        o1 = [ord(x) for x in N.normalize_str("\U0001D16D" + c)]
        o2 = [ord(x) for x in N.normalize_str(c + "\U0001D165")]
        ordf = (o1 != [0x1D16D] + n) + 2 * (o2 != n + [0x1D165])
        key = (cls, rule, ordf)
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == key:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, key])
    write("unicode_norm.txt.zst", ["%X %X %s %s %d" % (a, b, k[0], k[1], k[2]) for a, b, k in runs], compress=True)
    lines = []
    for blk in range(0, 0x110000, 1024):
        texts = ["a%sb %s %s%sx" % ((chr(cp),) * 4) for cp in range(blk, blk + 1024)
                 if not 0xD800 <= cp <= 0xDFFF]
        if not texts:
            continue
        h = hashlib.sha256()
        for e in T.encode_batch(texts):
            h.update(struct.pack("<%di" % len(e.ids), *e.ids))
        lines.append("%X %s" % (blk, h.hexdigest()[:16]))
    write("unicode_ids.txt", lines)

    # packing
    sp_bert = {"pad": VOC["[PAD]"], "unk": VOC["[UNK]"], "start": VOC["[CLS]"], "end": VOC["[SEP]"],
               "sep": VOC["[SEP]"]}
    sp_word = {"pad": 3, "unk": 2, "start": 0, "end": 1, "sep": 1}
    qqp = read_jsonl(os.path.join(DATA, "qqp", "train.jsonl"))[:30]
    pairs = [(T.encode(o["src"]).ids, T.encode(o["trg"]).ids, sp_bert) for o in qqp]
    pairs += [(word_encode(wd, o["src"]), word_encode(wd, o["trg"]), sp_word) for o in iw[:10]]
    pairs += [([101, 102], [101, 102], sp_bert), ([101, 5, 102], [101, 102], sp_bert),
              ([101, 102], [101, 6, 7, 102], sp_bert), ([101] + list(range(2000, 2200)) + [102],
                                                       [101, 7, 102], sp_bert),
              ([101] + list(range(2000, 2010)) + [102], [101] + list(range(3000, 3010)) + [102], sp_bert),
              ([101] + list(range(2000, 2011)) + [102], [101] + list(range(3000, 3010)) + [102], sp_bert),
              ([0, 1], [0, 1], sp_word), ([0, 9, 9, 9, 1], [0, 1], sp_word)]
    lines = []
    for src, trg, sp in pairs:
        for L in (1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64, 128):
            for has_trg in (1, 0):
                r = pack(src, trg, L, has_trg, sp["sep"], sp["pad"])
                rec = {"src": src, "trg": trg, "has_trg": has_trg, "seq_len": L, "sp": sp}
                if r is None:
                    rec["error"] = True
                else:
                    rec["ids"], rec["mask"], rec["len_x"] = r
                lines.append(jdump(rec))
    write("pack.jsonl.zst", lines, compress=True)

    # sha256 and digests
    lines = []
    for n in list(range(0, 140)) + [1000, 4095, 4096, 65537, 1000003]:
        b = bytes((i * 31 + n * 7 + (i >> 8)) & 255 for i in range(n))  # test_tokenizer_sha256.c: same bytes
        lines.append("%d %s" % (n, hashlib.sha256(b).hexdigest()))
    write("sha256.txt", lines)
    toks = [ID2TOK[i] for i in range(len(ID2TOK))]
    d1 = hashlib.sha256(("dsq-vocab 1\nkind wordpiece\n" + "".join(t + "\n" for t in toks)).encode()).hexdigest()
    wt = [wrev[i] for i in range(len(wrev))]
    d2 = hashlib.sha256(("dsq-vocab 1\nkind word\n" + "".join(t + "\n" for t in wt)).encode()).hexdigest()
    d3 = hashlib.sha256("".join(w + "\n" for w in words2).encode()).hexdigest()
    write("digest.txt", ["wordpiece sha256:%s %d" % (d1, len(toks)), "word sha256:%s %d" % (d2, len(wt)),
                         "words_min2 sha256:%s %d" % (d3, len(words2))])
    write("pyspace.txt", ["%X" % cp for cp in cps if chr(cp).isspace()])


if __name__ == "__main__":
    main()

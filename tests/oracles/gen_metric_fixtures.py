#!/usr/bin/env python3
"""Writes tests/fixtures/metrics/*: the reference values the C metrics must
reproduce (tests/unit/test_metrics*.c).

    build/venv/bin/python tests/oracles/gen_metric_fixtures.py [--data DIR]

References, as the DiffuSeq evaluation script uses them:
  - nltk 3.8 (Debian python3-nltk) sentence_bleu with SmoothingFunction().method4,
    called exactly like nltk's own API (hypothesis tokens, [reference tokens]);
  - ROUGE-L: torchmetrics ROUGEScore() default rule, re-stated below (torchmetrics
    needs torch >= 2, not installable here), its F turned into a float32 tensor
    with the installed torch and back; cross-checked against rouge-score 0.1.2;
  - numpy.mean / numpy.sum (Debian numpy);
  - sacrebleu 2.6.0 BLEU() and CHRF() defaults.
Deterministic: the same inputs give byte-identical fixtures.
"""
import argparse
import json
import math
import os
import random
import re
import subprocess
import sys

import numpy as np
import torch
import nltk
from nltk.translate.bleu_score import sentence_bleu, SmoothingFunction
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF
from rouge_score import rouge_scorer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics")

assert nltk.__version__ == "3.8", nltk.__version__
assert sacrebleu.__version__ == "2.6.0", sacrebleu.__version__

SMOOTH = SmoothingFunction().method4
M64 = (1 << 64) - 1


def nltk_bleu(hyp, ref):
    """nltk's sentence BLEU of hypothesis string hyp against reference ref."""
    return float(sentence_bleu([ref.split()], hyp.split(), smoothing_function=SMOOTH))


# --- ROUGE-L: torchmetrics' default path, re-stated ------------------------
# _normalize_and_tokenize_text(text) with no normalizer/tokenizer/stemmer:
#   re.sub(r"[^a-z0-9]+", " ", text.lower()), re.split(r"\s+"), drop empties;
# _rouge_l_score: 0 if either side is empty, else _lcs and _compute_metrics:
#   precision = lcs/pred_len, recall = lcs/target_len,
#   0 if precision == recall == 0.0, else 2*precision*recall/(precision+recall),
#   wrapped in tensor() (float32); forward() on one pair returns the mean of
#   one element; the script calls .tolist().
def tm_tokens(text):
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    return [t for t in re.split(r"\s+", text) if len(t) > 0]


def tm_lcs(pred, target):
    lcs = [[0] * (len(pred) + 1) for _ in range(len(target) + 1)]
    for i in range(1, len(target) + 1):
        for j in range(1, len(pred) + 1):
            if target[i - 1] == pred[j - 1]:
                lcs[i][j] = lcs[i - 1][j - 1] + 1
            else:
                lcs[i][j] = max(lcs[i - 1][j], lcs[i][j - 1])
    return lcs[-1][-1]


def tm_rouge_l_f(pred_raw, target_raw):
    """The Python float before the tensor() conversion."""
    pred, target = tm_tokens(pred_raw), tm_tokens(target_raw)
    if len(pred) == 0 or len(target) == 0:
        return 0.0
    lcs = tm_lcs(pred, target)
    precision = lcs / len(pred)
    recall = lcs / len(target)
    if precision == recall == 0.0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def tm_rouge_l(pred_raw, target_raw):
    f = tm_rouge_l_f(pred_raw, target_raw)
    return torch.stack([torch.tensor(f)]).mean().tolist()


RS = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


# --- deterministic generators ------------------------------------------------
class SplitMix:
    """splitmix64; the C tests carry the same generator."""

    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def u01(self):
        return (self.next() >> 11) * (2.0 ** -53)

    def value(self, kind):
        """kind 0: [0,1); 1: mixed sign and magnitude; 2: BLEU-like, a
        quarter exact zeros; 3: negative zeros (the sign of an empty sum)."""
        u = self.u01()
        if kind == 3:
            return -0.0
        if kind == 0:
            return u
        z = self.next()
        if kind == 1:
            x = math.ldexp(u, (z % 41) - 20)
            return -x if z & 64 else x
        return 0.0 if z % 4 == 0 else u


def hexf(x):
    return float(x).hex()


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


# --- 1. sentence BLEU + ROUGE-L pairs ----------------------------------------
SPEC_VECTORS = [
    ("", None, 0.0),
    ("cat", None, 0.006737946999085467),
    ("hello", "hello", 1.0),
    ("the cat", "the cat", 0.2213885886251307),
    ("the cat sat", None, 0.21179545259066854),
    ("the the the the the the the", "the cat is on the mat", 0.03848196746087264),
    ("dogs run very fast", None, 0.0),
    ("the cat sat on the mat", None, 1.0),
    ("the cat sat on the mat today in the sun", None, 0.5169731539571706),
    ("mat the on sat cat the", None, 0.05883685791697665),
    ("hello , world !", "hello world !", 0.18616487055295167),
    ("  the  cat   sat on the  mat ", None, 1.0),
]
SPEC_REF = "the cat sat on the mat"

WS = ["\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0",
      "\u1680", "\u2000", "\u2005", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
NOT_WS = ["\u200b", "\u180e", "\ufeff", "\u2060", "\x01", "\x7f"]
ODD = ["é", "école", "İstanbul", "\u212a", "K", "ß", "straße", "Ω", "日本語", "😀", "a\u0301",
       "don't", "3.5", "1,000", "e-mail", "ﬁ", "Ⅻ", "①", "٣", "ＡＢＣ", "İ", "ı", "ǅ", "Σσς"]


def random_pairs(rng):
    pairs = []
    alpha = ["a", "b", "c", "d", "the", "cat", "x", "y"]
    for i in range(9000):
        k = rng.choice([2, 3, 4, 6, 8])
        al = alpha[:k]
        hl = rng.randint(0, 40) if i % 3 else rng.randint(0, 5)
        h = [rng.choice(al) for _ in range(hl)]
        mode = rng.random()
        if mode < 0.4:
            r = [rng.choice(al) for _ in range(rng.randint(0, 40))]
        else:  # a perturbed copy: overlaps of every order
            r = list(h)
            for _ in range(rng.randint(0, 6)):
                op = rng.random()
                if op < 0.3 and r:
                    del r[rng.randrange(len(r))]
                elif op < 0.6:
                    r.insert(rng.randint(0, len(r)), rng.choice(al))
                elif r:
                    j = rng.randrange(len(r))
                    r[j] = rng.choice(al)
        pairs.append((" ".join(h), " ".join(r)))
    return pairs


def perturb(rng, toks):
    t = list(toks)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.25 and t:
            del t[rng.randrange(len(t))]
        elif op < 0.5 and len(t) > 1:
            i = rng.randrange(len(t) - 1)
            t[i], t[i + 1] = t[i + 1], t[i]
        elif op < 0.75 and t:
            i = rng.randrange(len(t))
            t.insert(i, t[i])
        elif t:
            t[rng.randrange(len(t))] = rng.choice(["what", "is", "the", "best", "way", "?"])
    return t


def corpus_pairs(rng, data_dir):
    qqp = read_jsonl(os.path.join(data_dir, "qqp", "train.jsonl")) + \
        read_jsonl(os.path.join(data_dir, "qqp", "dev.jsonl"))
    iw = read_jsonl(os.path.join(data_dir, "iwslt14", "train.jsonl"))
    pairs = []
    for r in qqp:
        pairs.append((r["src"], r["trg"]))
        pairs.append((r["trg"], r["src"]))
    sents = [r["src"] for r in qqp] + [r["trg"] for r in qqp]
    for _ in range(3000):
        a = rng.choice(sents)
        pairs.append((" ".join(perturb(rng, a.split())), a))
    for _ in range(1500):
        pairs.append((rng.choice(sents), rng.choice(sents)))
    for r in rng.sample(iw, 1500):
        pairs.append((r["trg"], r["src"]) if rng.random() < 0.2 else (r["trg"], " ".join(perturb(rng, r["trg"].split()))))
    # A few long ones.
    for _ in range(20):
        a = " ".join(rng.choice(sents) for _ in range(15))
        pairs.append((" ".join(perturb(rng, a.split())), a))
    return pairs


def edge_pairs(rng):
    pairs = []
    words = ["the", "cat", "sat", "on", "mat", "x"] + ODD
    for _ in range(2500):
        def sent():
            out = []
            for _ in range(rng.randint(0, 12)):
                p = rng.random()
                if p < 0.55:
                    out.append(rng.choice(words))
                elif p < 0.75:
                    out.append(rng.choice(WS))
                elif p < 0.85:
                    out.append(rng.choice(NOT_WS))
                else:
                    out.append(" ")
                if rng.random() < 0.6:
                    out.append(" ")
            return "".join(out)
        a = sent()
        b = sent() if rng.random() < 0.5 else a.replace(" ", rng.choice(WS + [" "]))
        pairs.append((a, b))
    # Short hypotheses: the H = 1, 2, 3 branches.
    for h in ["a", "a a", "a b", "a b c", "b a", "a a a"]:
        for r in ["a", "a a", "a b", "a b c", "a b c d", "b", ""]:
            pairs.append((h, r))
    return pairs


def gen_pairs(data_dir):
    rng = random.Random(20240601)
    pairs = [(h, SPEC_REF if r is None else r) for h, r, _ in SPEC_VECTORS]
    pairs += random_pairs(rng) + corpus_pairs(rng, data_dir) + edge_pairs(rng)
    rows, disagree = [], []
    for i, (h, r) in enumerate(pairs):
        b = nltk_bleu(h, r)
        if i < len(SPEC_VECTORS):
            want = SPEC_VECTORS[i][2]
            assert b == want, f"doc/metrics.md §1 vector {i + 1}: nltk gives {b!r}, the table says {want!r}"
        f = tm_rouge_l_f(h, r)
        rs = RS.score(r, h)["rougeL"].fmeasure
        if rs != f:
            disagree.append((h, r, f, rs))
        rows.append([h, r, hexf(b), hexf(tm_rouge_l(h, r))])
    return rows, disagree


# --- 2. text handling ----------------------------------------------------------
def script_clean(s, field, m):
    sos, eos, sep, pad = m
    s = s.strip()
    if field == "source":
        return s.replace(eos, "").replace(sos, "")
    if field == "reference":
        return s.replace(eos, "").replace(sos, "").replace(sep, "")
    return s.replace(eos, "").replace(sos, "").replace(sep, "").replace(pad, "")


def dist1(s):
    # distinct_n_gram([recover], 1) of the script
    g = list(nltk.ngrams(s.split(), 1))
    if len(g) == 0:
        return 0.0
    return float(np.mean([len(set(g)) / len(g)]))


def gen_text():
    rng = random.Random(7)
    pieces = ["[CLS]", "[SEP]", "[PAD]", "[CL", "S]", "[SE", "P]", "[", "]", " ", "  ", "the", "cat",
              "cat", "a"] + WS + NOT_WS + ODD
    cases = ["", " ", "[CLS] the cat sat [SEP]", "[CLS] [PAD] x [SEP] [PAD]", "[CL[SEP]S] x",
             "[[SEP]SEP] y", "\u3000 a \u3000", "\u200b a \u200b", "a\x85b", " \xa0\xa0 "]
    for _ in range(3000):
        cases.append("".join(rng.choice(pieces) for _ in range(rng.randint(0, 14))))
    default = ("[CLS]", "[SEP]", "[SEP]", "[PAD]")
    custom = [("<s>", "</s>", "</s>", "<pad>"), ("", "[SEP]", "", "[PAD]"), ("<s>", "", "|", "")]
    rows = []
    for i, s in enumerate(cases):
        m = default if i % 5 else custom[(i // 5) % len(custom)]
        for s2 in ([s] if i % 5 else [s, s.replace("[CLS]", m[0] or "x").replace("[SEP]", m[1] or "y")]):
            rows.append({
                "s": s2, "markers": list(m), "strip": s2.strip(), "split": s2.split(),
                "fields": len(s2.split(" ")),
                "source": script_clean(s2, "source", m), "reference": script_clean(s2, "reference", m),
                "recover": script_clean(s2, "recover", m), "dist1": hexf(dist1(s2)),
            })
    return rows


def gen_divn():
    """div-n over a group of candidates (distinct_n_gram_inter_sent)."""
    rng = random.Random(11)
    al = ["a", "b", "c", "d", "é", "\u3000x"]
    rows = []
    for _ in range(600):
        k = rng.randint(1, 5)
        cands = [" ".join(rng.choice(al[:rng.randint(1, 6)]) for _ in range(rng.randint(0, 9))) for _ in range(k)]
        for n in (1, 2, 4):
            grams = []
            for c in cands:
                grams += nltk.ngrams(c.split(), n)
            d = 0 if len(grams) == 0 else len(set(grams)) / len(grams)
            rows.append({"cands": cands, "n": n, "div": hexf(d)})
    return rows


# --- 3. numpy means ------------------------------------------------------------
def gen_means():
    rows = []
    lengths = [(k, n) for k in (0, 1) for n in range(1, 1001)]
    lengths += [(k, n) for k in (0, 1, 2) for n in (8191, 8192, 8193, 12345, 16384, 16392, 24581, 65537, 100000)]
    lengths += [(3, n) for n in (1, 7, 8, 9, 200, 9000)]
    for k, n in lengths:
        seed = n * 31 + k
        g = SplitMix(seed)
        x = np.array([g.value(k) for _ in range(n)], dtype=np.float64)
        rows.append({"kind": k, "n": n, "seed": seed, "mean": hexf(np.mean(x)), "sum": hexf(np.sum(x))})
    # MBR row sums: np.sum(selfBleu, -1) on a k x k matrix (diagonal 0).
    for k in list(range(1, 41)) + [100, 130, 257]:
        seed = 1000003 * k
        g = SplitMix(seed)
        m = [[g.value(2) for _ in range(k)] for _ in range(k)]
        for i in range(k):
            m[i][i] = 0
        s = np.sum(m, -1)
        rows.append({"kind": 2, "rows": k, "seed": seed, "rowsums": [hexf(v) for v in s],
                     "argmax": int(np.argmax(s))})
    return rows


# --- 4. sacreBLEU --------------------------------------------------------------
def sacre(name, hyps, refs, data=None):
    b = BLEU()
    bs = b.corpus_score(hyps, [refs])
    c = CHRF()
    cs = c.corpus_score(hyps, [refs])
    row = {"name": name, "bleu": bs.score, "precisions": list(bs.precisions), "bp": bs.bp,
           "ratio": bs.ratio, "sys_len": bs.sys_len, "ref_len": bs.ref_len,
           "bleu_sig": str(b.get_signature()), "chrf": cs.score, "chrf_sig": str(c.get_signature())}
    if data:
        row["data"] = data
    else:
        row["hyps"], row["refs"] = hyps, refs
    return row


def tok13a_cases():
    """Strings through sacrebleu's own 13a tokenizer (with BLEU's rstrip)."""
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    t = Tokenizer13a()
    rng = random.Random(5)
    pieces = ["a", "b1", "3", "12", ".", ",", "-", "'", "&quot;", "&amp;", "&lt;", "&gt;", "&", "&amp",
              "<skipped>", "-\n", "\n", " ", "  ", "(", ")", "[", "]", "{", "}", "~", "`", "$", "%", "/",
              "\\", "@", "?", "!", ":", ";", "=", "+", "*", "#", "^", "_", "|", "\"", "é", "…", "—", "日本",
              "\u3000", "\xa0", "\t", "\x1c", "¿", "«", "»", "3.5", "1,000", "10-20", "e.g.", "U.S.", "..",
              ",,", ".,", "a.b", "a,b", "1.", ".1", "-1", "1-"]
    rows = []
    for s in ["", " ", "Hello, world!", "It costs $3.50 (approx.) -- e.g. 10-20%.",
              "it &apos;s that pyramid .", "a&quot;b&amp;quot;", "x<skipped>y", "line-\nbreak"]:
        rows.append({"s": s, "tok": t(s.rstrip())})
    for _ in range(3000):
        s = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 16)))
        rows.append({"s": s, "tok": t(s.rstrip())})
    return rows


def gen_sacre(data_dir):
    rows = []
    qqp_dev = read_jsonl(os.path.join(data_dir, "qqp", "dev.jsonl"))
    qqp_train = read_jsonl(os.path.join(data_dir, "qqp", "train.jsonl"))
    iw = read_jsonl(os.path.join(data_dir, "iwslt14", "train.jsonl"))
    for rel, recs in [("qqp/dev.jsonl", qqp_dev), ("qqp/train.jsonl", qqp_train), ("iwslt14/train.jsonl", iw)]:
        rows.append(sacre(rel + " src->trg", [r["src"] for r in recs], [r["trg"] for r in recs],
                          {"file": rel, "hyp": "src", "ref": "trg"}))
        rows.append(sacre(rel + " trg->src", [r["trg"] for r in recs], [r["src"] for r in recs],
                          {"file": rel, "hyp": "trg", "ref": "src"}))
    rows.append(sacre("one pair", ["the cat sat on the mat"], ["the cat sat on the mat"]))
    rows.append(sacre("empty lines", ["", "the cat", "", "a b c d e"], ["x", "", "", "a b c d e"]))
    rows.append(sacre("all empty hyps", ["", ""], ["a b", "c"]))
    rows.append(sacre("all empty", ["", ""], ["", ""]))
    rows.append(sacre("no match", ["a b c d", "e f"], ["w x y z", "u v"]))
    rows.append(sacre("short hyps", ["a b", "c"], ["a b c", "c d"]))
    rows.append(sacre("zero 3-gram", ["a b x c d", "p q"], ["a b y c d", "p q"]))
    rows.append(sacre("longer hyp", ["a b c d e f g h"], ["a b c d"]))
    rng = random.Random(9)
    toks = tok13a_cases()
    strs = [r["s"] for r in toks]
    for k in range(8):
        n = rng.randint(1, 60)
        hyps = [rng.choice(strs) for _ in range(n)]
        refs = [h if rng.random() < 0.3 else rng.choice(strs) for h in hyps]
        rows.append(sacre(f"random 13a corpus {k}", hyps, refs))
    return rows, toks


# --- output ----------------------------------------------------------------------
def write_jsonl(path, rows, compress=False):
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    if compress:
        subprocess.run(["zstd", "-q", "-19", "-f", "-o", path + ".zst"], input=data, check=True)
        out = path + ".zst"
    else:
        with open(path, "wb") as f:
            f.write(data)
        out = path
    print(f"  {os.path.relpath(out, ROOT)}: {len(rows)} rows, {os.path.getsize(out)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "data"),
                    help="the shipped data sets (data/README.md)")
    a = ap.parse_args()
    data_dir = a.data
    os.makedirs(OUT, exist_ok=True)

    pairs, disagree = gen_pairs(data_dir)
    print(f"BLEU/ROUGE-L pairs: {len(pairs)}; torchmetrics-rule vs rouge-score F differ on {len(disagree)}")
    for d in disagree[:10]:
        print("   differ:", repr(d))
    write_jsonl(os.path.join(OUT, "bleu_rouge.jsonl"), pairs, compress=True)
    write_jsonl(os.path.join(OUT, "text.jsonl"), gen_text(), compress=True)
    write_jsonl(os.path.join(OUT, "divn.jsonl"), gen_divn(), compress=True)
    write_jsonl(os.path.join(OUT, "means.jsonl"), gen_means(), compress=True)
    sac, toks = gen_sacre(data_dir)
    write_jsonl(os.path.join(OUT, "sacrebleu.jsonl"), sac, compress=True)
    write_jsonl(os.path.join(OUT, "tok13a.jsonl"), toks, compress=True)
    if disagree:
        sys.exit("torchmetrics rule and rouge-score disagree: see above")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds k decode files of the same inputs, as dsq-sample / DiffuSeq write
them ({"recover","reference","source"} with [CLS]/[SEP]/[PAD] markers), from
real QQP pairs with seeded perturbations.  Used by the score/MBR oracle check
and the benchmark; the output depends only on (data, k, n, seed).

The perturbations aim at the corners of the metrics: identical candidates
(MBR ties decided by the last bits of numpy's pairwise row sums), copies of
the reference, empty and 1-3 token outputs, repeated tokens, punctuation,
double spaces / tabs / no-break spaces (str.split vs split(' ')), non-ASCII
words (ROUGE-L tokenisation, UTF-8), a literal [PAD] inside references, and
markers glued inside the text.

  make_decodes.py --data QQP.jsonl [--data ...] --k K --n N --seed S --out DIR
writes DIR/seed_<j>.json for j = 1..K (so that byte order, the script's
sorted(), differs from numeric order once K >= 10).
"""
import argparse
import json
import os
import random
import re

EXTRA_WORDS = ["café", "naïve", "İstanbul", "\u212aelvin", "東京", "straße", "don't", "3.5",
               "e-mail", "Ärger", "x", "?", "!", "...", "the", "a", "is", "what", "how"]


def bert_like(text):
    """Lower-case and split punctuation off, roughly as BERT decoding shows it."""
    text = text.lower()
    text = re.sub(r"([?!.,'\"()/:;-])", r" \1 ", text)
    return " ".join(text.split())


def perturb(rng, toks, vocab):
    toks = list(toks)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if not toks:
            toks.append(rng.choice(vocab))
        elif op < 0.25:
            del toks[rng.randrange(len(toks))]
        elif op < 0.45:
            toks[rng.randrange(len(toks))] = rng.choice(vocab)
        elif op < 0.6 and len(toks) > 1:
            i = rng.randrange(len(toks) - 1)
            toks[i], toks[i + 1] = toks[i + 1], toks[i]
        elif op < 0.7:
            i = rng.randrange(len(toks))
            toks.insert(i, toks[i])
        elif op < 0.8:
            toks = toks[:rng.randint(1, len(toks))]
        elif op < 0.9:
            toks.insert(rng.randrange(len(toks) + 1), rng.choice(EXTRA_WORDS))
        else:
            toks.append(rng.choice(vocab))
    return toks


def join_odd(rng, toks):
    """Joins tokens, now and then with odd whitespace."""
    if rng.random() < 0.9:
        return " ".join(toks)
    seps = [" ", "  ", "\t", "\u00a0", " \u3000 "]
    return "".join(t + rng.choice(seps) for t in toks).rstrip(" ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    pairs = []
    for path in args.data:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    o = json.loads(line)
                    pairs.append((bert_like(o["src"]), bert_like(o["trg"])))
    vocab = sorted({w for s, t in pairs for w in t.split()})
    rng = random.Random(args.seed)
    rows = [[] for _ in range(args.k)]
    for i in range(args.n):
        src, trg = pairs[i % len(pairs)]
        ref_toks = trg.split()
        if rng.random() < 0.01:
            ref_toks = ref_toks + ["[PAD]"]  # a literal [PAD] survives the script's cleaning
        if rng.random() < 0.01:
            ref_toks = ref_toks[:rng.randint(0, 2)]  # empty or very short reference
        reference = "[CLS] " + " ".join(ref_toks) + " [SEP]"
        source = "[CLS] " + src + " [SEP]"
        all_same = rng.random() < 0.05
        first = None
        for j in range(args.k):
            r = rng.random()
            if all_same and first is not None:
                toks = first
            elif r < 0.1:
                toks = list(ref_toks)
            elif r < 0.2 and first is not None:
                toks = first
            elif r < 0.23:
                toks = []
            elif r < 0.28:
                toks = perturb(rng, ref_toks, vocab)[:rng.randint(1, 3)]
            elif r < 0.33:
                toks = [rng.choice(vocab)] * rng.randint(2, 6)
            else:
                toks = perturb(rng, ref_toks, vocab)
            if first is None:
                first = toks
            text = join_odd(rng, toks)
            if rng.random() < 0.03:
                text = text.replace(" ", " [SEP] ", 1)  # marker inside the text
            pad = " [PAD]" * rng.choice([0, 0, 0, 1, 5])
            lead = rng.choice(["", "", "", " ", "\t"])
            recover = lead + "[CLS] " + text + " [SEP]" + pad + rng.choice(["", "", " "])
            rows[j].append({"recover": recover, "reference": reference, "source": source})
    os.makedirs(args.out, exist_ok=True)
    for j in range(args.k):
        with open(os.path.join(args.out, f"seed_{j + 1}.json"), "w", encoding="utf-8") as f:
            for o in rows[j]:
                f.write(json.dumps(o, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

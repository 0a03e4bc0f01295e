#!/usr/bin/env python3
"""Writes tests/fixtures/score/: small hand-made decode files for the
dsq-score / dsq-mbr CLI tests, variants of them (renamed fields, other
markers, plain text, broken files) and expected.json, the figures of
eval_script.py (the re-stated DiffuSeq evaluation script) on them.

  $DSQ_PYTHON tests/oracles/score_fixtures.py [OUTDIR]
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures", "score")

REFS = ["how can i learn python fast ?", "what is love ?", "café in istanbul",
        "why ?", "the cat sat on the mat", ""]
SRCS = ["what is the fastest way to learn python ?", "define love", "where to drink coffee",
        "why", "where is the cat ?", "say nothing"]
# Edge cases: empty output, whitespace-only line, non-ASCII, 1-3 tokens,
# repeated tokens, an empty reference, identical candidates (MBR ties).
RECS = {
    "a": ["how do i learn python quickly ? [SEP] [PAD] [PAD]", "", "café naïve İstanbul 東京",
          "why", "   \t  ", "something"],
    "b": ["how can i learn python fast ?", "what is love", "café naïve", "why is it ?",
          "the cat", ""],
    "c": ["how can i learn python fast ?", "love love love", "東京", "why ?",
          "the  cat sat\u00a0on the mat", "x y"],
}


def row(rec, ref, src, f=("recover", "reference", "source"), m=("[CLS]", "[SEP]", "[PAD]")):
    sos, eos, pad = m
    rec = rec.replace("[SEP]", eos).replace("[PAD]", pad)
    return {f[0]: f"{sos} {rec} {eos}" if rec.strip() else rec,
            f[1]: f"{sos} {ref} {eos}", f[2]: f"{sos} {src} {eos}"}


def write_jsonl(name, rows):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def clean_rec(s):
    return s.strip().replace("[SEP]", "").replace("[CLS]", "").replace("[SEP]", "").replace("[PAD]", "")


def clean_ref(s):
    return s.strip().replace("[SEP]", "").replace("[CLS]", "").replace("[SEP]", "")


def main():
    os.makedirs(OUT, exist_ok=True)
    base = {k: [row(r, REFS[i], SRCS[i]) for i, r in enumerate(v)] for k, v in RECS.items()}
    for k, rows in base.items():
        write_jsonl(f"{k}.jsonl", rows)
        write_jsonl(f"renamed_{k}.jsonl", [row(r, REFS[i], SRCS[i], f=("hyp", "tgt", "src"))
                                           for i, r in enumerate(RECS[k])])
        write_jsonl(f"markers_{k}.jsonl", [row(r, REFS[i], SRCS[i], m=("<s>", "</s>", "<pad>"))
                                           for i, r in enumerate(RECS[k])])
        # Plain text: the script's cleaned strings, to be read with --no-clean.
        with open(os.path.join(OUT, f"hyp_{k}.txt"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(clean_rec(r["recover"]) + "\n")
    with open(os.path.join(OUT, "ref.txt"), "w", encoding="utf-8") as f:
        for r in base["a"]:
            f.write(clean_ref(r["reference"]) + "\n")
    with open(os.path.join(OUT, "ref_short.txt"), "w", encoding="utf-8") as f:
        for r in base["a"][:3]:
            f.write(clean_ref(r["reference"]) + "\n")
    write_jsonl("one.jsonl", [row("the cat", "the cat", "a cat")])
    write_jsonl("short.jsonl", base["b"][:4])
    mism = [dict(r) for r in base["b"]]
    mism[3]["reference"] = "[CLS] why not ? [SEP]"
    write_jsonl("ref_mismatch.jsonl", mism)
    mism = [dict(r) for r in base["b"]]
    mism[1]["source"] = "[CLS] define hate [SEP]"
    write_jsonl("src_mismatch.jsonl", mism)
    nosrc = [{k: v for k, v in r.items() if k != "source"} for r in base["b"]]
    write_jsonl("no_source.jsonl", nosrc)
    missing = [dict(r) for r in base["b"]]
    del missing[1]["recover"]
    write_jsonl("missing_field.jsonl", missing)
    nonstr = [dict(r) for r in base["b"]]
    nonstr[2]["reference"] = None
    write_jsonl("nonstring_field.jsonl", nonstr)
    with open(os.path.join(OUT, "bad_json.jsonl"), "w", encoding="utf-8") as f:
        for r in base["b"][:2]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.write('{"recover": "x", "reference": }\n')
    # Control characters and extra fields must survive dsq-mbr unchanged.
    ctl = [dict(r, id=i, meta={"t": [1, 2.5, None, True]}) for i, r in enumerate(base["c"])]
    ctl[0]["recover"] = "[CLS] how can i\u0001 learn\tpython \"fast\" ? \\ [SEP]"
    write_jsonl("control.jsonl", ctl)

    ev = [sys.executable, os.path.join(HERE, "eval_script.py"), "--sacrebleu"]
    files = [os.path.join(OUT, f"{k}.jsonl") for k in "abc"]
    expected = {}
    for label, args in [("abc", ["--mode", "both"] + files),
                        ("abc_rouge", ["--mode", "mbr", "--utility", "rougeL"] + files),
                        ("ab", ["--mode", "both"] + files[:2]),
                        ("a", [files[0]]),
                        ("one", [os.path.join(OUT, "one.jsonl")])]:
        out = json.loads(subprocess.run(ev + args, check=True, capture_output=True).stdout)
        for rec in out["files"]:
            rec["file"] = os.path.basename(rec["file"])
        expected[label] = out
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()

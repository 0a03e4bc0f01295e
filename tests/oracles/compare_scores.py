#!/usr/bin/env python3
"""Compares dsq-score / dsq-mbr output with eval_script.py's, printing
PASS/FAIL lines for tests/run.

  compare_scores.py LABEL ORACLE.json SCORE.json [MBR.jsonl MBR_SCORE.json]

The script's figures (BLEU, ROUGE-L, dist-1, avg len, self-BLEU, div-4, the
MBR choices and the MBR output's figures) must be the same doubles: dsq
prints %.17g, which reads back exactly, and a mismatch is shown as float.hex.
sacreBLEU and chrF: to 1e-9 with identical signatures.
"""
import json
import sys

EXACT = ["n", "bleu", "rougeL", "dist1", "avg_len"]
fails = 0


def report(ok, name, why=""):
    global fails
    if ok:
        print(f"PASS {name}")
    else:
        fails += 1
        print(f"FAIL {name}: {why}")


def hexs(x):
    return float(x).hex() if isinstance(x, (int, float)) else repr(x)


def exact(name, want, got):
    if want == got and type(want) is not bool:
        report(True, name)
    else:
        report(False, name, f"oracle {want!r} ({hexs(want)}) dsq {got!r} ({hexs(got)})")


def main():
    label, oracle_p, score_p = sys.argv[1:4]
    oracle = json.load(open(oracle_p))
    score = json.load(open(score_p))
    if len(oracle["files"]) != len(score["files"]):
        report(False, f"{label} files", f"{len(oracle['files'])} vs {len(score['files'])}")
        return
    for i, (o, s) in enumerate(zip(oracle["files"], score["files"])):
        tag = f"{label} file{i}"
        exact(f"{tag} name", o["file"].split("/")[-1], s["file"].split("/")[-1])
        for key in EXACT:
            exact(f"{tag} {key}", o[key], s[key])
        if "sacrebleu" in o:
            for key in ["sacrebleu", "sacrebleu_bp", "chrf"]:
                d = abs(o[key] - s[key])
                report(d <= 1e-9, f"{tag} {key}", f"oracle {o[key]!r} dsq {s[key]!r} diff {d:.3g}")
            p_ok = all(abs(a - b) <= 1e-9 for a, b in zip(o["sacrebleu_precisions"], s["sacrebleu_precisions"]))
            report(p_ok, f"{tag} sacrebleu_precisions",
                   f"{o['sacrebleu_precisions']} vs {s['sacrebleu_precisions']}")
            for key in ["sacrebleu_sys_len", "sacrebleu_ref_len", "sacrebleu_signature", "chrf_signature"]:
                exact(f"{tag} {key}", o[key], s[key])
    if "diversity" in oracle:
        for key in ["k", "n", "self_bleu", "div4"]:
            exact(f"{label} diversity {key}", oracle["diversity"][key], (score["diversity"] or {}).get(key))
    if len(sys.argv) > 4:
        mbr_lines = [json.loads(line) for line in open(sys.argv[4], encoding="utf-8")]
        choices = [o["mbr_index"] for o in mbr_lines]
        want = oracle["mbr"]["choices"]
        diff = [i for i, (a, b) in enumerate(zip(want, choices)) if a != b]
        report(len(want) == len(choices) and not diff, f"{label} mbr choices",
               f"{len(diff)} differ, first at line {diff[0] + 1 if diff else '-'} "
               f"(oracle {want[diff[0]] if diff else '-'}, dsq {choices[diff[0]] if diff else '-'}); "
               f"counts {len(want)} vs {len(choices)}")
        ms = json.load(open(sys.argv[5]))
        for key in EXACT:
            exact(f"{label} mbr {key}", oracle["mbr"][key], ms["files"][0][key])


if __name__ == "__main__":
    main()
    sys.exit(1 if fails else 0)

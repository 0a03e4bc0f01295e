#!/usr/bin/env python3
"""A re-statement of the DiffuSeq evaluation script (scripts/eval_seq2seq.py)
without BERTScore, printing its figures as JSON instead of text.

Kept as the script computes them, quirks included:
  * files: sorted(glob(FOLDER/*json)) (or the FILE arguments, sorted);
  * every field .strip()-ed, markers removed by str.replace in the script's
    order (eos, sos, sep, pad), no second strip;
  * get_bleu(recover, reference) = nltk sentence_bleu([recover.split()],
    reference.split(), method4): recover is nltk's REFERENCE;
  * ROUGE-L: torchmetrics ROUGEScore()(recover, reference)['rougeL_fmeasure']
    re-stated (torchmetrics is not installed here): lower-case, runs of
    [^a-z0-9] to one space, split, LCS, F = 2*P*R/(P+R), float32;
  * dist-1 via distinct_n_gram([recover], 1); avg len = len(recover.split(' '));
  * diversity (the script's non---mbr branch): per example diversityOfSet;
  * MBR (the --mbr branch): selectBest with np.sum over rows and np.argmax,
    scored against the FIRST file's reference;
  * every mean is np.mean.
--mode both runs the per-file pass, the diversity branch and the MBR branch
in one process (the script needs two runs for that).
--sacrebleu adds sacreBLEU corpus BLEU and chrF per file (not in the script;
dsq-score reports them).
"""
import argparse
import glob
import json
import re
import sys
import warnings

import nltk
import numpy as np
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

warnings.filterwarnings("ignore")  # nltk warns on zero n-gram counts


def get_bleu(recover, reference):
    return sentence_bleu([recover.split()], reference.split(),
                         smoothing_function=SmoothingFunction().method4)


# torchmetrics.functional.text.rouge, re-stated for rougeL with defaults.
def _rouge_tokens(text):
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    return [x for x in re.split(r"\s+", text) if len(x) > 0]


def _lcs(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


def rouge_l_fmeasure(pred, target):
    p, t = _rouge_tokens(pred), _rouge_tokens(target)
    if 0 in (len(p), len(t)):
        return 0.0
    lcs = _lcs(p, t)
    precision = lcs / len(p)
    recall = lcs / len(t)
    if precision == recall == 0.0:
        return 0.0
    f = 2 * precision * recall / (precision + recall)
    return float(np.float32(f))  # torch.tensor(f).tolist()


def selectBest(sentences, utility=get_bleu):
    selfBleu = [[] for _ in range(len(sentences))]
    for i, s1 in enumerate(sentences):
        for j, s2 in enumerate(sentences):
            selfBleu[i].append(utility(s1, s2))
    for i in range(len(sentences)):
        selfBleu[i][i] = 0
    idx = np.argmax(np.sum(selfBleu, -1))
    return int(idx)


def distinct_n_gram(hypn, n):
    dist_list = []
    for hyp in hypn:
        hyp_ngrams = []
        hyp_ngrams += nltk.ngrams(hyp.split(), n)
        total_ngrams = len(hyp_ngrams)
        unique_ngrams = len(list(set(hyp_ngrams)))
        if total_ngrams == 0:
            return 0
        dist_list.append(unique_ngrams / total_ngrams)
    return np.mean(dist_list)


def distinct_n_gram_inter_sent(hypn, n):
    hyp_ngrams = []
    for hyp in hypn:
        hyp_ngrams += nltk.ngrams(hyp.split(), n)
    total_ngrams = len(hyp_ngrams)
    unique_ngrams = len(list(set(hyp_ngrams)))
    if total_ngrams == 0:
        return 0
    return unique_ngrams / total_ngrams


def diversityOfSet(sentences):
    selfBleu = []
    for i, sentence in enumerate(sentences):
        for j in range(i + 1, len(sentences)):
            selfBleu.append(get_bleu(sentence, sentences[j]))
    if len(selfBleu) == 0:
        selfBleu.append(0)
    return np.mean(selfBleu), distinct_n_gram_inter_sent(sentences, 4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", default="")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--mode", choices=["div", "mbr", "both"], default="div")
    ap.add_argument("--utility", choices=["bleu", "rougeL"], default="bleu")
    ap.add_argument("--sacrebleu", action="store_true")
    ap.add_argument("--sos", default="[CLS]")
    ap.add_argument("--eos", default="[SEP]")
    ap.add_argument("--sep", default="[SEP]")
    ap.add_argument("--pad", default="[PAD]")
    args = ap.parse_args()

    files = sorted(glob.glob(f"{args.folder}/*json")) if args.folder else sorted(args.files)
    if not files:
        sys.exit("eval_script.py: no files")
    with open(files[0], "r") as f:
        sample_num = sum(1 for _ in f)
    sentenceDict = {i: [] for i in range(sample_num)}
    referenceDict = {i: [] for i in range(sample_num)}
    sourceDict = {i: [] for i in range(sample_num)}
    out = {"files": []}

    for path in files:
        references, recovers = [], []
        bleu, rougel, avg_len, dist1 = [], [], [], []
        with open(path, "r") as f:
            cnt = 0
            for row in f:
                source = json.loads(row)["source"].strip()
                reference = json.loads(row)["reference"].strip()
                recover = json.loads(row)["recover"].strip()
                source = source.replace(args.eos, "").replace(args.sos, "")
                reference = reference.replace(args.eos, "").replace(args.sos, "").replace(args.sep, "")
                recover = (recover.replace(args.eos, "").replace(args.sos, "")
                           .replace(args.sep, "").replace(args.pad, ""))
                references.append(reference)
                recovers.append(recover)
                avg_len.append(len(recover.split(" ")))
                bleu.append(get_bleu(recover, reference))
                rougel.append(rouge_l_fmeasure(recover, reference))
                dist1.append(distinct_n_gram([recover], 1))
                sentenceDict[cnt].append(recover)
                referenceDict[cnt].append(reference)
                sourceDict[cnt].append(source)
                cnt += 1
        rec = {"file": path, "n": len(recovers), "bleu": float(np.mean(bleu)),
               "rougeL": float(np.mean(rougel)), "dist1": float(np.mean(dist1)),
               "avg_len": float(np.mean(avg_len))}
        if args.sacrebleu:
            from sacrebleu.metrics import BLEU, CHRF
            b, c = BLEU(), CHRF()
            rb = b.corpus_score(recovers, [references])
            rc = c.corpus_score(recovers, [references])
            rec.update({"sacrebleu": rb.score, "sacrebleu_signature": str(b.get_signature()),
                        "sacrebleu_precisions": list(rb.precisions), "sacrebleu_bp": rb.bp,
                        "sacrebleu_sys_len": rb.sys_len, "sacrebleu_ref_len": rb.ref_len,
                        "chrf": rc.score, "chrf_signature": str(c.get_signature())})
        out["files"].append(rec)

    if len(files) > 1 and args.mode in ("div", "both"):
        selfBleu, div4 = [], []
        for k, v in sentenceDict.items():
            if len(v) == 0:
                continue
            sb, d4 = diversityOfSet(v)
            selfBleu.append(sb)
            div4.append(d4)
        out["diversity"] = {"k": len(files), "n": len(selfBleu),
                            "self_bleu": float(np.mean(selfBleu)), "div4": float(np.mean(div4))}

    if len(files) > 1 and args.mode in ("mbr", "both"):
        util = get_bleu if args.utility == "bleu" else (lambda a, b: rouge_l_fmeasure(b, a))
        choices, recovers, references = [], [], []
        for k, v in sentenceDict.items():
            if len(v) == 0 or len(referenceDict[k]) == 0:
                continue
            idx = selectBest(v, util)
            choices.append(idx)
            recovers.append(v[idx])
            references.append(referenceDict[k][0])
        bleu, rougel, avg_len, dist1 = [], [], [], []
        for reference, recover in zip(references, recovers):
            bleu.append(get_bleu(recover, reference))
            rougel.append(rouge_l_fmeasure(recover, reference))
            avg_len.append(len(recover.split(" ")))
            dist1.append(distinct_n_gram([recover], 1))
        out["mbr"] = {"choices": choices, "n": len(recovers), "bleu": float(np.mean(bleu)),
                      "rougeL": float(np.mean(rougel)), "dist1": float(np.mean(dist1)),
                      "avg_len": float(np.mean(avg_len))}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

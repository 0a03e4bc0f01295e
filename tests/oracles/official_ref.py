#!/usr/bin/env python3
"""Training-step fixtures from the official DiffuSeq code itself
(github Shark-NLP/DiffuSeq, a local checkout given by --official), read by
tests/unit/test_official.c.

The model is the official TransformerNetModel built by the official
create_model_and_diffusion from a BERT config.json directory, loaded
strictly with dsq's own initial parameters (written by
`test_official --write-params`, so that a bert-base-sized state dict need
not be committed: the fixture holds the seed and the parameters' SHA-256).
The batch is QQP training pairs, tokenized by the official tokenizer class
and packed as its merge_and_mask does; timesteps and noises are fixed by
replacing the draws (official_env.fixed_draws), not the formulas.  Two
steps of the official TrainLoop run on that batch (forward_backward, then
optimize_normal: clipping, lr anneal, torch AdamW, the EMA list), with
dropout off (model.eval()).

A fixture holds, with the configuration as JSON metadata ("config"):
  ids [B,L] I32, mask [B,L] U8, t [B] I64, eps0 / eps [B,L,d] F32 (the x_0
  and x_t noises, both steps), dmask [B,L] F32 (v2's denoising mask, 0
  without), w [B] F32 (the loss-aware sampler's weights)
  step<k>.terms.<loss|mse|decoder_nll|tT|nll> [B] F64  per sequence
  step1.gstat.<name> [3] F64     sum, sum of squares, max |g| of a gradient
  idx.<name> [K] I64             sampled flat indices: the 16 largest |g|
                                 of step 1, then 16 fixed others
  step1.grad.<name> [K] F32      the gradient there
  step<k>.<param|exp_avg|exp_avg_sq|ema_<r>>.<name> [K] F32  after step k
Figures only: no code of the official repository is stored.

usage: official_ref.py --official DIR --config tiny|bert-base|tiny-v2 OUT.safetensors
                       [--dsq-test build/tests/test_official]
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_env as oe  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CONFIGS = {
    # The side-by-side "tiny" shape: 2 x 128, hidden_dim = encoder width (no
    # projections); clipping on (the initial gradient norm is above 1).
    "tiny": dict(vocab=30522, d=128, dt=128, H=128, nh=2, I=512, n_layers=2, max_pos=512,
                 T=2000, B=6, L=64, microbatch=3, seed=21, lr=1e-4, learning_steps=10,
                 weight_decay=0.0, clip=1.0, ema=[0.9, 0.5], steps=2,
                 t=[0, 1, 17, 523, 1311, 1999], rows=[0, 5, 11, 23, 42, 77]),
    # The paper's shape: bert-base encoder, hidden_dim 128 (up and down
    # projections active), clipping off as the official default.
    "bert-base": dict(vocab=30522, d=128, dt=128, H=768, nh=12, I=3072, n_layers=12,
                      max_pos=512, T=2000, B=4, L=128, microbatch=2, seed=22, lr=1e-4,
                      learning_steps=10, weight_decay=0.0, clip=-1.0, ema=[0.9, 0.5],
                      steps=2, t=[0, 5, 999, 1999], rows=[3, 8, 13, 21]),
    # DiffuSeq-v2 (a checkout of the diffuseq-v2 branch): the learned mean
    # embedding and the denoising mask; reg_rate is the official 0.01, which
    # its create_model_and_diffusion always uses (it does not pass the
    # --reg_rate flag on).
    "tiny-v2": dict(vocab=30522, d=128, dt=128, H=128, nh=2, I=512, n_layers=2, max_pos=512,
                    T=2000, B=6, L=64, microbatch=3, seed=23, lr=1e-4, learning_steps=10,
                    weight_decay=0.0, clip=-1.0, ema=[0.9, 0.5], steps=2,
                    t=[0, 1, 17, 523, 1311, 1999], rows=[1, 6, 12, 24, 43, 78],
                    mean_embed=True, denoise=True, denoise_rate=0.5, reg_rate=0.01),
}
K_TOP, K_FIXED = 16, 16


def pack(tok, src, trg, L, sep):
    """Source and target ids as the official merge_and_mask joins them:
    [CLS] src [SEP] [SEP] [CLS] trg [SEP], the longer side cut first, mask
    0 over the source part and its separator, padded with 0 / mask 1."""
    s, t = tok.encode_token([src])[0], tok.encode_token([trg])[0]
    end, s, t = s[-1], s[:-1], t[:-1]
    while len(s) + len(t) > L - 3:
        longer_s, longer_t = len(s) >= len(t), len(t) >= len(s)
        if longer_s:
            s.pop()
        if longer_t:
            t.pop()
    s, t = s + [end], t + [end]
    ids = s + [sep] + t
    mask = [0] * (len(s) + 1)
    return ids + [tok.pad_token_id] * (L - len(ids)), mask + [1] * (L - len(mask))


def dsq_params(c, test_bin, tmp):
    path = os.path.join(tmp, "init.safetensors")
    cfg = {k: c[k] for k in ("vocab", "d", "dt", "H", "nh", "I", "n_layers", "max_pos", "seed")}
    cfg["mean_embed"] = c.get("mean_embed", False)
    subprocess.run([test_bin, "--write-params", json.dumps(cfg), path], check=True)
    params = load_file(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    return params, meta["params_sha256"]


def sampled_indices(g, seed):
    flat = g.reshape(-1)
    top = torch.topk(flat.abs(), min(K_TOP, flat.numel())).indices
    gen = torch.Generator().manual_seed(seed)
    other = torch.randint(0, flat.numel(), (K_FIXED,), generator=gen)
    return torch.cat([top, other]).to(torch.int64)


def embedding_terms(off, diffusion, model, ids, eps0):
    """decoder_nll and tT, which training_losses adds into "loss" without
    returning them: the same official methods on the same x_0 noise."""
    with torch.no_grad(), oe.fixed_draws([eps0], []):
        x0_mean = model.get_embeds(ids)
        std = off.gd._extract_into_tensor(diffusion.sqrt_one_minus_alphas_cumprod,
                                          torch.tensor([0]), x0_mean.shape)
        x0 = diffusion._get_x_start(x0_mean, std)
        dec = diffusion._token_discrete_loss(x0, model.get_logits, ids)
        mean_T, _, _ = diffusion.q_mean_variance(x0, torch.tensor([diffusion.num_timesteps - 1]))
        tT = off.gd.mean_flat(mean_T ** 2)
    return {"decoder_nll": dec.double(), "tT": tT.double()}


def setup(off, c, a, tmp, dropout=0.0):
    """The official model and diffusion for config c (hidden dropout
    `dropout`, attention-probability dropout bert-base's 0.1, as the
    official model takes them), loaded strictly with dsq's initial
    parameters; the BERT config directory; the parameters' digest."""
    cfgdir = oe.bert_config_dir(os.path.join(tmp, "bert"), vocab_size=c["vocab"],
                                hidden_size=c["H"], num_hidden_layers=c["n_layers"],
                                num_attention_heads=c["nh"], intermediate_size=c["I"],
                                max_position_embeddings=c["max_pos"])
    with open(os.path.join(REPO, "data/vocab/bert-base-uncased.txt"), "rb") as f:
        vocab = f.read()
    with open(os.path.join(cfgdir, "vocab.txt"), "wb") as f:
        f.write(vocab)
    params, digest = dsq_params(c, a.dsq_test, tmp)
    v2 = dict(learned_mean_embed=True, denoise=c["denoise"], denoise_rate=c["denoise_rate"]) \
        if c.get("mean_embed") else {}
    model, diffusion = oe.create(off, cfgdir, vocab_size=c["vocab"], hidden_dim=c["d"],
                                 hidden_t_dim=c["dt"], diffusion_steps=c["T"], dropout=dropout,
                                 **v2)
    if v2:
        assert diffusion.reg_rate == c["reg_rate"], "the official reg_rate is not 0.01"
    state = dict(params, **{"lm_head.weight": params["word_embedding.weight"],
                            "position_ids": model.position_ids})
    model.load_state_dict(state, strict=True)
    assert model.lm_head.weight is model.word_embedding.weight
    return model, diffusion, cfgdir, digest


def inputs(off, c, diffusion, cfgdir, tmp):
    """The batch (QQP rows through the official tokenizer class, packed)
    and the fixed draws: t, the x_0 and x_t noises, v2's denoising mask."""
    targs = dict(off.defaults, vocab="bert", config_name=cfgdir, checkpoint_path=tmp)
    tok = off.basic_utils.load_tokenizer(type("Args", (), targs)())
    rows = [json.loads(line) for line in open(os.path.join(REPO, "data/qqp/train.jsonl"))]
    packed = [pack(tok, rows[i]["src"], rows[i]["trg"], c["L"], tok.sep_token_id)
              for i in c["rows"]]
    B, L, d = c["B"], c["L"], c["d"]
    g = torch.Generator().manual_seed(c["seed"] + 100)
    x = dict(ids=torch.tensor([p[0] for p in packed], dtype=torch.int64),
             mask=torch.tensor([p[1] for p in packed], dtype=torch.int64),
             t=torch.tensor(c["t"], dtype=torch.int64),
             eps0=torch.randn(B, L, d, generator=g), eps=torch.randn(B, L, d, generator=g),
             dmask=torch.zeros(B, L))
    if c.get("denoise"):
        s1 = torch.as_tensor(np.asarray(diffusion.sqrt_one_minus_alphas_cumprod)).float()
        x["dmask"] = torch.bernoulli((s1[x["t"]] * c["denoise_rate"])[:, None].expand(B, L),
                                     generator=g)
    return x


def microbatch_draws(c, x):
    noises, draws, masks = [], [], []
    for i in range(0, c["B"], c["microbatch"]):
        sl = slice(i, i + c["microbatch"])
        noises += [x["eps0"][sl], x["eps"][sl]]
        draws.append(x["t"][sl].numpy())
        masks += [x["dmask"][sl]] if c.get("denoise") else []
    return noises, draws, masks


def steps_fixture(off, c, a, tmp):
    model, diffusion, cfgdir, digest = setup(off, c, a, tmp)
    model.eval()   # dropout off: the hidden and the attention-probability dropout
    x = inputs(off, c, diffusion, cfgdir, tmp)
    B, L, d, mb = c["B"], c["L"], c["d"], c["microbatch"]
    oe.setup_dist(off, tmp)
    sampler = off.step_sample.create_named_schedule_sampler("lossaware", diffusion)
    loop = off.train_util.TrainLoop(
        model=model, diffusion=diffusion, data=None, batch_size=B, microbatch=mb, lr=c["lr"],
        ema_rate=",".join("%g" % r for r in c["ema"]), log_interval=1, save_interval=10**9,
        resume_checkpoint="none", schedule_sampler=sampler, weight_decay=c["weight_decay"],
        learning_steps=c["learning_steps"], checkpoint_path=tmp,
        gradient_clipping=c["clip"], eval_data=None)
    captured = []
    real_losses = diffusion.training_losses

    def observed(*args, **kw):   # records the per-sequence terms, changes nothing
        terms = real_losses(*args, **kw)
        captured.append({k: v.detach().clone() for k, v in terms.items()})
        return terms
    diffusion.training_losses = observed

    out = {"ids": x["ids"].to(torch.int32), "mask": x["mask"].to(torch.uint8), "t": x["t"],
           "eps0": x["eps0"], "eps": x["eps"], "dmask": x["dmask"].float()}
    idx = {}
    for k in range(1, c["steps"] + 1):
        captured.clear()
        with oe.fixed_draws(*microbatch_draws(c, x)):
            weights = sampler.weights()
            loop.forward_backward(torch.zeros(B, L, d),
                                  {"input_ids": x["ids"], "input_mask": x["mask"]})
        p = weights / weights.sum()
        out["w"] = torch.from_numpy(1 / (len(p) * p[x["t"].numpy()])).float()
        terms = {key: torch.cat([cap[key] for cap in captured]).double()
                 for key in ("loss", "mse", "nll")}
        terms.update(embedding_terms(off, diffusion, model, x["ids"], x["eps0"]))
        for key, v in terms.items():
            out["step%d.terms.%s" % (k, key)] = v
        if k == 1:
            for j, (n, prm) in enumerate(model.named_parameters()):
                gr = prm.grad.detach().float()
                idx[n] = sampled_indices(gr, c["seed"] * 1000 + j)
                out["idx." + n] = idx[n]
                out["step1.grad." + n] = gr.reshape(-1)[idx[n]].clone()
                gd = gr.double()
                out["step1.gstat." + n] = torch.tensor(
                    [gd.sum(), (gd * gd).sum(), gd.abs().max()], dtype=torch.float64)
        loop.optimize_normal()
        loop.step += 1
        for j, (n, prm) in enumerate(model.named_parameters()):
            st = loop.opt.state[prm]
            pick = lambda v: v.detach().reshape(-1)[idx[n]].float().clone()  # noqa: E731
            out["step%d.param.%s" % (k, n)] = pick(prm)
            out["step%d.exp_avg.%s" % (k, n)] = pick(st["exp_avg"])
            out["step%d.exp_avg_sq.%s" % (k, n)] = pick(st["exp_avg_sq"])
            for r, ema in zip(c["ema"], loop.ema_params):
                out["step%d.ema_%g.%s" % (k, r, n)] = pick(ema[j])
    names = [n for n, _ in model.named_parameters()]
    return out, dict(c, params_sha256=digest, names=names)


DROPOUT = dict(CONFIGS["tiny"], seed=24, draws=400, dropout=0.1)


def dropout_fixture(off, a, tmp):
    """Dropout on (0.1, hidden and attention probabilities, as the paper
    trains), in expectation: the per-sequence terms of `draws` forward
    passes of the official model in training mode on one batch with fixed
    t and noises, their means and standard errors over the dropout draws;
    and the same with dropout off, so the test can show the check sees
    dropout at all."""
    c = DROPOUT
    model, diffusion, cfgdir, digest = setup(off, c, a, tmp, dropout=c["dropout"])
    x = inputs(off, c, diffusion, cfgdir, tmp)
    torch.manual_seed(c["seed"])
    cond = {"input_ids": x["ids"], "input_mask": x["mask"]}
    runs = {}
    for mode in ("train", "eval"):
        getattr(model, mode)()
        k = c["draws"] if mode == "train" else 1
        rows = []
        with torch.no_grad(), oe.fixed_draws([x["eps0"], x["eps"]] * k, []):
            for _ in range(k):
                terms = diffusion.training_losses(model, None, x["t"], model_kwargs=dict(cond))
                rows.append(torch.stack([terms["loss"], terms["mse"]]).double())
        runs[mode] = torch.stack(rows)              # [k, 2, B]
    tr = runs["train"]
    out = {"ids": x["ids"].to(torch.int32), "mask": x["mask"].to(torch.uint8), "t": x["t"],
           "eps0": x["eps0"], "eps": x["eps"], "dmask": x["dmask"].float(),
           "w": torch.ones(c["B"]),
           "dropout.mean": tr.mean(0), "dropout.se": tr.std(0) / math.sqrt(tr.shape[0]),
           "nodropout": runs["eval"][0]}
    return out, dict(c, params_sha256=digest)


INIT_SEEDS = (0, 1, 2)


def init_fixture(off, a, tmp):
    """Initialisation in distribution: the official model built at the
    paper's shape (bert-base, hidden_dim 128) with its own initialisation
    for three seeds; per tensor and seed the mean, standard deviation,
    largest |x| and kurtosis (4th standardised moment)."""
    cfgdir = oe.bert_config_dir(os.path.join(tmp, "bert"))
    out = {}
    for s in INIT_SEEDS:
        torch.manual_seed(s)
        model, _ = oe.create(off, cfgdir, vocab_size=30522, hidden_dim=128)
        for n, p in model.named_parameters():
            x = p.detach().double().reshape(-1)
            mu, sd = x.mean(), x.std(unbiased=False)
            kurt = ((x - mu) ** 4).mean() / sd ** 4 if sd > 0 else torch.tensor(0.0)
            out.setdefault(n, []).append(torch.stack([mu, sd, x.abs().max(), kurt]))
        del model
    stats = {"init." + n: torch.stack(v) for n, v in out.items()}     # [seeds, 4]
    return stats, dict(CONFIGS["bert-base"], seeds=list(INIT_SEEDS),
                       names=[n[5:] for n in stats])


def sampler_fixture(off, a, tmp):
    """The official LossSecondMomentResampler fed a fixed sequence of
    (t, loss) batches through update_with_local_losses: its weights()
    after every batch from the one before warm-up on (T = 40, 10 losses
    per step to warm up), and its importance weights for every t."""
    T, B, nb = 40, 6, 90
    _, diffusion = oe.create(off, oe.bert_config_dir(os.path.join(tmp, "bert"), **TINY_BERT),
                             vocab_size=100, hidden_dim=128, diffusion_steps=T)
    oe.setup_dist(off, tmp)
    sampler = off.step_sample.create_named_schedule_sampler("lossaware", diffusion)
    g = torch.Generator().manual_seed(31)
    ts = torch.randint(0, T, (nb, B), generator=g)
    ts[: 400 // B] = torch.arange(400 // B * B).reshape(-1, B) % T   # fill every t first
    losses = (0.05 + torch.rand(nb, B, generator=g) * (1 + ts.float() / T)).float()
    weights, warm = [], []
    for k in range(nb):
        sampler.update_with_local_losses(ts[k], losses[k])
        weights.append(torch.from_numpy(np.asarray(sampler.weights(), dtype=np.float64)))
        warm.append(int(sampler._warmed_up()))
    return {"t": ts, "loss": losses.double(), "weights": torch.stack(weights),
            "warm": torch.tensor(warm, dtype=torch.int64)}, dict(T=T, B=B, batches=nb)


TINY_BERT = dict(hidden_size=128, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=256)
EXTRA = {"dropout": dropout_fixture, "init": init_fixture, "sampler": sampler_fixture}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--official", required=True, help="a checkout of Shark-NLP/DiffuSeq")
    ap.add_argument("--config", choices=sorted(CONFIGS) + sorted(EXTRA), required=True)
    ap.add_argument("--dsq-test", default=os.path.join(REPO, "build/tests/test_official"))
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    off = oe.load(a.official)
    tmp = tempfile.mkdtemp()
    if a.config in CONFIGS:
        out, meta = steps_fixture(off, dict(CONFIGS[a.config]), a, tmp)
    else:
        out, meta = EXTRA[a.config](off, a, tmp)
    meta["official"] = os.path.basename(os.path.normpath(a.official))
    save_file({k: v.contiguous() for k, v in out.items()}, a.out,
              metadata={"config": json.dumps(meta, sort_keys=True)})
    print("official_ref: wrote %s (%s)" % (a.out, a.config))


if __name__ == "__main__":
    main()

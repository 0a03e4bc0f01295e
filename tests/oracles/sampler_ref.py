#!/usr/bin/env python3
"""PyTorch re-statement of DiffuSeq decoding (spec/sampling.md) and the
writer of the sampler-parity fixture that tests/unit/test_sample.c reads.

The network comes from diffuseq_ref.py (read-only import); everything here
is the decoding loop, written from the spec in float64 arithmetic on the
float32 weights (coefficients rounded to float32 where the reference's
_extract_into_tensor does), so the fixture holds the exact answer a float32
implementation is compared against.  Draws are injected: the fixture holds
the start noise, per-step noise (with top-p redraw rounds) and the denoise
uniforms, and the C test feeds the same numbers to its sampler.

Fixture (one safetensors file):
  param.<name>           the model (a v2 model: it has mean_embed)
  ids [B,L] I32, mask [B,L] U8, index [B] I64
  draw.start [B,L,d]; draw.step [T,R,B,L,d] (entry k, redraw r);
  draw.denoise [T,B,L]
  <case>.states [n,B,L,d]  x after every plan entry that updates it
  <case>.tokens [B,L] I32  argmax of the final logits
metadata "config": model config, T, B, L, R and the case list with options.

The model also goes out as a dsq checkpoint (--checkpoint DIR): reference
state-dict names, lm_head.weight as a copy, position_ids, config metadata,
and a matching word list, for the CLI tests.

usage: sampler_ref.py OUT.safetensors [--checkpoint DIR]
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffuseq_ref as ref  # noqa: E402

CONFIG = dict(vocab=40, d=8, dt=8, H=32, nh=4, I=48, n_layers=2, max_pos=16, T=20,
              B=3, L=12, R=4, seed=21, mean_embed=True, schedule="sqrt")

# name -> options (spec names; steps 0 = the sampler's default)
CASES = {
    "ddpm": dict(sampler="ddpm", steps=0),
    "ddpm_clamp": dict(sampler="ddpm", steps=0, clamp_step=10, clip_denoised=True, top_p=2.0),
    "ddpm_noclampfirst": dict(sampler="ddpm", steps=0, clamp_step=5, clamp_first=False),
    "ddpm_v2": dict(sampler="ddpm", steps=0, mean_start=True, denoise_rate=0.5),
    "ddpm_respaced": dict(sampler="ddpm", steps=7),
    "ddim_gap": dict(sampler="ddim-gap", steps=6),
    "ddim": dict(sampler="ddim", steps=5),
    "dpmpp": dict(sampler="dpm++", steps=5, order=2),
    "dpmpp12": dict(sampler="dpm++", steps=12, order=2),
    "dpmpp_o1": dict(sampler="dpm++", steps=4, order=1),
    "dpmppv2": dict(sampler="dpm++v2", steps=10, order=2),
}

f32 = lambda v: float(np.float32(v))


class Margins:
    """Smallest gap between the best and second-best candidate of every
    vocabulary search: a tiny gap would make token parity luck."""
    def __init__(self):
        self.round = math.inf
        self.argmax = math.inf


def nearest(E, z, mg):
    d = (E ** 2).sum(-1)[None] + (z ** 2).sum(-1)[:, None] - 2.0 * z @ E.T
    s, i = torch.sort(d, dim=1)
    mg.round = min(mg.round, float((s[:, 1] - s[:, 0]).min()))
    return i[:, 0]


def argmax_logits(md, x, mg):
    lg = md.lm_head(x).reshape(-1, md.lm_head.weight.shape[0])
    s, i = torch.sort(lg, dim=1, descending=True)
    mg.argmax = min(mg.argmax, float((s[:, 0] - s[:, 1]).min()))
    return i[:, 0].reshape(x.shape[:2])


def spaced_timesteps(T, S):
    stride = 1.0 if S <= 1 else (T - 1) / (S - 1)
    cur, out = 0.0, []
    for _ in range(S):
        out.append(round(cur))
        cur += stride
    return out


def model_out(md, x, tmodel):
    B = x.shape[0]
    return md(x, torch.full((B,), tmodel, dtype=torch.float32))


class Run:
    def __init__(self, md, c, draws, ids, mask):
        self.md, self.c, self.dr = md, c, draws
        self.E = md.word_embedding.weight.detach()
        self.e0 = self.E[ids.long()]
        self.mk = mask.double()[..., None]
        self.mg = Margins()
        self.states = []

    def P(self, x):
        return torch.where(self.mk == 0, self.e0, x)

    def x0(self, out, do_round, clip):
        if do_round:
            z = out.reshape(-1, out.shape[-1])
            out = self.E[nearest(self.E, z, self.mg)].reshape(out.shape)
        if clip:
            out = out.clamp(-1.0, 1.0)
        return out

    def noise(self, k, top_p):
        z = self.dr["step"][k, 0].clone()
        if top_p and top_p > 0:
            r = 1
            while (z.abs() > top_p).any():
                assert r < self.dr["step"].shape[1], "top-p needs more redraw rounds"
                z = torch.where(z.abs() > top_p, self.dr["step"][k, r], z)
                r += 1
        return z


def run_case(md, c, o, draws, ids, mask, sch):
    T = c["T"]
    run = Run(md, c, draws, ids, mask)
    x = run.P(draws["start"].clone())
    kind, S = o["sampler"], o.get("steps", 0)
    rnd = o.get("round", True)
    cs, cf = o.get("clamp_step", 0), o.get("clamp_first", True)
    clip = o.get("clip_denoised", False)
    with torch.no_grad():
        if kind in ("dpm++", "dpm++v2"):
            x = dpm(run, md, x, T, S or 10, o.get("order", 2), kind == "dpm++v2", sch)
        elif kind == "ddim-gap":
            gap = T // S
            ac, acp = sch["alphas_cumprod"], sch["alphas_cumprod_prev"]
            for k, i in enumerate(range(T - 1, -1, -gap)):
                out = model_out(md, x, f32(i) * f32(1000.0 / T))
                xs = run.x0(out, rnd, clip)
                eps = (f32(math.sqrt(1 / ac[i])) * x - xs) / f32(math.sqrt(1 / ac[i] - 1))
                # quirk: alphas_cumprod_prev[i] is abar_{i-1}, not abar_{i-gap}
                x = run.P(xs * math.sqrt(f32(acp[i])) + math.sqrt(1 - f32(acp[i])) * eps)
                run.states.append(x)
        else:
            S = S or T
            kept = spaced_timesteps(T, S)
            if S == T:
                betas = sch["betas"]
            else:
                ac0, last, betas = sch["alphas_cumprod"], 1.0, []
                for i in kept:
                    betas.append(1 - ac0[i] / last)
                    last = ac0[i]
                betas = np.array(betas)
            d = ref.derived(betas)
            ac, acp = d["alphas_cumprod"], d["alphas_cumprod_prev"]
            logvar = np.log(np.append(d["posterior_variance"][1], betas[1:]))
            m = md.mean_embed.detach() if md.mean_embed is not None else None
            if kind == "ddpm" and o.get("mean_start"):
                x = run.P(x + m * run.mk)
            for k, j in enumerate(range(S - 1, -1, -1)):
                i = kept[j]
                out = model_out(md, x, f32(i) * f32(1000.0 / T))
                do_round = rnd and (i >= cs if cf else i <= cs)
                xs = run.x0(out, do_round, clip)
                if kind == "ddpm":
                    mean = (f32(d["posterior_mean_coef1"][j]) * xs +
                            f32(d["posterior_mean_coef2"][j]) * x)
                    sd = math.exp(0.5 * f32(logvar[j])) if j > 0 else 0.0
                    x = mean + f32(sd) * run.noise(k, o.get("top_p", 0))
                    rate = o.get("denoise_rate", 0.0)
                    if rate > 0 and j > 0:
                        hit = draws["denoise"][k][..., None] < f32(f32(sd) * rate)
                        x = torch.where(hit, m.expand_as(x), x)
                else:
                    eps = (f32(math.sqrt(1 / ac[j])) * x - xs) / f32(math.sqrt(1 / ac[j] - 1))
                    x = xs * math.sqrt(f32(acp[j])) + math.sqrt(1 - f32(acp[j])) * eps
                x = run.P(x)
                run.states.append(x)
        tokens = argmax_logits(md, x, run.mg)
    return torch.stack(run.states), tokens, run.mg


def dpm(run, md, x, T, N, order, v2, sch):
    """Multistep DPM-Solver++ on the continuous-time view of the discrete
    schedule (spec §4); v2: the DiffuSeq-v2 script's variant."""
    la = 0.5 * np.cumsum(np.log(1.0 - sch["betas"]))
    tgrid = np.arange(1, T + 1) / T

    def log_alpha(t):
        n = min(max(int(math.floor(t * T)) - 1, 0), T - 2)
        return la[n] + (t - tgrid[n]) * (la[n + 1] - la[n]) / (tgrid[n + 1] - tgrid[n])

    sigma = lambda l: math.sqrt(1 - math.exp(2 * l))
    lam = lambda l: l - math.log(sigma(l))
    ts = np.linspace(1.0, 1.0 / T, N + 1)
    tin = lambda t: f32(1000.0 * t) if v2 else f32(1000.0 * (t - 1.0 / T))

    def D(x, t):
        m = model_out(md, x, tin(t))
        return run.P(m) if v2 else m

    ms = [D(x, ts[0])]
    if v2:
        x = ms[0]
    for k in range(1, N + 1):
        lk, lp = log_alpha(ts[k]), log_alpha(ts[k - 1])
        h = lam(lk) - lam(lp)
        phi = math.expm1(-h)
        a = math.exp(lk)
        o = 1 if k == 1 else (min(order, N + 1 - k) if N < 10 else order)
        xn = (sigma(lk) / sigma(lp)) * x - a * phi * ms[-1]
        if o == 2:
            r = (lam(lp) - lam(log_alpha(ts[k - 2]))) / h
            xn = xn - 0.5 * a * phi * (ms[-1] - ms[-2]) / r
        x = run.P(xn)
        run.states.append(x)
        if k < N:
            ms.append(D(x, ts[k]))
            if v2:
                x = ms[-1]
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--checkpoint", help="also write a dsq checkpoint + vocab into DIR")
    a = ap.parse_args()
    torch.set_num_threads(1)
    c = dict(CONFIG)
    m32 = ref.build(c)
    md = ref.build(c).double()
    md.load_state_dict({k: v.double() if v.is_floating_point() else v
                        for k, v in m32.state_dict().items()})
    B, L, d, T, R, V = c["B"], c["L"], c["d"], c["T"], c["R"], c["vocab"]
    g = torch.Generator().manual_seed(c["seed"] + 100)
    ids = torch.randint(4, V, (B, L), generator=g)
    src = torch.randint(2, L // 2, (B,), generator=g)
    mask = (torch.arange(L)[None] >= src[:, None]).to(torch.uint8)
    draws = {"start": torch.randn(B, L, d, generator=g, dtype=torch.float32).double(),
             "step": torch.randn(T, R, B, L, d, generator=g, dtype=torch.float32).double(),
             "denoise": torch.rand(T, B, L, generator=g, dtype=torch.float32).double()}
    sch = ref.derived(ref.named_betas(c["schedule"], T))
    sch["betas"] = ref.named_betas(c["schedule"], T)
    tensors = {"ids": ids.to(torch.int32), "mask": mask,
               "index": torch.arange(B, dtype=torch.int64),
               "draw.start": draws["start"].float(), "draw.step": draws["step"].float(),
               "draw.denoise": draws["denoise"].float()}
    for name, p in m32.named_parameters():
        tensors["param." + name] = p.detach().clone()
    worst = Margins()
    for name, o in CASES.items():
        states, tokens, mg = run_case(md, c, o, draws, ids, mask, sch)
        tensors[name + ".states"] = states.float()
        tensors[name + ".tokens"] = tokens.to(torch.int32)
        worst.round = min(worst.round, mg.round)
        worst.argmax = min(worst.argmax, mg.argmax)
    # Parity of tokens is only meaningful with clear winners.
    assert worst.round > 2e-5 and worst.argmax > 2e-5, (worst.round, worst.argmax)
    meta = {"config": json.dumps(dict(c, cases=CASES), sort_keys=True)}
    save_file({k: v.contiguous() for k, v in tensors.items()}, a.out, metadata=meta)
    print("sampler fixture: %d cases; smallest rounding gap %.3g, argmax gap %.3g"
          % (len(CASES), worst.round, worst.argmax), file=sys.stderr)
    if a.checkpoint:
        write_checkpoint(a.checkpoint, m32, c)
    return 0


def write_checkpoint(dirname, m32, c):
    """A dsq checkpoint of the fixture model with a word vocabulary of the
    model's size (4 reserved tokens + w04..), for the CLI tests."""
    os.makedirs(dirname, exist_ok=True)
    words = ["w%02d" % i for i in range(4, c["vocab"])]
    with open(os.path.join(dirname, "vocab.txt"), "w") as f:
        f.write("".join(w + "\n" for w in words))
    sd = {k: v.detach().clone().contiguous() for k, v in m32.state_dict().items()}
    sd["lm_head.weight"] = sd["word_embedding.weight"].clone()
    cfg = {"vocab": "vocab.txt", "vocab_kind": "word", "vocab_size": c["vocab"],
           "seq_len": c["L"], "hidden_dim": c["d"], "hidden_t_dim": c["dt"],
           "hidden_size": c["H"], "num_attention_heads": c["nh"],
           "intermediate_size": c["I"], "num_hidden_layers": c["n_layers"],
           "max_position_embeddings": c["max_pos"], "layer_norm_eps": 1e-12,
           "learned_mean_embed": True, "denoise": False, "denoise_rate": 0.0,
           "diffusion_steps": c["T"], "noise_schedule": c["schedule"]}
    save_file(sd, os.path.join(dirname, "ema_0.9999_000000.safetensors"),
              metadata={"config": json.dumps(cfg, indent=2)})


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""PyTorch re-statement of the DiffuSeq network f(x_t, t)
(doc/model-and-training.md §2; the reference's TransformerNetModel over a
HuggingFace BertEncoder, without the transformers package) and the writer
of the model-parity fixtures that tests/unit/test_model.c reads.

Module names reproduce the reference state-dict names exactly, so
`model.state_dict()` keys are the checkpoint names dsq uses.

A fixture is one safetensors file:
  param.<name>   every parameter (lm_head.weight is tied to
                 word_embedding.weight and not stored twice)
  x [B,L,d] F32, t [B] I64 (integer steps), dout [B,L,d] F32
  out [B,L,d]    f(x, t) with rescale_timesteps (t * 1000 / T)
  grad.x         d(sum(out * dout))/dx
  grad.<name>    d(sum(out * dout))/d<name> for every parameter f uses
metadata: "config" (JSON: the model config, T, B, L).

The expected values are computed in float64 from the float32 weights and
inputs (the sinusoidal time embedding in float32 as the reference does), so
they are the exact answer a float32 implementation is compared against.

The schedules fixture (--schedules) holds, as F64, "<schedule>.<T>" betas
for every schedule at T = 200 and T = 2000 (sqrt, linear only) and, for
sqrt at T = 200, every derived array "sqrt.200.<name>" of
GaussianDiffusion.__init__.

Training-loss fixtures (--config loss|loss-v2|loss-medium|loss-bertvocab|loss-plm,
read by tests/unit/test_diffusion.c) hold the batch (ids, mask, t, weights,
noises, denoise mask), the per-sequence terms, every parameter gradient of
the summed microbatch losses, and the parameters / Adam moments / EMA copies
after one and after `steps` training steps (torch.optim.AdamW, clipping,
annealing).

usage: diffuseq_ref.py OUT.safetensors [--config small|proj-free|medium|loss...]
       diffuseq_ref.py OUT.safetensors --schedules
       diffuseq_ref.py CKPT.safetensors --load-ckpt   (a dsq checkpoint loads in PyTorch)
       diffuseq_ref.py --bench JSON [--device cpu|cuda]   (training speed)
"""
import argparse
import json
import math
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

CONFIGS = {
    # Committed fixture: small enough to keep the file ~200 KB.
    "small": dict(vocab=50, d=16, dt=16, H=32, nh=4, I=64, n_layers=2, max_pos=40,
                  T=2000, B=4, L=32, seed=1),
    # d == H: no up/down projections.
    "proj-free": dict(vocab=20, d=32, dt=8, H=32, nh=2, I=48, n_layers=1, max_pos=16,
                      T=100, B=3, L=16, seed=2),
    # Larger, generated on the fly by tests/checks (not committed).
    "medium": dict(vocab=1000, d=16, dt=128, H=64, nh=4, I=128, n_layers=2, max_pos=512,
                   T=2000, B=4, L=32, seed=3),
    # The paper's QQP shape (bert-base encoder, V = 30,522, d = 128), forward
    # only: generated on the fly (~365 MB of weights, never committed).
    "bert-base": dict(vocab=30522, d=128, dt=128, H=768, nh=12, I=3072, n_layers=12,
                      max_pos=512, T=2000, B=1, L=16, seed=4, forward_only=True),
}


def timestep_embedding(timesteps, dim, max_period=10000):
    """The reference's sinusoid, in float32 as it computes it."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) *
                      torch.arange(start=0, end=half, dtype=torch.float32,
                                   device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class SelfAttention(nn.Module):
    def __init__(self, H, nh, p):
        super().__init__()
        self.nh, self.hs = nh, H // nh
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)
        self.dropout = nn.Dropout(p)

    def heads(self, x):
        B, L, _ = x.shape
        return x.view(B, L, self.nh, self.hs).permute(0, 2, 1, 3)

    def forward(self, h):
        q, k, v = self.heads(self.query(h)), self.heads(self.key(h)), self.heads(self.value(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.hs)   # no attention mask
        probs = self.dropout(torch.softmax(scores, dim=-1))
        c = (probs @ v).permute(0, 2, 1, 3)
        return c.reshape(c.shape[0], c.shape[1], -1)


class DenseLN(nn.Module):
    """BertSelfOutput / BertOutput: LN(residual + Dropout(dense(x)))."""
    def __init__(self, n_in, H, p, eps):
        super().__init__()
        self.dense = nn.Linear(n_in, H)
        self.LayerNorm = nn.LayerNorm(H, eps=eps)
        self.dropout = nn.Dropout(p)

    def forward(self, x, residual):
        return self.LayerNorm(residual + self.dropout(self.dense(x)))


class Attention(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        setattr(self, "self", SelfAttention(c["H"], c["nh"], c.get("attn_dropout", 0.0)))
        self.output = DenseLN(c["H"], c["H"], c.get("hidden_dropout", 0.0), eps)

    def forward(self, h):
        return self.output(getattr(self, "self")(h), h)


class Intermediate(nn.Module):
    def __init__(self, H, I):
        super().__init__()
        self.dense = nn.Linear(H, I)

    def forward(self, h):
        return nn.functional.gelu(self.dense(h))   # exact erf GELU


class Layer(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        self.attention = Attention(c, eps)
        self.intermediate = Intermediate(c["H"], c["I"])
        self.output = DenseLN(c["I"], c["H"], c.get("hidden_dropout", 0.0), eps)

    def forward(self, h):
        a = self.attention(h)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c, eps) for _ in range(c["n_layers"])])

    def forward(self, h):
        for layer in self.layer:
            h = layer(h)
        return h


class TransformerNetModel(nn.Module):
    def __init__(self, c, eps=1e-12):
        super().__init__()
        d, dt, H = c["d"], c["dt"], c["H"]
        self.d, self.dt, self.H = d, dt, H
        self.word_embedding = nn.Embedding(c["vocab"], d)
        self.lm_head = nn.Linear(d, c["vocab"])
        with torch.no_grad():
            self.lm_head.weight = self.word_embedding.weight
        self.time_embed = nn.Sequential(nn.Linear(dt, 4 * dt), nn.SiLU(), nn.Linear(4 * dt, H))
        if d != H:
            self.input_up_proj = nn.Sequential(nn.Linear(d, H), nn.Tanh(), nn.Linear(H, H))
        self.input_transformers = Encoder(c, eps)
        self.register_buffer("position_ids", torch.arange(c["max_pos"]).expand((1, -1)))
        self.position_embeddings = nn.Embedding(c["max_pos"], H)
        self.LayerNorm = nn.LayerNorm(H, eps=eps)
        self.dropout = nn.Dropout(c.get("hidden_dropout", 0.0))
        if d != H:
            self.output_down_proj = nn.Sequential(nn.Linear(H, H), nn.Tanh(), nn.Linear(H, d))
        if c.get("mean_embed"):   # v2 --learned_mean_embed
            self.mean_embed = nn.Parameter(torch.randn(d) * d ** -0.5)
        else:
            self.mean_embed = None

    def forward(self, x, timesteps_scaled):
        emb_t = self.time_embed(timestep_embedding(timesteps_scaled, self.dt).to(x.dtype))
        emb_x = self.input_up_proj(x) if self.d != self.H else x
        L = x.size(1)
        pos = self.position_embeddings(self.position_ids[:, :L])
        h = self.dropout(self.LayerNorm(pos + emb_x + emb_t.unsqueeze(1).expand(-1, L, -1)))
        h = self.input_transformers(h)
        return self.output_down_proj(h) if self.d != self.H else h


def scale_timesteps(t, T):
    """_scale_timesteps with rescale_timesteps: float32 t * (1000 / T)."""
    return t.float() * (1000.0 / T)


def build(c):
    torch.manual_seed(c["seed"])
    m = TransformerNetModel(c)
    # Non-trivial LayerNorm parameters, so their gradients and the affine
    # part of the forward are exercised.
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "LayerNorm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
    return m


def fixture(c):
    m = build(c)
    B, L, d, T = c["B"], c["L"], c["d"], c["T"]
    g = torch.Generator().manual_seed(c["seed"] + 100)
    x = torch.randn(B, L, d, generator=g)
    t = torch.randint(0, T, (B,), generator=g)
    t[0] = 0            # t = 0 and the last step are both in every fixture
    t[-1] = T - 1
    dout = torch.randn(B, L, d, generator=g)

    md = build(c).double()   # same weights, float64 arithmetic
    md.load_state_dict({k: v.double() if v.is_floating_point() else v
                        for k, v in m.state_dict().items()})
    fwd_only = c.get("forward_only", False)
    xd = x.double().requires_grad_(not fwd_only)
    with torch.set_grad_enabled(not fwd_only):
        out = md(xd, scale_timesteps(t, T))
    tensors = {"x": x, "t": t.to(torch.int64), "out": out.detach().float()}
    if not fwd_only:
        (out * dout.double()).sum().backward()
        tensors["dout"] = dout
        tensors["grad.x"] = xd.grad.float()
    for name, p in m.named_parameters():   # lm_head.weight is tied: listed once
        tensors["param." + name] = p.detach().clone()
    for name, p in md.named_parameters():
        if p.grad is not None:
            tensors["grad." + name] = p.grad.float()
    meta = {"config": json.dumps(c, sort_keys=True)}
    return {k: v.contiguous() for k, v in tensors.items()}, meta


def betas_for_alpha_bar(T, alpha_bar, max_beta=0.999):
    return np.array([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), max_beta)
                     for i in range(T)])


def betas_for_alpha_bar_left(T, alpha_bar, max_beta=0.999):
    b = [min(1 - alpha_bar(0), max_beta)]
    for i in range(T - 1):
        b.append(min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), max_beta))
    return np.array(b)


def named_betas(name, T):
    """get_named_beta_schedule, plus v2's warmup-decay as
    doc/model-and-training.md §3 states it."""
    scale = 1000 / T
    if name == "linear":
        return np.linspace(scale * 0.0001, scale * 0.02, T, dtype=np.float64)
    if name == "cosine":
        return betas_for_alpha_bar(T, lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2)
    if name == "sqrt":
        return betas_for_alpha_bar(T, lambda t: 1 - np.sqrt(t + 0.0001))
    if name == "trunc_cos":
        return betas_for_alpha_bar_left(T, lambda t: np.cos((t + 0.1) / 1.1 * np.pi / 2) ** 2)
    if name == "trunc_lin":
        return np.linspace(scale * 0.0001 + 0.01, scale * 0.02 + 0.01, T, dtype=np.float64)
    if name == "pw_lin":
        return np.concatenate([
            np.linspace(scale * 0.0001 + 0.01, scale * 0.0001, 10, dtype=np.float64),
            np.linspace(scale * 0.0001, scale * 0.02, T - 10, dtype=np.float64)])
    if name == "warmup-decay":
        b = named_betas("sqrt", T)
        w = max(1, int(0.1 * T))
        b[T - w:] = np.linspace(b[T - w], 1e-4, w, dtype=np.float64)
        return b
    raise ValueError(name)


def derived(betas):
    """GaussianDiffusion.__init__'s float64 arrays."""
    ac = np.cumprod(1.0 - betas, axis=0)
    prev = np.append(1.0, ac[:-1])
    d = {"alphas_cumprod": ac, "alphas_cumprod_prev": prev,
         "alphas_cumprod_next": np.append(ac[1:], 0.0),
         "sqrt_alphas_cumprod": np.sqrt(ac), "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - ac),
         "log_one_minus_alphas_cumprod": np.log(1.0 - ac),
         "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / ac),
         "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / ac - 1),
         "posterior_variance": betas * (1.0 - prev) / (1.0 - ac),
         "posterior_mean_coef1": betas * np.sqrt(prev) / (1.0 - ac),
         "posterior_mean_coef2": (1.0 - prev) * np.sqrt(1.0 - betas) / (1.0 - ac)}
    pv = d["posterior_variance"]
    d["posterior_log_variance_clipped"] = np.log(np.append(pv[1], pv[1:]))
    return d


# ---- training loss and optimiser (doc/model-and-training.md §3-§6) ---------

LOSS_CONFIGS = {
    # Committed: every parameter gradient, one and three optimiser steps.
    "loss": dict(vocab=40, d=8, dt=8, H=32, nh=4, I=48, n_layers=2, max_pos=16,
                 T=100, B=4, L=16, microbatch=2, seed=11, schedule="sqrt",
                 lr=1e-3, learning_steps=4, weight_decay=0.01, clip=0.5,
                 ema=[0.9, 0.5], steps=3),
    # Committed: v2 mean embedding, denoising and its regulariser; one step.
    "loss-v2": dict(vocab=40, d=8, dt=8, H=32, nh=4, I=48, n_layers=1, max_pos=16,
                    T=100, B=4, L=16, microbatch=4, seed=12, schedule="sqrt",
                    mean_embed=True, denoise=True, denoise_rate=0.5, reg_rate=0.3,
                    lr=1e-3, learning_steps=10, weight_decay=0.0, clip=0.0,
                    ema=[0.9], steps=1),
    # Generated at test time: the 1,000-word vocabulary of the issue.
    "loss-medium": dict(vocab=1000, d=16, dt=128, H=64, nh=4, I=128, n_layers=2,
                        max_pos=512, T=2000, B=4, L=32, microbatch=2, seed=13,
                        schedule="sqrt", lr=1e-4, learning_steps=100, weight_decay=0.0,
                        clip=0.0, ema=[0.9999], steps=1),
    # Generated at test time: the full BERT vocabulary (forward, loss and
    # the embedding / lm_head gradients are what it is for).
    "loss-bertvocab": dict(vocab=30522, d=16, dt=16, H=32, nh=2, I=64, n_layers=1,
                           max_pos=64, T=2000, B=2, L=16, microbatch=2, seed=14,
                           schedule="sqrt", lr=1e-4, learning_steps=100, weight_decay=0.0,
                           clip=0.0, ema=[0.9999], steps=1),
    # Generated at test time (tests/checks/plm_init.sh, needs transformers):
    # the reference's --use_plm_init bert, d == H, word and position
    # embeddings, embedding LayerNorm and encoder from gen_plm.py's tiny
    # random BertModel (seed plm_seed); three steps.
    "loss-plm": dict(vocab=92, d=32, dt=8, H=32, nh=4, I=64, n_layers=2, max_pos=64,
                     T=100, B=4, L=16, microbatch=2, seed=15, schedule="sqrt", lr=1e-3,
                     learning_steps=4, weight_decay=0.0, clip=0.0, ema=[0.9], steps=3,
                     plm_seed=20),
}


def load_plm(m, c):
    """Overwrites m's pretrained tensors with those of gen_plm.py's tiny
    BERT for c (built in a temporary directory, read back with
    BertModel.from_pretrained as the reference does)."""
    import tempfile
    import gen_plm
    with tempfile.TemporaryDirectory() as d:
        gen_plm.write(d, c["plm_seed"], c["H"], c["n_layers"])
        assert len(gen_plm.vocab()) == c["vocab"] and c["d"] == c["H"]
        want = gen_plm.plm_tensors(d)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n in want:
                p.copy_(want[n])
        assert m.lm_head.weight is m.word_embedding.weight


def seq_losses(md, c, sch, ids, mask, t, eps0, eps, dmask, want_nll=True):
    """training_losses_seq2seq in float64 on md; coefficients float32 as
    _extract_into_tensor makes them.  Returns the per-sequence terms."""
    f32 = lambda a: torch.from_numpy(a).float().double()
    sa, s1 = f32(sch["sqrt_alphas_cumprod"]), f32(sch["sqrt_one_minus_alphas_cumprod"])
    E = md.word_embedding.weight
    x0mean = E[ids]
    x0 = x0mean + s1[0] * eps0.double()
    ca, cb = sa[t][:, None, None], s1[t][:, None, None]
    mk = mask.double()[..., None]
    m = md.mean_embed
    if m is None:
        xt = ca * x0 + cb * eps.double()
    else:
        xt = ca * (x0 - m[None, None]) + cb * eps.double() + m[None, None] * mk
    if c.get("denoise"):
        xt = torch.where(dmask[..., None].expand_as(xt) == 0, xt, m[None, None].expand_as(xt))
    xt = torch.where(mk.expand_as(xt) == 0, x0, xt)
    out = md(xt, scale_timesteps(t, c["T"]))
    mse = ((x0 - out) ** 2).mean(dim=(1, 2))
    t0 = ((x0mean - out) ** 2).mean(dim=(1, 2))
    mse = torch.where(t == 0, t0, mse)
    tT = ((sa[c["T"] - 1] * x0) ** 2).mean(dim=(1, 2))
    ce = nn.CrossEntropyLoss(reduction="none")
    V = c["vocab"]
    dec = ce(md.lm_head(x0).view(-1, V), ids.view(-1)).view(ids.shape).mean(-1)
    loss = mse + dec + tT
    if m is not None:
        loss = loss + c.get("reg_rate", 0.0) * m.norm(p=2)
    nll = None
    if want_nll:
        with torch.no_grad():
            n = ce(md.lm_head(out).view(-1, V), ids.view(-1)).view(ids.shape) * mask.double()
            nll = n.sum(-1) / mask.double().sum(-1)
    return dict(loss=loss, mse=mse, decoder_nll=dec, tT=tT, nll=nll)


def update_ema(ema, params, rate):
    for e, p in zip(ema, params):
        e.mul_(rate).add_(p, alpha=1 - rate)


def loss_fixture(c):
    """Inputs, per-sequence terms, gradients and optimiser results of
    `steps` training steps on one batch (same t, noises each step), as
    TrainLoop does them: microbatch gradients summed, clipping, lr
    annealing, torch.optim.AdamW, the EMA list."""
    torch.manual_seed(c["seed"])
    m32 = TransformerNetModel(c)
    with torch.no_grad():
        for name, p in m32.named_parameters():
            if "LayerNorm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
    if "plm_seed" in c:
        load_plm(m32, c)
    B, L, d, T = c["B"], c["L"], c["d"], c["T"]
    g = torch.Generator().manual_seed(c["seed"] + 100)
    ids = torch.randint(0, c["vocab"], (B, L), generator=g)
    src = torch.randint(1, L // 2, (B,), generator=g)
    mask = (torch.arange(L)[None] >= src[:, None]).to(torch.uint8)
    t = torch.randint(0, T, (B,), generator=g)
    t[0] = 0
    t[-1] = T - 1
    w = (0.5 + 1.5 * torch.rand(B, generator=g)).float()
    eps0 = torch.randn(B, L, d, generator=g)
    eps = torch.randn(B, L, d, generator=g)
    sch = derived(named_betas(c["schedule"], T))
    dmask = torch.zeros(B, L)
    if c.get("denoise"):
        s1 = torch.from_numpy(sch["sqrt_one_minus_alphas_cumprod"]).float()
        dmask = torch.bernoulli((s1[t] * c["denoise_rate"])[:, None].expand(B, L), generator=g)

    tensors = {"ids": ids.to(torch.int32), "mask": mask, "t": t.to(torch.int64), "w": w,
               "eps0": eps0, "eps": eps, "dmask": dmask.float()}
    for name, p in m32.named_parameters():
        tensors["param." + name] = p.detach().clone()
    params = list(m32.parameters())
    opt = torch.optim.AdamW(params, lr=c["lr"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=c["weight_decay"])
    emas = [[p.detach().clone() for p in params] for _ in c["ema"]]
    norms = []
    for k in range(c["steps"]):
        md = TransformerNetModel(c).double()
        md.load_state_dict({n: v.double() if v.is_floating_point() else v
                            for n, v in m32.state_dict().items()})
        assert md.lm_head.weight is md.word_embedding.weight
        mb = c["microbatch"]
        terms = []
        for i in range(0, B, mb):
            sl = slice(i, i + mb)
            tr = seq_losses(md, c, sch, ids[sl], mask[sl], t[sl], eps0[sl], eps[sl],
                            dmask[sl], want_nll=(k == 0))
            (tr["loss"] * w[sl].double()).mean().backward()
            terms.append(tr)
        grads = {n: p.grad.float() for n, p in md.named_parameters() if p.grad is not None}
        if k == 0:
            for key in ("loss", "mse", "decoder_nll", "tT", "nll"):
                tensors["terms." + key] = torch.cat([tr[key].detach() for tr in terms]).float()
            for n, v in grads.items():
                tensors["grad." + n] = v
        for n, p in m32.named_parameters():
            p.grad = grads[n].clone() if n in grads else torch.zeros_like(p)
        norms.append(float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params))))
        if c["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, c["clip"])
        for pg in opt.param_groups:
            pg["lr"] = c["lr"] * (1 - k / c["learning_steps"])
        opt.step()
        with torch.no_grad():
            for e, rate in zip(emas, c["ema"]):
                update_ema(e, params, rate)
        if k == 0 or k == c["steps"] - 1:
            tag = "step%d." % (k + 1)
            for (n, p), j in zip(m32.named_parameters(), range(len(params))):
                tensors[tag + "param." + n] = p.detach().clone()
                if k != c["steps"] - 1:
                    continue   # step 1: the parameters; the last: everything
                st = opt.state[p]
                tensors[tag + "exp_avg." + n] = st["exp_avg"].clone()
                tensors[tag + "exp_avg_sq." + n] = st["exp_avg_sq"].clone()
                for e, rate in zip(emas, c["ema"]):
                    tensors[tag + "ema_%g." % rate + n] = e[j].clone()
    cfg = dict(c, grad_norms=norms)
    meta = {"config": json.dumps(cfg, sort_keys=True)}
    return {k: v.contiguous() for k, v in tensors.items()}, meta


def load_dsq_checkpoint(path):
    """Builds the re-statement from a dsq checkpoint's config metadata and
    loads the file as its state dict, strictly: names, shapes, the tied
    lm_head.weight and the position_ids buffer must all be the reference's.
    Returns the model and its parameter count as PyTorch counts it."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(path, "pt") as f:
        cfg = json.loads(f.metadata()["config"])
    c = dict(vocab=cfg["vocab_size"], d=cfg["hidden_dim"], dt=cfg["hidden_t_dim"],
             H=cfg["hidden_size"], nh=cfg["num_attention_heads"], I=cfg["intermediate_size"],
             n_layers=cfg["num_hidden_layers"], max_pos=cfg["max_position_embeddings"],
             mean_embed=cfg["learned_mean_embed"])
    m = TransformerNetModel(c, eps=cfg["layer_norm_eps"])
    sd = load_file(path)
    assert torch.equal(sd["lm_head.weight"], sd["word_embedding.weight"]), "untied lm_head"
    assert torch.equal(sd["position_ids"], torch.arange(c["max_pos"]).expand((1, -1)))
    m.load_state_dict(sd, strict=True)
    assert m.lm_head.weight is m.word_embedding.weight
    return m, sum(p.numel() for p in m.parameters())


def bench(spec, device=None):
    """Times float32 training steps of the re-statement (training_losses_seq2seq,
    backward with microbatch gradients added, AdamW, EMA) as TrainLoop runs
    them.  spec: JSON with the model shape, T, B, microbatch, L, steps,
    threads, and optionally device ("cpu" default, or "cuda"; the device
    argument overrides it).  On CUDA: fp32 without TF32, each step timed to
    a synchronisation.  Prints a JSON line: tokens_per_s over the steps
    after the first, peak_rss_kb (and peak_cuda_bytes on CUDA)."""
    import resource
    import time
    c = json.loads(spec)
    dev = torch.device(device or c.get("device", "cpu"))
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    torch.set_num_threads(c["threads"])
    torch.manual_seed(0)
    m = TransformerNetModel(c).train().to(dev)
    m.dropout.p = c.get("dropout", 0.1)
    sch = derived(named_betas("sqrt", c["T"]))
    sa = torch.from_numpy(sch["sqrt_alphas_cumprod"]).float().to(dev)
    s1 = torch.from_numpy(sch["sqrt_one_minus_alphas_cumprod"]).float().to(dev)
    params = list(m.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    ema = [p.detach().clone() for p in params]
    B, mb, L, V, T = c["B"], c["microbatch"], c["L"], c["vocab"], c["T"]
    ce = nn.CrossEntropyLoss(reduction="none")
    ids_all = torch.randint(0, V, (B, L)).to(dev)
    mask_all = (torch.arange(L)[None] >= L // 2).long().expand(B, L).to(dev)
    times = []
    for step in range(c["steps"]):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        for i in range(0, B, mb):
            ids, mask = ids_all[i:i + mb], mask_all[i:i + mb]
            t = torch.randint(0, T, (ids.shape[0],), device=dev)
            x0m = m.word_embedding(ids)
            x0 = x0m + s1[0] * torch.randn_like(x0m)
            xt = sa[t][:, None, None] * x0 + s1[t][:, None, None] * torch.randn_like(x0)
            xt = torch.where(mask[..., None] == 0, x0, xt)
            out = m(xt, scale_timesteps(t, T))
            mse = ((x0 - out) ** 2).mean(dim=(1, 2))
            mse = torch.where(t == 0, ((x0m - out) ** 2).mean(dim=(1, 2)), mse)
            tT = ((sa[T - 1] * x0) ** 2).mean(dim=(1, 2))
            dec = ce(m.lm_head(x0).view(-1, V), ids.view(-1)).view(ids.shape).mean(-1)
            with torch.no_grad():   # the logged nll, as the reference computes it
                ce(m.lm_head(out).view(-1, V), ids.view(-1))
            (mse + dec + tT).mean().backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(0.9999).add_(p, alpha=1 - 0.9999)
        sync()
        times.append(time.perf_counter() - t0)
    steady = times[1:] or times
    r = {"tokens_per_s": B * L * len(steady) / sum(steady),
         "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
         "step_s": steady, "device": str(dev), "torch": torch.__version__}
    if cuda:
        r["peak_cuda_bytes"] = torch.cuda.max_memory_allocated(dev)
    print(json.dumps(r))


SCHEDULES = ["sqrt", "linear", "cosine", "trunc_cos", "trunc_lin", "pw_lin", "warmup-decay"]


def schedules_fixture():
    t = {}
    for name in SCHEDULES:
        t["%s.200" % name] = torch.from_numpy(named_betas(name, 200))
    for name in ("sqrt", "linear"):
        t["%s.2000" % name] = torch.from_numpy(named_betas(name, 2000))
    for k, v in derived(named_betas("sqrt", 200)).items():
        t["sqrt.200." + k] = torch.from_numpy(v)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?")
    ap.add_argument("--config", default="small", choices=sorted(CONFIGS) + sorted(LOSS_CONFIGS))
    ap.add_argument("--schedules", action="store_true", help="write the schedules fixture")
    ap.add_argument("--bench", metavar="JSON", help="time float32 training steps (bench/train.sh)")
    ap.add_argument("--device", help="--bench on this device: cpu (default) or cuda "
                    "(bench/gpu/bench-cuda.sh)")
    ap.add_argument("--load-ckpt", action="store_true",
                    help="OUT is a dsq checkpoint: load it strictly, print its parameter count")
    a = ap.parse_args()
    if a.bench:
        bench(a.bench, a.device)
        return 0
    torch.set_num_threads(1)
    if a.load_ckpt:
        _, n = load_dsq_checkpoint(a.out)
        print("loaded %s: %d parameters" % (a.out, n))
        return 0
    if a.schedules:
        save_file(schedules_fixture(), a.out)
        return 0
    if a.config in LOSS_CONFIGS:
        tensors, meta = loss_fixture(dict(LOSS_CONFIGS[a.config]))
    else:
        tensors, meta = fixture(dict(CONFIGS[a.config]))
    save_file(tensors, a.out, metadata=meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())

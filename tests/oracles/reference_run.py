#!/usr/bin/env python3
"""A reference run directory as the official DiffuSeq train.py leaves it,
built from a dsq checkpoint with Debian torch and the re-statement of the
reference network (diffuseq_ref.py):

    reference_run.py CKPT.safetensors VOCAB OUTDIR

writes
  OUTDIR/zip/ema_0.9999_050000.pt      torch.save (zip), the official EMA layout
  OUTDIR/legacy/ema_0.9999_050000.pt   the same, _use_new_zipfile_serialization=False
  OUTDIR/{zip,legacy}/training_args.json   the official keys; config_name is
                                       OUTDIR/tiny-bert (a local config.json dir)
  OUTDIR/decoded.safetensors           what the official decoder runs with, as a
                                       dsq checkpoint (config metadata of CKPT)
  OUTDIR/ema_embedding.safetensors     the same with the EMA embedding in both
                                       tied tensors (what it does not run with)

The official layout (train_util.py _master_params_to_state_dict): the
model's state_dict() with the EMA values put in for named_parameters(),
which lists the tied embedding once, as word_embedding.weight; so
lm_head.weight keeps the raw weights (and shares their storage), the EMA
values are nn.Parameter copies, position_ids is the expanded buffer view.
Loading that file with load_state_dict (strict) copies lm_head.weight
last, so the decoder's tied tensor holds the raw values: decoded.safetensors
is the loaded model's state dict.

    reference_run.py --load-strict FILE.pt CKPT.safetensors
checks that FILE.pt loads into the re-statement strictly (names, shapes,
tied lm_head) and prints PASS/FAIL.
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diffuseq_ref import TransformerNetModel  # noqa: E402


def model_of(ckpt):
    with safe_open(ckpt, "pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    c = dict(vocab=cfg["vocab_size"], d=cfg["hidden_dim"], dt=cfg["hidden_t_dim"],
             H=cfg["hidden_size"], nh=cfg["num_attention_heads"], I=cfg["intermediate_size"],
             n_layers=cfg["num_hidden_layers"], max_pos=cfg["max_position_embeddings"],
             mean_embed=cfg["learned_mean_embed"])
    m = TransformerNetModel(c, eps=cfg["layer_norm_eps"])
    sd = load_file(ckpt)
    m.load_state_dict(sd, strict=True)
    return m, cfg, meta


def training_args(cfg, vocab, config_dir):
    return {
        "lr": 0.0001, "batch_size": 4, "microbatch": 4, "learning_steps": 50000,
        "log_interval": 20, "save_interval": 50000, "eval_interval": 1000,
        "ema_rate": "0.9999", "resume_checkpoint": "none", "schedule_sampler": "lossaware",
        "diffusion_steps": cfg["diffusion_steps"], "noise_schedule": cfg["noise_schedule"],
        "timestep_respacing": "", "vocab": vocab, "use_plm_init": "no",
        "vocab_size": cfg["vocab_size"], "config_name": config_dir, "notes": "tiny",
        "data_dir": "datasets/tiny", "dataset": "tiny", "checkpoint_path": "diffusion_models/tiny",
        "seq_len": cfg["seq_len"], "hidden_t_dim": cfg["hidden_t_dim"],
        "hidden_dim": cfg["hidden_dim"], "dropout": 0.1, "use_fp16": False,
        "fp16_scale_growth": 0.001, "seed": 102, "gradient_clipping": -1.0,
        "weight_decay": 0.0, "learn_sigma": False, "use_kl": False, "predict_xstart": True,
        "rescale_timesteps": True, "rescale_learned_sigmas": False, "sigma_small": False,
        "emb_scale_factor": 1.0, "learned_mean_embed": cfg["learned_mean_embed"],
        "denoise": cfg["denoise"], "denoise_rate": cfg["denoise_rate"],
    }


def write_run(ckpt, vocab, out):
    m, cfg, meta = model_of(ckpt)
    torch.manual_seed(50000)
    ema = [torch.nn.Parameter(p.detach() + 0.05 * torch.randn_like(p)) for p in m.parameters()]
    sd = m.state_dict()
    for i, (name, _) in enumerate(m.named_parameters()):
        sd[name] = ema[i]
    assert not torch.equal(sd["lm_head.weight"], sd["word_embedding.weight"])
    config_dir = os.path.join(out, "tiny-bert")
    os.makedirs(config_dir, exist_ok=True)
    with open(os.path.join(config_dir, "config.json"), "w") as f:
        json.dump({"architectures": ["BertForMaskedLM"], "model_type": "bert",
                   "hidden_act": "gelu", "hidden_size": cfg["hidden_size"],
                   "num_hidden_layers": cfg["num_hidden_layers"],
                   "num_attention_heads": cfg["num_attention_heads"],
                   "intermediate_size": cfg["intermediate_size"],
                   "max_position_embeddings": cfg["max_position_embeddings"],
                   "layer_norm_eps": cfg["layer_norm_eps"], "vocab_size": 30522}, f, indent=2)
    for fmt, zipfmt in (("zip", True), ("legacy", False)):
        d = os.path.join(out, fmt)
        os.makedirs(d, exist_ok=True)
        torch.save(sd, os.path.join(d, "ema_0.9999_050000.pt"),
                   _use_new_zipfile_serialization=zipfmt)
        with open(os.path.join(d, "training_args.json"), "w") as f:
            json.dump(training_args(cfg, os.path.abspath(vocab), config_dir), f, indent=2)
    # what the official decoder runs with
    m.load_state_dict(torch.load(os.path.join(out, "zip", "ema_0.9999_050000.pt")), strict=True)
    assert m.lm_head.weight is m.word_embedding.weight
    dec = {k: v.detach().clone().contiguous() for k, v in m.state_dict().items()}
    save_file(dec, os.path.join(out, "decoded.safetensors"), metadata=meta)
    # the reading the reference does not do (EMA embedding in both tied
    # tensors): decoding it must differ, or the comparison proves nothing
    wrong = dict(dec)
    wrong["word_embedding.weight"] = sd["word_embedding.weight"].detach().clone()
    wrong["lm_head.weight"] = wrong["word_embedding.weight"].clone()
    save_file(wrong, os.path.join(out, "ema_embedding.safetensors"), metadata=meta)


def load_strict(pt, ckpt):
    m, _, _ = model_of(ckpt)
    try:
        m.load_state_dict(torch.load(pt, weights_only=True), strict=True)
        ok = m.lm_head.weight is m.word_embedding.weight
        ref = load_file(ckpt)
        ok = ok and all(torch.equal(v, ref[k]) for k, v in m.state_dict().items())
        print("PASS reference_loads_converted_strictly" if ok else
              "FAIL reference_loads_converted_strictly: values differ after loading")
    except Exception as ex:  # noqa: BLE001 (the message is the test's output)
        print(f"FAIL reference_loads_converted_strictly: {ex}")


if __name__ == "__main__":
    if sys.argv[1] == "--load-strict":
        load_strict(sys.argv[2], sys.argv[3])
    else:
        write_run(sys.argv[1], sys.argv[2], sys.argv[3])

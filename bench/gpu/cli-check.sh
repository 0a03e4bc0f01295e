#!/usr/bin/env bash
# The tools on a GPU, end to end (the CLI stage of bench/gpu-check.sh):
#   train   a small model trained STEPS fp32 steps on the QQP sample shipped
#           in data/qqp (tokenized here with a word vocabulary built from
#           it) with --device cpu and with --device DEV: the loss of every
#           step within 1e-3 relative;
#   determinism  a second DEV run: log.jsonl identical but for the timings;
#   bf16    the same model BF16_STEPS steps with --precision bf16 on cpu
#           (operands rounded in software) and on DEV (tensor cores): every
#           step's loss within 1e-2 relative;
#   sample  dsq-sample on tests/fixtures/sample/tiny, same seed, cpu and
#           DEV, for ddpm and dpm++: the fraction of equal tokens (equality
#           is the goal in fp32 on this model; PASS needs all equal).
# One "PASS name: ..." / "FAIL name: ..." line per check on stdout; the
# runs and logs in OUTDIR.  Exit 0 when all passed, 1 otherwise.
#   bench/gpu/cli-check.sh OUTDIR
# Environment:
#   DSQ_BIN         dsq-train, dsq-sample, dsq-tokenize (default: tools)
#   DSQ_CLI_DEVICE  the device under test (default cuda); cpu compares the
#                   CPU with itself (bench/gpu-check.sh's forced mode, which
#                   checks this script's plumbing on a machine without GPU)
#   DSQ_CLI_STEPS   training steps (default 200)
#   DSQ_CLI_TOL     relative tolerance on the losses (default 1e-3)
#   DSQ_CLI_BF16_STEPS  steps of the bf16 comparison (default 50)
#   DSQ_CLI_PERTURB=1  the DEV runs get other seeds, so
#                   that every comparison must FAIL (tests/checks/gpu_check.sh)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: bench/gpu/cli-check.sh OUTDIR}
bin=${DSQ_BIN:-$PWD/tools}
dev=${DSQ_CLI_DEVICE:-cuda}
steps=${DSQ_CLI_STEPS:-200}
tol=${DSQ_CLI_TOL:-1e-3}
mkdir -p "$out"
rc=0
dev_train=() dev_seed=7
[ "${DSQ_CLI_PERTURB:-0}" = 1 ] && dev_train=(--seed 103) dev_seed=8
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; rc=1; }
say() { echo "cli-check: $*" >&2; }

# ---- training ------------------------------------------------------------------
"$bin/dsq-tokenize" --build-vocab data/qqp/train.jsonl >"$out/words.txt" 2>"$out/tokenize.err" &&
  "$bin/dsq-tokenize" -q --vocab "$out/words.txt" --vocab-kind word --seq-len 32 \
    data/qqp/train.jsonl >"$out/train.dsq" 2>>"$out/tokenize.err" ||
  { fail "train: tokenizing data/qqp/train.jsonl: $(tail -n 1 "$out/tokenize.err")"; exit 1; }
# 2 layers of width 128, d 128, V = the word vocabulary (~5.8k), two
# microbatches per step; lossaware sampling stays uniform (T 2000) and
# dropout is on (the same Philox streams on both devices).
model=(--layers 2 --hidden 128 --heads 2 --intermediate 512 --hidden-dim 128 --hidden-t-dim 128
       --bsz 32 --microbatch 16 --lr 1e-4 --learning-steps "$steps" --log-interval 1
       --save-interval "$steps" --seed 102)
train() {  # name device [options]
  local t0=$SECONDS n=$1 d=$2
  shift 2
  rm -rf "$out/$n"
  if "$bin/dsq-train" -q --data "$out/train.dsq" --vocab "$out/words.txt" --out "$out/$n" \
       "${model[@]}" --device "$d" "$@" >"$out/$n.log" 2>&1; then
    say "train $n (--device $d): $((SECONDS - t0)) s"
    return 0
  fi
  say "train $n (--device $d) failed: $(tail -n 3 "$out/$n.log" | tr '\n' ' ')"
  return 1
}
# field FILE NAME: the values of a numeric field of a JSONL log, one a line
field() { awk -v k="\"$2\":" '{ i = index($0, k); if (!i) { print "missing"; next }
  s = substr($0, i + length(k)); sub(/[,}].*/, "", s); print s }' "$1"; }
# compare A B NAME [N TOL]: max relative difference of field NAME over the
# N steps (default: steps, tol)
compare() {
  paste <(field "$1" "$3") <(field "$2" "$3") | awk -v n="${4:-$steps}" -v tol="${5:-$tol}" '
    function abs(x) { return x < 0 ? -x : x }
    { k++; a = $1; b = $2
      if (a == "missing" || b == "missing" || a !~ /^-?[0-9]/ || b !~ /^-?[0-9]/) { bad++; next }
      d = abs(a - b) / (abs(a) > 1e-30 ? abs(a) : 1e-30)
      if (d > m) { m = d; at = k - 1 } }
    END { printf "%d steps of %d, max rel diff %.2e at step %d", k, n, m, at
          if (bad) printf ", %d non-numeric", bad
          exit (k == n && !bad && m <= tol) ? 0 : 1 }'
}
if train cpu cpu && train dev1 "$dev" "${dev_train[@]}"; then
  if r=$(compare "$out/cpu/log.jsonl" "$out/dev1/log.jsonl" loss); then
    pass "train: $steps steps, loss cpu vs $dev: $r (tol $tol)"
  else
    fail "train: $steps steps, loss cpu vs $dev: $r (tol $tol)"
  fi
  r=$(compare "$out/cpu/log.jsonl" "$out/dev1/log.jsonl" grad_norm)
  say "grad_norm cpu vs $dev: $r (for information)"
else
  fail "train: a run failed (logs in $out: cpu.log, dev1.log)"
fi
strip_times() { sed -E 's/,"tokens_per_s":[^,}]*//; s/,"elapsed_s":[^,}]*//' "$1"; }
if [ -s "$out/dev1/log.jsonl" ] && train dev2 "$dev"; then  # unperturbed: must differ then
  if cmp -s <(strip_times "$out/dev1/log.jsonl") <(strip_times "$out/dev2/log.jsonl") &&
     [ "$(wc -l <"$out/dev1/log.jsonl")" -eq "$steps" ]; then
    pass "determinism: two $dev runs, log.jsonl identical ($steps lines, timings aside)"
  else
    fail "determinism: two $dev runs differ (diff $out/dev1/log.jsonl $out/dev2/log.jsonl)"
  fi
else
  fail "determinism: no second $dev run (logs in $out)"
fi

bsteps=${DSQ_CLI_BF16_STEPS:-50}
bf16=(--precision bf16 --learning-steps "$bsteps" --save-interval "$bsteps")
if train cpu-bf16 cpu "${bf16[@]}" && train dev-bf16 "$dev" "${bf16[@]}" "${dev_train[@]}"; then
  if r=$(compare "$out/cpu-bf16/log.jsonl" "$out/dev-bf16/log.jsonl" loss "$bsteps" 1e-2); then
    pass "train bf16: $bsteps steps, loss cpu vs $dev: $r (tol 1e-2)"
  else
    fail "train bf16: $bsteps steps, loss cpu vs $dev: $r (tol 1e-2)"
  fi
else
  fail "train bf16: a run failed (logs in $out: cpu-bf16.log, dev-bf16.log)"
fi

# ---- sampling --------------------------------------------------------------------
fix=tests/fixtures/sample/tiny
for i in $(seq 0 63); do
  printf '{"src": "w0%d w1%d w2%d", "trg": "w3%d w1%d w2%d w0%d"}\n' \
    $((i % 6 + 4)) $((i % 10)) $((i % 7)) $((i % 9)) $((i % 5)) $((i / 7 % 10)) $((9 - i % 6))
done >"$out/in.jsonl"
"$bin/dsq-tokenize" -q --vocab "$fix/vocab.txt" --vocab-kind word --seq-len 12 \
  "$out/in.jsonl" >"$out/in.dsq" 2>"$out/tokenize.err" ||
  fail "sample: tokenizing the inputs: $(tail -n 1 "$out/tokenize.err")"
# the "recover" strings (word tokens: no quotes inside), one a line
recover() { sed -E 's/^\{"recover": "([^"]*)".*/\1/' "$1"; }
for s in ddpm 'dpm++'; do
  ok=1
  for side in cpu dev; do
    if [ $side = cpu ]; then d=cpu seed=7; else d=$dev seed=$dev_seed; fi
    "$bin/dsq-sample" -q -m "$fix/ema_0.9999_000000.safetensors" --sampler "$s" --seed $seed \
      --device "$d" -o "$out/sample-$s-$side.jsonl" "$out/in.dsq" 2>"$out/sample-$s-$side.err" ||
      { ok=0; say "dsq-sample $s --device $d: $(tail -n 2 "$out/sample-$s-$side.err" | tr '\n' ' ')"; }
  done
  if [ $ok = 0 ]; then fail "sample $s: a run failed (logs in $out)"; continue; fi
  r=$(paste -d '\t' <(recover "$out/sample-$s-cpu.jsonl") <(recover "$out/sample-$s-dev.jsonl") |
      awk -F '\t' '{ na = split($1, a, " "); nb = split($2, b, " "); n = na > nb ? na : nb
        for (i = 1; i <= n; i++) { t++; e += (i <= na && i <= nb && a[i] == b[i]) }
        rows++; same += ($1 == $2) }
      END { printf "%d/%d tokens equal (%.4f), %d/%d outputs identical", e, t, t ? e / t : 0, same, rows
            exit (t > 0 && e == t && rows == 64) ? 0 : 1 }')
  if [ $? = 0 ]; then pass "sample $s cpu vs $dev: $r"; else fail "sample $s cpu vs $dev: $r"; fi
done
exit $rc

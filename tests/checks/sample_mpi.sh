#!/usr/bin/env bash
# dsq-sample under mpirun: the ranks share the examples and rank 0 writes
# them in input order, so the output for a seed is byte-identical to one
# process's for -np 1/2/3, any --batch, stdin or a file, JSONL or --ids;
# more ranks than examples; a stream that breaks mid-way fails on every
# rank with the complete rounds in FILE.partial (a prefix of the full
# output); a missing checkpoint fails before any input is read.
# Model: tests/fixtures/sample/tiny (T = 20).  MPI build: tests/lib/mpi-build.sh.
set -u
cd "$(dirname "$0")/../.."
bin="${DSQ_BIN:-$PWD/tools}"
. tests/lib/mpi-build.sh
mpi_build sample_mpi dsq-sample
S=$mpi_out/dsq-sample
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
FIX=tests/fixtures/sample/tiny
M=$FIX/ema_0.9999_000000.safetensors
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
run_np() { timeout 120 mpirun --allow-run-as-root --oversubscribe -np "$@"; }
check() {  # name cond [detail]
  if [ "$2" = 0 ]; then echo "PASS sample_mpi_$1"; else echo "FAIL sample_mpi_$1${3:+: $3}"; fi
}

for i in $(seq 0 22); do
  printf '{"src": "w0%d w1%d w2%d", "trg": "w3%d w1%d w2%d w0%d"}\n' \
    $((i % 6 + 4)) $((i % 10)) $((i % 7)) $((i % 9)) $((i % 5)) $((i % 10)) $((9 - i % 6))
done > "$tmp/in.jsonl"
"$bin/dsq-tokenize" -q --vocab "$FIX/vocab.txt" --vocab-kind word --seq-len 12 \
  --rows-per-record 4 "$tmp/in.jsonl" > "$tmp/in.dsq"

# one process (the regular build) against 2 and 3 ranks, two samplers
for s in ddpm 'dpm++'; do
  "$bin/dsq-sample" -q -m "$M" -s "$s" --seed 7 -b 5 "$tmp/in.dsq" > "$tmp/one.jsonl"
  r=0; why=
  for np in 1 2 3; do
    for b in 1 4 64; do
      run_np "$np" "$S" -q -m "$M" -s "$s" --seed 7 -b "$b" "$tmp/in.dsq" > "$tmp/np.jsonl" 2>"$tmp/err" ||
        { r=1; why="np $np batch $b failed: $(head -n 3 "$tmp/err")"; }
      cmp -s "$tmp/one.jsonl" "$tmp/np.jsonl" || { r=1; why="${why:-np $np batch $b differs}"; }
    done
  done
  [ "$(grep -c '' "$tmp/one.jsonl")" = 23 ] || { r=1; why="${why:-$(grep -c '' "$tmp/one.jsonl") lines}"; }
  check "identical_${s//+/p}" $r "$why"
done

# stdin (mpirun gives it to rank 0), -o FILE, --ids
"$bin/dsq-sample" -q -m "$M" --seed 3 "$tmp/in.dsq" > "$tmp/one.jsonl"
run_np 2 "$S" -q -m "$M" --seed 3 -b 3 < "$tmp/in.dsq" > "$tmp/stdin.jsonl" 2>/dev/null
run_np 3 "$S" -q -m "$M" --seed 3 -b 2 -o "$tmp/o.jsonl" "$tmp/in.dsq" > "$tmp/stdout" 2>/dev/null
cmp -s "$tmp/one.jsonl" "$tmp/stdin.jsonl" && cmp -s "$tmp/one.jsonl" "$tmp/o.jsonl" && [ ! -s "$tmp/stdout" ]
check stdin_and_output_file $? "differs or ranks wrote to stdout"
"$bin/dsq-sample" -q -m "$M" --seed 3 --ids -o "$tmp/one.ids" "$tmp/in.dsq"
run_np 2 "$S" -q -m "$M" --seed 3 -b 5 --ids -o "$tmp/two.ids" "$tmp/in.dsq" 2>/dev/null
"$bin/dsq-tokenize" -q -d --vocab "$FIX/vocab.txt" -k word "$tmp/one.ids" > "$tmp/one.dec" &&
"$bin/dsq-tokenize" -q -d --vocab "$FIX/vocab.txt" -k word "$tmp/two.ids" > "$tmp/two.dec" &&
cmp -s "$tmp/one.dec" "$tmp/two.dec" && [ "$(grep -c '' "$tmp/two.dec")" = 23 ]
check ids_stream $? "decoded id streams differ"

# more ranks than examples
head -n 2 "$tmp/in.jsonl" | "$bin/dsq-tokenize" -q --vocab "$FIX/vocab.txt" --vocab-kind word \
  --seq-len 12 > "$tmp/two.dsq"
"$bin/dsq-sample" -q -m "$M" "$tmp/two.dsq" > "$tmp/a.jsonl"
run_np 3 "$S" -q -m "$M" "$tmp/two.dsq" > "$tmp/b.jsonl" 2>/dev/null
cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl" && [ "$(grep -c '' "$tmp/b.jsonl")" = 2 ]
check more_ranks_than_examples $? "differs"

# a stream that breaks after some records: every rank fails, rank 0 keeps
# the complete rounds in FILE.partial, a prefix of the whole output
sz=$(stat -c %s "$tmp/in.dsq")
head -c $((sz - 40)) "$tmp/in.dsq" > "$tmp/cut.dsq"
run_np 2 "$S" -m "$M" --seed 3 -b 2 -o "$tmp/cut.jsonl" "$tmp/cut.dsq" > "$tmp/cut.out" 2>&1
rc=$?
n=$(grep -c '' "$tmp/cut.jsonl.partial" 2>/dev/null)
[ $rc != 0 ] && [ ! -e "$tmp/cut.jsonl" ] && [ "${n:-0}" -gt 0 ] &&
  head -n "$n" "$tmp/one.jsonl" | cmp -s - "$tmp/cut.jsonl.partial" &&
  grep -q 'cut.dsq: truncated stream' "$tmp/cut.out" &&
  grep -q 'written to .*cut.jsonl.partial' "$tmp/cut.out" &&
  grep -q 'rank 1 stopped: rank 0 failed' "$tmp/cut.out"
check broken_stream_partial $? "rc $rc, ${n:-0} lines kept: $(grep dsq-sample "$tmp/cut.out" | head -n 3)"

# a missing checkpoint: non-zero, named, nothing written
run_np 2 "$S" -m "$tmp/none.safetensors" -o "$tmp/x.jsonl" "$tmp/in.dsq" > "$tmp/miss.out" 2>&1
rc=$?
[ $rc != 0 ] && grep -q 'none.safetensors: cannot open' "$tmp/miss.out" &&
  [ ! -e "$tmp/x.jsonl" ] && [ ! -e "$tmp/x.jsonl.partial" ]
check missing_checkpoint $? "rc $rc: $(grep dsq-sample "$tmp/miss.out" | head -n 2)"

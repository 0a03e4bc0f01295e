#!/usr/bin/env bash
# doc/diagnostics.md's table against the tests: every row names a test that
# exists, asserts the row's exit status and contains its message; every
# test of tests/cli/faults.bats that asserts a failure has a row.  Then a
# self-test: a row with a message no test has, and a test without a row,
# must both be found.
set -u
cd "$(dirname "$0")/../.."

# check TABLE_FILE BATS_DIR: PASS/FAIL lines; returns the number of FAILs.
check() {
  local table=$1 dir=$2 fails=0 rows=0
  local -A cited=()
  while IFS='|' read -r _ class tools code msg test _; do
    class=$(sed -e "s/^ *//" -e "s/ *$//" <<< "$class"); code=${code// /}
    msg=$(sed -e 's/^ *`\{0,1\}//' -e 's/`\{0,1\} *$//' <<< "$msg")
    test=$(sed -e 's/^ *//' -e 's/ *$//' <<< "$test")
    local file=${test%%: *} name=${test#*: }
    rows=$((rows + 1))
    if [ ! -f "$dir/$file" ]; then
      echo "FAIL diagnostics: '$class': no test file $file"; fails=$((fails + 1)); continue
    fi
    # the test's body: from its @test line to the first line that is "}"
    local body
    body=$(awk -v n="$name" 'index($0, "@test \"" n) == 1 { on = 1; c++ }
                             on { print } on && /^}$/ { on = 0 }
                             END { if (c != 1) exit 1 }' "$dir/$file") || {
      echo "FAIL diagnostics: '$class': not exactly one test '$name' in $file"
      fails=$((fails + 1)); continue; }
    cited["$file: $(head -1 <<< "$body")"]=1
    local status_ok=0
    case $code in
      128+N) grep -qF -- '-gt 128' <<< "$body" && status_ok=1 ;;
      *) grep -qE -- "assert_failure $code\b|\"\\\$rc\" -eq $code\b" <<< "$body" && status_ok=1 ;;
    esac
    if [ $status_ok = 0 ]; then
      echo "FAIL diagnostics: '$class': $test does not assert exit status $code"
      fails=$((fails + 1)); continue
    fi
    if [ "$msg" != - ] && ! grep -qF -- "$msg" <<< "$body"; then
      echo "FAIL diagnostics: '$class': $test does not contain the message '$msg'"
      fails=$((fails + 1)); continue
    fi
    echo "PASS diagnostics: $class"
  done < <(awk '/^\| class \|/ { t = 1; getline; next } t && /^\|/ { print } t && !/^\|/ { t = 0 }' "$table")
  [ "$rows" -gt 0 ] || { echo "FAIL diagnostics: no table rows in $table"; fails=$((fails + 1)); }
  # the reverse: each faults.bats test that asserts a failure is in the table
  local line
  while IFS= read -r line; do
    local body
    body=$(awk -v l="$line" '$0 == l { on = 1 } on { print } on && /^}$/ { on = 0 }' \
           "$dir/faults.bats")
    grep -qE 'assert_failure|"\$rc" -(eq|gt)' <<< "$body" || continue
    if [ -z "${cited["faults.bats: $line"]:-}" ]; then
      echo "FAIL diagnostics: $line: a failure test of faults.bats with no row in $table"
      fails=$((fails + 1))
    fi
  done < <(grep '^@test "' "$dir/faults.bats")
  return "$fails"
}

check doc/diagnostics.md tests/cli
ok=$?

# self-test: a planted row whose message no test has, and a planted test
# with no row, are both found
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/cli"
cp tests/cli/faults.bats "$tmp/cli/"
printf '@test "planted: a failure without a row" {\n  run false\n  assert_failure 1\n}\n' \
  >> "$tmp/cli/faults.bats"
sed 's/| `already holds a run` |/| `no test says this` |/' doc/diagnostics.md > "$tmp/d.md"
out=$(check "$tmp/d.md" "$tmp/cli")
if grep -q "does not contain the message 'no test says this'" <<< "$out" &&
   grep -q "planted: a failure without a row.*no row" <<< "$out"; then
  echo "PASS diagnostics self-test"
else
  echo "FAIL diagnostics self-test: the planted mismatches were not both found"
fi
exit 0

# Sourced by .ci/run and tests/checks/setup.sh.
#   copy_repo SRC DEST   copies the repository at SRC into the existing
#                        directory DEST: the files git would commit (tracked,
#                        and untracked but not ignored), as they are in the
#                        working tree; outside a git checkout every file but
#                        the build outputs .gitignore names.  Nothing else
#                        comes along: DEST is what a fresh clone holds.
copy_repo() {
  local src=$1 dest=$2
  if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
       while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
       tar --null -T - -cf -) | tar -C "$dest" -xf -
  else
    (cd "$src" && find . \( -path ./build -o -path ./build-san -o -path ./demo-out -o -path ./.git \) -prune \
       -o -type f ! -name '*.o' ! -path ./lib/libdsq.a ! \( -path './tools/dsq-*' ! -name '*.c' \) -print0 |
       tar --null -T - -cf -) | tar -C "$dest" -xf -
  fi
}

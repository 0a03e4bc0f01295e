#!/usr/bin/env bash
# Citations stay inside the repository.  Over the source, scripts, manual
# pages, READMEs and doc/ pages:
#   outside   no path outside the repository: the shared directory beside
#             it, the variable that named it, the notes the project started
#             from (their names are spelt out in the awk program below);
#   docfile   every doc/NAME.md cited exists;
#   section   every doc/NAME.md §N cited (also §N-M, §N, §M; groff \[sc])
#             is a numbered heading "## N. " / "### N.M " of that page, and
#             every bare §N inside a doc/ page is one of its own headings;
#   bare      no section cited without its page ("spec §N", "(spec: ...)",
#             "sampling §4");
#   path      every repository path a doc/ page names (lib/..., include/..., tests/...,
#             man/..., also Markdown links) exists.
# One PASS line per rule that holds, one FAIL line per violation, then a
# self-test that plants each kind of bad citation in a scratch tree and
# expects exactly those to be found.
set -u
cd "$(dirname "$0")/../.."
SELF=tests/checks/citations.sh

# Every file under the current directory (git: tracked and untracked, not
# ignored; elsewhere: find), one path per line.
all_files() {
  local top
  top=$(git rev-parse --show-toplevel 2>/dev/null) || top=
  if [ -n "$top" ] && [ "$top" = "$(pwd -P)" ]; then
    git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
      [ -f "$f" ] && printf '%s\n' "$f"
    done
  else
    find . \( -name .git -o -name build -o -name 'build-*' \) -prune -o -type f -print | sed 's|^\./||'
  fi
}

# The files whose text is scanned.
scanned() {
  grep -E '\.(c|h|cu|sh|bats|py|mk|1|5|7)$|(^|/)(Makefile|README\.md|run)$|^doc/.*\.md$' |
    grep -v -E '^(build|build-[^/]*)/|^data/vocab/' | grep -v -x -F "$SELF"
}

# scan DIR: prints "RULE<TAB>FILE:LINE: message" for every violation in
# the tree at DIR.
scan() (
  cd "$1" || exit 2
  local tmp
  tmp=$(mktemp -d) || exit 2
  trap 'rm -rf "$tmp"' EXIT
  all_files > "$tmp/files"
  scanned < "$tmp/files" > "$tmp/scan"
  grep -E '^doc/[^/]*\.md$' "$tmp/files" | tr '\n' '\0' |
    xargs -0 -r grep -H -E '^#+ [0-9]' > "$tmp/heads"
  tr '\n' '\0' < "$tmp/scan" | xargs -0 -r grep -I -H -n '' > "$tmp/lines"
  awk -v FILES="$tmp/files" -v HEADS="$tmp/heads" '
    function report(rule, msg) { printf "%s\t%s: %s\n", rule, where, msg }
    # Checks a list of sections ("§3-4, §6") of page `page`.
    function check_secs(page, secs, what,   s, prev, num, lo, hi, k, sep) {
      s = secs; prev = ""
      while (match(s, /[0-9]+(\.[0-9]+)?/)) {
        num = substr(s, RSTART, RLENGTH); sep = substr(s, 1, RSTART - 1)
        s = substr(s, RSTART + RLENGTH)
        if (prev != "" && sep ~ /-/ && prev !~ /\./ && num !~ /\./) {
          lo = prev + 1; hi = num + 0
          for (k = lo; k < hi; k++)
            if (!((page " " k) in sect)) report("section", what " has no section §" k)
        }
        if (!((page " " num) in sect)) report("section", what " has no section §" num)
        prev = num
      }
    }
    BEGIN {
      while ((getline f < FILES) > 0) {
        have[f] = 1
        n = split(f, p, "/"); d = p[1]
        for (i = 2; i <= n; i++) { have[d] = 1; d = d "/" p[i] }
      }
      while ((getline h < HEADS) > 0) {
        i = index(h, ":"); page = substr(h, 1, i - 1); h = substr(h, i + 1)
        sub(/^#+ /, "", h)
        if (match(h, /^[0-9]+(\.[0-9]+)*/)) sect[page " " substr(h, 1, RLENGTH)] = 1
      }
      SECLIST = "^ *§[0-9]+(\\.[0-9]+)?(( *- *| *, *| and | to )(§)?[0-9]+(\\.[0-9]+)?)*"
    }
    {
      i = index($0, ":"); file = substr($0, 1, i - 1); rest = substr($0, i + 1)
      i = index(rest, ":"); where = file ":" substr(rest, 1, i - 1)
      t = " " substr(rest, i + 1)
      gsub(/\\\[sc\]|\\\(sc/, "§", t); gsub(/\\-/, "-", t)
      isdoc = file ~ /^doc\/[^\/]*\.md$/

      if (match(t, /\.\.\/shared|DSQ_SHAR[E]D|shared\/spec|spec\/[A-Za-z0-9_-]+\.md|DESIGN\.md/))
        report("outside", substr(t, RSTART, RLENGTH))
      if (match(t, /[^A-Za-z_][Ss]pec:? *§|\([Ss]pec:|[^A-Za-z0-9_\/.-](model-and-training|sampling|metrics|tokenizer|design|formats)(\.md)? +§/))
        report("bare", substr(t, RSTART + 1, RLENGTH - 1))

      # doc/NAME.md [§list]; what is left of the line is checked for local §N.
      s = t; left = ""
      while (match(s, /doc\/[A-Za-z0-9_.-]+\.md/)) {
        page = substr(s, RSTART, RLENGTH)
        left = left substr(s, 1, RSTART - 1)
        s = substr(s, RSTART + RLENGTH)
        if (!(page in have)) { report("docfile", page " does not exist"); continue }
        if (match(s, SECLIST)) {
          secs = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
          check_secs(page, secs, page)
        }
      }
      left = left s
      if (!isdoc) next

      s = left
      while (match(s, /§[0-9]+(\.[0-9]+)?(( *- *| *, *| and | to )(§)?[0-9]+(\.[0-9]+)?)*/)) {
        secs = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        check_secs(file, secs, file)   # (it calls match: RSTART is not kept)
      }
      s = t
      while (match(s, /\]\([A-Za-z0-9_.-]+\.md[)#]/)) {
        link = "doc/" substr(s, RSTART + 2, RLENGTH - 3)
        s = substr(s, RSTART + RLENGTH)
        if (!(link in have)) report("path", "link to " link " which does not exist")
      }
      s = t
      while (match(s, /[^A-Za-z0-9_\/.-](lib|include|tools|kernels|tests|man|pipelines|bench|scripts|data|doc)\/[A-Za-z0-9_.\/-]*[A-Za-z0-9_]/)) {
        path = substr(s, RSTART + 1, RLENGTH - 1)
        s = substr(s, RSTART + RLENGTH)
        if (s ~ /^[-.\/]*\*/) continue   # a glob: lib/backend_cpu*.c, man/dsq-*.1
        if (!(path in have)) report("path", path " does not exist")
      }
    }' "$tmp/lines"
)

# ---- the repository --------------------------------------------------------
out=$(scan .) || { echo "FAIL citations: the scan itself failed"; exit 1; }
for rule in outside docfile section bare path; do
  case $rule in
    outside) what="no paths outside the repository" ;;
    docfile) what="cited doc/ pages exist" ;;
    section) what="cited doc/ sections exist" ;;
    bare) what="no section citations without their page" ;;
    path) what="paths named in doc/ exist" ;;
  esac
  bad=$(printf '%s\n' "$out" | grep "^$rule	" | cut -f2-)
  if [ -z "$bad" ]; then
    echo "PASS citations $rule: $what"
  else
    printf '%s\n' "$bad" | sed "s/^/FAIL citations $rule: /"
  fi
done

# ---- self-test: a scratch tree with one planted error of each kind ---------
# (The bad names are assembled from pieces, so that this file holds none.)
sp=spec sh=shared de=DESIGN
scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/doc" "$scratch/lib" "$scratch/man"
cat > "$scratch/doc/x.md" <<'END'
# X
## 1. One
### 1.1 Sub
See §1 and §1.1, doc/x.md §1, and `lib/a.c`.
Bad: §7, `lib/missing.c`, [y](y.md).
END
cat > "$scratch/lib/a.c" <<END
/* doc/x.md §1, doc/x.md §1.1 and doc/x.md: fine. */
/* doc/x.md §2 */
/* doc/y.md */
/* $sp/metrics.md */
const char *s = "\$DSQ_${sh^^}/../$sh/data";
/* tokenizer $sp §3 ($sp: l) sampling §4 */
/* doc/x.md §1-3 */
/* $de.md §5 */
END
printf '.IR doc/x.md \\[sc]5 ;\n' > "$scratch/man/t.1"
got=$(scan "$scratch" | sort)
want=$(sort <<END
path	doc/x.md:5: lib/missing.c does not exist
path	doc/x.md:5: link to doc/y.md which does not exist
section	doc/x.md:5: doc/x.md has no section §7
section	lib/a.c:2: doc/x.md has no section §2
docfile	lib/a.c:3: doc/y.md does not exist
outside	lib/a.c:4: $sp/metrics.md
outside	lib/a.c:5: DSQ_${sh^^}
bare	lib/a.c:6: $sp §
section	lib/a.c:7: doc/x.md has no section §2
section	lib/a.c:7: doc/x.md has no section §3
outside	lib/a.c:8: $de.md
section	man/t.1:1: doc/x.md has no section §5
END
)
if [ "$got" = "$want" ]; then
  echo "PASS citations self-test: planted bad citations are found, good ones pass"
else
  echo "FAIL citations self-test: found something else than the planted errors"
  diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/  /' >&2
fi

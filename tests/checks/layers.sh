#!/usr/bin/env bash
# The library's layers and the include rule (doc/ARCHITECTURE.md).
#
# Layers, lowest first; a file may include ("...") headers of its own
# layer or of a lower one, never of a higher one:
#
#   layer    folders                    public headers (include/dsq/)
LAYERS='
base       lib/base                     err.h cli.h outfile.h dist.h strutil.h util.h
io         lib/io                       tensor.h stream.h jsonl.h
text       lib/text                     tokenizer.h wordvocab.h encode.h decode.h
backend    kernels kernels/cpu kernels/cuda  backend.h
model      lib/model                    model.h diffusion.h diffusion_schedule.h schedule_sampler.h train.h sample.h
metrics    lib/metrics                  metrics.h decfile.h score.h report.h mbr.h bert.h bertscore.h
run        lib/run                      device.h buildinfo.h sample_run.h train_run.h convert.h
tools      tools
'
# A public header belongs to the layer of the code it declares; it lives
# in include/dsq/ (what `make install` installs), private headers beside
# their sources.  Includes against the order that exist today, each with
# its reason (FILE HEADER WHY); an entry that no longer occurs fails, so
# that it is removed with the include:
ALLOW='
'
#
# Over every .c, .h and .cu under lib/, kernels/, include/ and every
# tools/*.c, one PASS line per rule that holds, one FAIL line per
# violation:
#   folder   every source file is in a folder of the table (or include/dsq/),
#            and every public header is named in it once;
#   unique   header names are unique (sources include them by bare name,
#            one -I per folder);
#   known    every included header exists in the tree;
#   order    no include of a higher layer (but for ALLOW);
#   public   public headers include only public headers (the installed
#            tree stands alone);
#   tools    tools include only public headers;
#   allow    every ALLOW entry still occurs.
# Then a self-test plants one violation of each kind in a copy of the tree
# and expects exactly those to be found.
set -u
cd "$(dirname "$0")/../.."

# scan DIR LAYERS ALLOW: prints "RULE<TAB>message" for every violation in
# the tree at DIR.
scan() (
  cd "$1" || exit 2
  local tmp
  tmp=$(mktemp -d) || exit 2
  trap 'rm -rf "$tmp"' EXIT
  printf '%s\n' "$2" > "$tmp/layers"
  printf '%s\n' "$3" > "$tmp/allow"
  { find lib kernels include -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' \)
    find tools -maxdepth 1 -type f -name '*.c'; } 2>/dev/null | sort > "$tmp/files"
  tr '\n' '\0' < "$tmp/files" |
    xargs -0 -r grep -H -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' > "$tmp/incs"
  awk -v LAYERS="$tmp/layers" -v ALLOW="$tmp/allow" -v FILES="$tmp/files" '
    function report(rule, msg) { printf "%s\t%s\n", rule, msg }
    function dir(p) { sub(/\/[^\/]*$/, "", p); return p }
    function base(p) { sub(/^.*\//, "", p); return p }
    BEGIN {
      nl = 0
      while ((getline line < LAYERS) > 0) {
        if (line ~ /^[ \t]*(#|$)/) continue
        n = split(line, w, /[ \t]+/)
        nl++; name[nl] = w[1]; rank[w[1]] = nl
        for (i = 2; i <= n; i++) {
          if (w[i] ~ /\.h$/) {
            if (w[i] in pub_layer) report("folder", "public header " w[i] " named twice in the table")
            pub_layer[w[i]] = w[1]
          } else folder_layer[w[i]] = w[1]
        }
      }
      while ((getline line < ALLOW) > 0) {
        if (line ~ /^[ \t]*(#|$)/) continue
        split(line, w, /[ \t]+/)
        allowed[w[1] " " w[2]] = 1
      }
      while ((getline f < FILES) > 0) {
        d = dir(f); b = base(f)
        if (d == "include/dsq") {
          if (b in pub_layer) layer[f] = pub_layer[b]
          else report("folder", f ": a public header the table does not name")
          seen_pub[b] = 1
        } else if (d in folder_layer) {
          layer[f] = folder_layer[d]
        } else {
          report("folder", f ": not in a folder of the layer table")
        }
        if (b ~ /\.h$/) {
          if (b in header) report("unique", b ": both " header[b] " and " f)
          else header[b] = f
        }
      }
      for (b in pub_layer)
        if (!(b in seen_pub)) report("folder", "the table names include/dsq/" b ", which does not exist")
    }
    {
      i = index($0, ":"); f = substr($0, 1, i - 1); rest = substr($0, i + 1)
      i = index(rest, ":"); ln = substr(rest, 1, i - 1); rest = substr(rest, i + 1)
      match(rest, /"[^"]*"/); h = substr(rest, RSTART + 1, RLENGTH - 2)
      where = f ":" ln
      if (!(h in header)) { report("known", where ": " h " is no header of the tree"); next }
      hf = header[h]
      isp = dir(hf) == "include/dsq"
      if (dir(f) == "include/dsq" && !isp)
        report("public", where ": public header includes private " hf)
      if (dir(f) == "tools" && !isp)
        report("tools", where ": tool includes private " hf)
      lf = layer[f]; lh = layer[hf]
      if (lf == "" || lh == "") next   # reported under folder
      if (rank[lh] > rank[lf]) {
        if ((f " " h) in allowed) used[f " " h] = 1
        else report("order", where ": " lf " includes " hf " (" lh ")")
      }
    }
    END {
      for (k in allowed)
        if (!(k in used)) report("allow", k ": allowed, but there is no such include against the order")
    }' "$tmp/incs"
)

rules="folder unique known order public tools allow"
what() {
  case $1 in
    folder) echo "every source file is in a layer folder, every public header in the table" ;;
    unique) echo "header names are unique" ;;
    known) echo "every included header exists" ;;
    order) echo "no include against the layer order (base < io < text < backend < model < metrics < run < tools)" ;;
    public) echo "public headers include only public headers" ;;
    tools) echo "tools include only public headers" ;;
    allow) echo "every allowed exception still occurs" ;;
  esac
}

# ---- the repository --------------------------------------------------------
out=$(scan . "$LAYERS" "$ALLOW") || { echo "FAIL layers: the scan itself failed"; exit 1; }
for rule in $rules; do
  bad=$(printf '%s\n' "$out" | grep "^$rule	" | cut -f2- | sort)
  if [ -z "$bad" ]; then
    echo "PASS layers $rule: $(what "$rule")"
  else
    printf '%s\n' "$bad" | sed "s/^/FAIL layers $rule: /"
  fi
done

# ---- self-test: a copy of the tree with one planted violation of each kind --
# (what the copy already violates is left out of the comparison)
scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
{ find lib kernels include -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' \)
  find tools -maxdepth 1 -type f -name '*.c'; } 2>/dev/null | tr '\n' '\0' |
  xargs -0 -r cp --parents -t "$scratch"
before=$(scan "$scratch" "$LAYERS" "$ALLOW") || before=
SELF_ALLOW="$ALLOW
lib/base/err.c nosuch.h  an exception that does not occur"
n() { wc -l < "$1" | tr -d ' '; }   # the line number an appended line gets
cd "$scratch"
printf '#include "model.h"\n' >> lib/base/err.c           # base reaches up to model
l_order=$(n lib/base/err.c)
printf '#include "philox.h"\n' >> tools/dsq-train.c        # a tool, a private header
l_tools=$(n tools/dsq-train.c)
printf '#include "strmap.h"\n' >> include/dsq/err.h        # public, a private header
l_public=$(n include/dsq/err.h)
printf '#include "nosuch.h"\n' >> lib/io/tensor.c          # no such header
l_known=$(n lib/io/tensor.c)
printf '/* stray */\n' > lib/stray.c                          # outside the layer folders
printf '/* twin */\n' > lib/model/err.h                       # a second err.h
printf '/* new */\n' > include/dsq/newapi.h                   # public, not in the table
cd - >/dev/null
got=$(scan "$scratch" "$LAYERS" "$SELF_ALLOW" | grep -v -x -F -f <(printf '%s\n' "$before") | sort)
want=$(sort <<END
order	lib/base/err.c:$l_order: base includes include/dsq/model.h (model)
tools	tools/dsq-train.c:$l_tools: tool includes private lib/base/philox.h
public	include/dsq/err.h:$l_public: public header includes private lib/base/strmap.h
known	lib/io/tensor.c:$l_known: nosuch.h is no header of the tree
folder	lib/stray.c: not in a folder of the layer table
unique	err.h: both include/dsq/err.h and lib/model/err.h
folder	include/dsq/newapi.h: a public header the table does not name
allow	lib/base/err.c nosuch.h: allowed, but there is no such include against the order
END
)
if [ "$got" = "$want" ]; then
  echo "PASS layers self-test: each planted violation is found, and nothing else"
else
  echo "FAIL layers self-test: found something else than the planted violations"
  diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/  /' >&2
fi

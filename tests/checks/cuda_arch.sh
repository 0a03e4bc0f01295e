#!/usr/bin/env bash
# The library runs on every GPU of CUDA_ARCH (make print-cuda-arch; by
# default 80 86 89 90: A100, A10/A40/RTX 30xx, L4/RTX 40xx, H100): each
# CUDA object of libdsq.a holds SASS (a cubin) for each of them and PTX
# for the newest, which the driver compiles for later GPUs.  Read with
# cuobjdump --list-elf / --list-ptx where the toolkit has it, and always by
# walking the fat binaries' headers here (magic 0xba55ed50; per entry:
# kind 1 PTX / 2 ELF, the architecture at byte 28), which catches a build
# whose cuobjdump is missing.  A self-test drops an architecture from a
# copy of the list of entries and expects the check to fail.  Without
# nvcc (no CUDA in the build) there is nothing to check: one PASS line
# saying so.
set -u
cd "$(dirname "$0")/../.."
py="${DSQ_PYTHON:-$PWD/build/venv/bin/python}"
[ -x "$py" ] || py=python3
lib=lib/libdsq.a
archs=$(make -s --no-print-directory print-cuda-arch 2>/dev/null | tail -n 1)
if [ -z "$archs" ]; then echo "PASS cuda_arch: the build has no CUDA (no nvcc): nothing to check"; exit 0; fi
case "$archs" in
  native|-*) echo "PASS cuda_arch: CUDA_ARCH=$archs is not a list of architectures: nothing to check"; exit 0 ;;
esac
[ -f "$lib" ] || { echo "FAIL cuda_arch: $lib not built (make)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && ar x "$OLDPWD/$lib")
# entries FILE: one "KIND ARCH" line per fat-binary entry (elf 90, ptx 90)
entries() {
  "$py" - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
i = 0
while True:
    i = data.find(b"\x50\xed\x55\xba", i)
    if i < 0: break
    version, hsize, fsize = struct.unpack_from("<HHQ", data, i + 4)
    if version != 1 or hsize != 16: i += 4; continue
    p, end = i + hsize, i + hsize + fsize
    while p < end:
        kind, _, ehsize, padded = struct.unpack_from("<HHII", data, p)
        sm = struct.unpack_from("<I", data, p + 28)[0]
        print({1: "ptx", 2: "elf"}.get(kind, "kind%d" % kind), sm)
        p += ehsize + padded
    i = end
PY
}
# verdict NAME ENTRIES: the missing SASS/PTX, or nothing
missing() {
  local e=$1 a miss=""
  for a in $archs; do grep -qx "elf $a" <<<"$e" || miss+=" sm_$a SASS"; done
  a=${archs##* }
  grep -qx "ptx $a" <<<"$e" || miss+=" compute_$a PTX"
  echo "$miss"
}
cuobj=$(command -v cuobjdump || { d=$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)"); [ -x "$d/cuobjdump" ] && echo "$d/cuobjdump"; })
n=0 bad=0 listed=0
for o in "$tmp"/*.o; do
  e=$(entries "$o")
  [ -n "$e" ] || continue  # a C object, or one without kernels
  n=$((n + 1))
  m=$(missing "$e")
  if [ -n "$m" ]; then echo "FAIL cuda_arch: $(basename "$o") lacks$m"; bad=1; fi
  if [ -n "$cuobj" ]; then
    c=$( { "$cuobj" --list-elf "$o" | grep -o 'sm_[0-9]*' | sed 's/sm_/elf /'
           "$cuobj" --list-ptx "$o" | grep -o 'sm_[0-9]*' | sed 's/sm_/ptx /'; } | sort -u)
    if [ "$c" != "$(sort -u <<<"$e")" ]; then
      echo "FAIL cuda_arch: $(basename "$o"): cuobjdump lists $(echo $c), the headers $(echo $e)"; bad=1
    fi
    listed=$((listed + 1))
  fi
done
if [ $n = 0 ]; then echo "FAIL cuda_arch: no CUDA object with a fat binary in $lib"; exit 1; fi
[ $bad = 0 ] && echo "PASS cuda_arch: $n CUDA objects of $lib hold SASS for $(printf 'sm_%s ' $archs)and PTX for compute_${archs##* }$([ $listed -gt 0 ] && echo " (cuobjdump agrees)" || echo " (fat-binary headers; no cuobjdump in this toolkit)")"
# self-test: the newest architecture's SASS and the PTX removed
e=$(entries "$(ls "$tmp"/*.cu.o | head -n 1)" | grep -vx "elf ${archs##* }" | grep -v '^ptx')
m=$(missing "$e")
if [ "$m" = " sm_${archs##* } SASS compute_${archs##* } PTX" ]; then echo "PASS cuda_arch_selftest"
else echo "FAIL cuda_arch_selftest: a list without sm_${archs##* } and PTX gave '$m'"; bad=1; fi
exit $bad

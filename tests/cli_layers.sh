#!/usr/bin/env bash
# The library's layers depend one way: core <- eis <- io <- nn <- plot <- ml
# <- cli (src/LAYER/). Checks, for every layer, that
#  - each eisnet symbol its static library (libeisnet_LAYER.a, next to the
#    binary) uses is defined in that layer or one below it, and
#  - each public header its sources include ("eisnet/x.h") belongs to that
#    layer or one below it. A header belongs to the layer of the source file
#    of the same name, or to the one named in HEADER_LAYER below.
# Usage: cli_layers.sh eisnet
. "$(dirname "$0")/lib.sh"
SRC=${EISNET_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
LIBDIR=$(dirname "$BIN")
LAYERS=(core eis io nn plot ml cli)
declare -A HEADER_LAYER=([kernels]=nn [backend]=nn [readers]=io [select]=core [array]=core)
command -v nm >/dev/null || { echo "cli_layers: skipped, no nm"; exit 77; }

rank() { local i; for i in "${!LAYERS[@]}"; do [ "${LAYERS[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }

# symbols defined by each layer
for L in "${LAYERS[@]}"; do
  [ "$L" = cli ] && continue
  a="$LIBDIR/libeisnet_$L.a"
  [ -f "$a" ] || { bad "missing $a (built by CMake's layer targets)"; continue; }
  nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u >"$T/def_$L"
done
# each layer's undefined eisnet symbols must come from itself or below
for i in "${!LAYERS[@]}"; do
  L=${LAYERS[$i]}; [ "$L" = cli ] && continue
  [ -f "$T/def_$L" ] || continue
  nm -g --undefined-only "$LIBDIR/libeisnet_$L.a" 2>/dev/null | awk '{print $NF}' | grep '^eisnet_' | sort -u >"$T/undef_$L"
  while read -r sym; do
    found=""
    for j in "${!LAYERS[@]}"; do
      M=${LAYERS[$j]}; [ "$M" = cli ] && continue
      if grep -qxF "$sym" "$T/def_$M"; then found=$M; [ "$j" -le "$i" ] || bad "layer $L uses $sym of the upper layer $M"; break; fi
    done
    [ -n "$found" ] || bad "layer $L uses $sym, defined in no layer"
  done <"$T/undef_$L"
  ok
done
# includes of public headers
for i in "${!LAYERS[@]}"; do
  L=${LAYERS[$i]}
  for f in "$SRC"/src/"$L"/*.[ch]; do
    for h in $(sed -n 's/^#include "eisnet\/\([a-z_0-9]*\)\.h".*/\1/p' "$f"); do
      hl=${HEADER_LAYER[$h]:-}
      if [ -z "$hl" ]; then
        c=$(ls "$SRC"/src/*/"$h".c 2>/dev/null | head -1)
        [ -n "$c" ] && hl=$(basename "$(dirname "$c")")
      fi
      if [ -z "$hl" ]; then bad "$f includes eisnet/$h.h, whose layer is unknown (add it to HEADER_LAYER in $0)"; continue; fi
      [ "$(rank "$hl")" -le "$i" ] || bad "$f ($L) includes eisnet/$h.h of the upper layer $hl"
    done
  done
  ok
done
# public headers include only headers of their own layer or below
for hf in "$SRC"/include/eisnet/*.h; do
  h=$(basename "$hf" .h)
  hl=${HEADER_LAYER[$h]:-}
  [ -z "$hl" ] && { c=$(ls "$SRC"/src/*/"$h".c 2>/dev/null | head -1); [ -n "$c" ] && hl=$(basename "$(dirname "$c")"); }
  [ -n "$hl" ] || { bad "eisnet/$h.h has no layer (add it to HEADER_LAYER in $0)"; continue; }
  for g in $(sed -n 's/^#include "eisnet\/\([a-z_0-9]*\)\.h".*/\1/p' "$hf"); do
    gl=${HEADER_LAYER[$g]:-}
    [ -z "$gl" ] && { c=$(ls "$SRC"/src/*/"$g".c 2>/dev/null | head -1); [ -n "$c" ] && gl=$(basename "$(dirname "$c")"); }
    [ -n "$gl" ] || { bad "eisnet/$g.h has no layer"; continue; }
    [ "$(rank "$gl")" -le "$(rank "$hl")" ] || bad "eisnet/$h.h ($hl) includes eisnet/$g.h of the upper layer $gl"
  done
done
ok
finish

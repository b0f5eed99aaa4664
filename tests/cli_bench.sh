#!/usr/bin/env bash
# eisnet bench --quick on a tiny size: it runs, prints the seed's table and
# writes it with --out. Speed itself is not judged here (see docs/performance.md).
. "$(dirname "$0")/lib.sh"
EISNET_BENCH_NO_PYTORCH=1 "$BIN" bench --quick --n_ground_truths 3 --samples_per_gt 200 --out "$T/bench.md" --quiet >"$T/out" 2>"$T/err" \
  && ok || bad "bench failed: $(cat "$T/err")"
for row in "time per 500k-sample epoch" "single prediction" "online update" "peak memory" "dataset generation"; do
  grep -q "$row" "$T/out" && ok || bad "no '$row' row"
done
cmp -s "$T/out" "$T/bench.md" && ok || bad "--out differs from stdout"
grep -qw "nan" "$T/out" && bad "a cell reads nan: $(grep -w nan "$T/out" | head -1)" || ok
grep -q "PyTorch was not measured" "$T/out" && ok || bad "no note that PyTorch was skipped"
"$BIN" bench --bogus >/dev/null 2>&1 && bad "unknown option accepted" || ok
finish

#!/usr/bin/env bash
# eisnet fit from the command line: table, JSON, plots, a directory of
# spectra, impedance.py's example, and bad input. Usage: cli_fit.sh eisnet
. "$(dirname "$0")/lib.sh"
SRC=${EISNET_SOURCE_DIR:-.}

# a series R-(R||C)-(R||C) spectrum, descending frequencies, with a header
awk 'BEGIN { pi = atan2(0, -1); print "freq,Re(Z),Im(Z)";
  for (k = 49; k >= 0; k--) { f = 10 ^ (6 * k / 49); w = 2 * pi * f;
    re = 460; im = 0;
    split("4820 3.7e-6 2210 3.4e-6", p, " ");
    for (i = 1; i <= 3; i += 2) { r = p[i]; c = p[i + 1]; d = 1 + (w * r * c) ^ 2; re += r / d; im -= w * r * r * c / d }
    printf "%.12g,%.12g,%.12g\n", f, re, im } }' >"$T/series.csv"

"$BIN" fit --spectrum "$T/series.csv" --quiet >"$T/x" 2>"$T/err"
if grep -q "built without GSL" "$T/err"; then echo "cli_fit: skipped, eisnet was built without GSL"; exit 77; fi

# data that fail the Kramers-Kronig test (a drift below 10 Hz) get a warning; clean data none
awk -F, 'NR == 1 { print; next } { g = ($1 < 10) ? 1 + 0.3 * (1 - log($1) / log(10)) : 1; printf "%s,%.15g,%s\n", $1, $2 * g, $3 }' \
  "$T/series.csv" >"$T/drift.csv"
"$BIN" fit --spectrum "$T/drift.csv" >/dev/null 2>"$T/err" && ok || bad "fit drift: $(cat "$T/err")"
grep -q "eisnet fit: warning: .*fails the Kramers-Kronig test" "$T/err" && ok || bad "no KK warning in fit: $(cat "$T/err")"
"$BIN" fit --spectrum "$T/series.csv" >/dev/null 2>"$T/err"
grep -q "Kramers-Kronig" "$T/err" && bad "KK warning on clean data: $(cat "$T/err")" || ok

# table: every parameter, the symmetry named, residuals
"$BIN" fit --spectrum "$T/series.csv" --plots "$T/plots" --quiet >"$T/table" 2>"$T/err" && ok || bad "fit table: $(cat "$T/err")"
for w in Rsh Ra Ca Rb Cb "95 % interval" "reduced chi2" "correlation" "equivalent to 1 (Ra<->Rb, Ca<->Cb)" "residuals"; do
  grep -qF -- "$w" "$T/table" && ok || bad "table lacks '$w'"
done
# the values (modulo the branch swap): Rsh exactly, and {Ra, Rb} = {4820, 2210}
rsh=$(awk '$1 == "Rsh" { print $2; exit }' "$T/table")
awk -v v="$rsh" 'BEGIN { exit !(v > 459.99 && v < 460.01) }' && ok || bad "Rsh = $rsh"
ra=$(awk '$1 == "Ra" { print $2; exit }' "$T/table"); rb=$(awk '$1 == "Rb" { print $2; exit }' "$T/table")
awk -v a="$ra" -v b="$rb" 'BEGIN { x = (a < b) ? a : b; y = (a < b) ? b : a;
  exit !(x > 2209.9 && x < 2210.1 && y > 4819.9 && y < 4820.1) }' && ok || bad "Ra, Rb = $ra, $rb"
for f in nyquist.svg bode.svg residuals.svg; do
  [ -s "$T/plots/$f" ] && ok || bad "missing plot $f"
  if command -v xmllint >/dev/null; then xmllint --noout "$T/plots/$f" && ok || bad "$f is not valid XML"; fi
done

# JSON: the documented keys; --known holds values fixed
"$BIN" fit --spectrum "$T/series.csv" --known Rsh=460,Ra=4820,Rb=2210 --json >"$T/j.json" 2>"$T/err" && ok || bad "fit --json: $(cat "$T/err")"
for k in '"circuit"' '"parameters"' '"value"' '"stderr"' '"ci95"' '"unit"' '"chi2"' '"chi2_reduced"' '"aic"' '"bic"' '"solutions"' '"residuals"'; do
  grep -qF -- "$k" "$T/j.json" && ok || bad "JSON lacks $k"
done
if command -v python3 >/dev/null; then
  python3 - "$T/j.json" <<'EOF' && ok || bad "JSON values"
import json, sys
d = json.load(open(sys.argv[1]))
p = d["parameters"]
assert p["Rsh"]["known"] and p["Rsh"]["value"] == 460 and p["Rsh"]["stderr"] == 0
assert abs(p["Ca"]["value"] / 3.7e-6 - 1) < 1e-5 and abs(p["Cb"]["value"] / 3.4e-6 - 1) < 1e-5, p
lo, hi = p["Ca"]["ci95"]
assert lo <= p["Ca"]["value"] <= hi
assert len(d["residuals"]["freq"]) == 50 and d["circuit"] == "R0-p(R1,C1)-p(R2,C2)"
EOF
fi

# impedance.py's example, cropped to the capacitive points as its tutorial
# does; no guess, no ranges: mean |Z - Zfit| below its tutorial's 5.4e-4 ohm
awk -F, '$3 < 0' "$SRC/tests/data/exampleData.csv" >"$T/example.csv"
"$BIN" fit --spectrum "$T/example.csv" --circuit 'R0-p(R1,C1)-p(R2-Wo1,C2)' --weighting unit --json >"$T/ex.json" 2>"$T/err" \
  && ok || bad "example fit: $(cat "$T/err")"
if command -v python3 >/dev/null; then
  python3 - "$T/ex.json" "$T/example.csv" <<'EOF' && ok || bad "example: mean |Z - Zfit|"
import json, sys, math
d = json.load(open(sys.argv[1]))
rows = sorted(tuple(map(float, l.split(","))) for l in open(sys.argv[2]) if l.strip())
r = d["residuals"]
err = [math.hypot(a, b) * math.hypot(z[1], z[2]) for a, b, z in zip(r["relative_re"], r["relative_im"], rows)]
m = sum(err) / len(err)
print("mean |Z - Zfit| = %.3g ohm" % m)
assert len(rows) == 57 and m < 5.4e-4, m
EOF
fi

# a directory: one JSON line per spectrum in name order, a bad one reported in its line
mkdir -p "$T/many"; cp "$T/series.csv" "$T/many/a.csv"; cp "$T/series.csv" "$T/many/b.csv"
printf 'freq,re,im\n1,2,-3\n2,nan,-4\n3,4,-5\n' >"$T/many/c.csv"
"$BIN" fit --spectrum "$T/many" --quiet >"$T/many.jsonl" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <"$T/many.jsonl")" -eq 3 ] && [ "$(grep -c '"chi2"' "$T/many.jsonl")" -eq 2 ] \
  && sed -n 3p "$T/many.jsonl" | grep -q '"error"' && ok || bad "directory: rc=$rc $(cut -c1-80 "$T/many.jsonl")"

# starts from a (tiny) network's completions given the known values
D=$T/model
if "$BIN" generate --n_ground_truths 6 --data_dir "$D" --quiet &&
   "$BIN" train --data_dir "$D" --n_epochs 1 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 --hidden_dim 32 --quiet >/dev/null; then
  M=$D/model.safetensors
  "$BIN" fit --spectrum "$T/series.csv" --model "$M" --known Rsh=460,Ra=4820,Rb=2210 >"$T/m.txt" 2>"$T/err" \
    && grep -q "reached from the network's completion" "$T/m.txt" && ok || bad "fit --model: $(cat "$T/err") $(head -12 "$T/m.txt")"
  cb=$(awk '$1 == "Cb" { print $2; exit }' "$T/m.txt")
  awk -v v="$cb" 'BEGIN { exit !(v > 3.3999e-6 && v < 3.4001e-6) }' && ok || bad "fit --model: Cb = $cb"
  expect_error "--model needs --known" fit --spectrum "$T/series.csv" --model "$M"
  expect_error "is for circuit R0-p(R1,C1)-p(R2,C2), not R0-p(R1,CPE1)" fit --spectrum "$T/series.csv" --model "$M" --circuit 'R0-p(R1,CPE1)' --known R0=1
else
  bad "generate/train for the --model test"
fi

# bad input: one line naming the problem, non-zero exit
expect_error "--known: unknown parameter 'Rq'" fit --spectrum "$T/series.csv" --known Rq=5
expect_error "empty box" fit --spectrum "$T/series.csv" --range Ra=100:10
expect_error "c.csv:3" fit --spectrum "$T/many/c.csv"
printf '1,2,-3\n10,3,-4\n100,5,-6\n' >"$T/three.csv"
expect_error "7 free parameters but the spectrum gives only 6 real data" fit --spectrum "$T/three.csv" --circuit 'R0-p(R1,C1)-p(R2-Wo1,C2)'
expect_error "--weighting must be modulus, unit or proportional" fit --spectrum "$T/series.csv" --weighting loud
expect_error "--starts must be between 1 and 64" fit --spectrum "$T/series.csv" --starts 0
expect_error "--spectrum is required" fit
expect_error "unknown element" fit --spectrum "$T/series.csv" --circuit 'R0-Q1'
expect_error "--plots takes a single spectrum" fit --spectrum "$T/many" --plots "$T/p2"
finish

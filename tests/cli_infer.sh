#!/usr/bin/env bash
# eisnet infer from the command line: table, JSON, many spectra, plots,
# --mode inference, and every kind of bad input. Usage: cli_infer.sh eisnet
. "$(dirname "$0")/lib.sh"
D=$T/data
"$BIN" generate --n_ground_truths 6 --data_dir "$D" --quiet || bad "generate"
"$BIN" train --data_dir "$D" --n_epochs 1 --samples_per_epoch 20000 --val_samples 1000 --hidden_dim 32 --evaluate 0 --quiet \
  >/dev/null || bad "train"
M=$D/model.safetensors

# a spectrum file from the dataset's first ground truth (via numpy-free awk: use the demo of full instead)
"$BIN" infer --model "$M" --ground_truth lhs_0000 --data_dir "$D" --json >"$T/gt.json" 2>"$T/err" && ok || bad "infer --ground_truth: $(cat "$T/err")"
grep -q '"top_k_predictions"' "$T/gt.json" && grep -q '"joint_distribution"' "$T/gt.json" && ok || bad "JSON keys"
# write a measured spectrum: series RC, descending frequencies, with header
awk 'BEGIN { pi = atan2(0, -1); print "freq,Re(Z),Im(Z)";
  for (k = 56; k >= 0; k--) { f = 10 ^ (-0.2 + 6.4 * k / 56); w = 2 * pi * f;
    re = 460; im = 0;
    split("4820 3.7e-6 2210 3.4e-6", p, " ");
    for (i = 1; i <= 3; i += 2) { r = p[i]; c = p[i + 1]; d = 1 + (w * r * c) ^ 2; re += r / d; im -= w * r * r * c / d }
    printf "%.10g,%.10g,%.10g\n", f, re, im } }' >"$T/meas.csv"
"$BIN" infer --model "$M" --spectrum "$T/meas.csv" --known Rsh=460,Ra=4820,Rb=2210 --exact --plots "$T/plots" \
  >"$T/table" 2>"$T/err" && ok || bad "infer --spectrum: $(cat "$T/err")"
grep -q "rank" "$T/table" && grep -q "KL(exact || network)" "$T/table" && ok || bad "table: $(head -5 "$T/table")"
for f in joint.svg marginal_Ca.svg marginal_Cb.svg nyquist.svg bode.svg; do
  [ -s "$T/plots/$f" ] && ok || bad "missing plot $f"
  if command -v xmllint >/dev/null; then xmllint --noout "$T/plots/$f" && ok || bad "$f is not valid XML"; fi
  if command -v rsvg-convert >/dev/null; then rsvg-convert -o "$T/p.png" "$T/plots/$f" && ok || bad "$f does not render"; fi
done
# one missing: marginal only
"$BIN" infer --model "$M" --spectrum "$T/meas.csv" --known Rsh=460,Ra=4820,Rb=2210,Ca=3.7e-6 --json --plots "$T/p1" \
  >"$T/one.json" 2>/dev/null && grep -q '"grid_index"' "$T/one.json" && [ -s "$T/p1/marginal_Cb.svg" ] && [ ! -e "$T/p1/joint.svg" ] \
  && ok || bad "one missing parameter"
# many spectra: a directory in, one JSON line per spectrum out (a bad one reported in its line)
mkdir -p "$T/many"; cp "$T/meas.csv" "$T/many/a.csv"; cp "$T/meas.csv" "$T/many/b.csv"; printf 'freq,re,im\n1,2,3\n' >"$T/many/c.csv"
"$BIN" infer --model "$M" --spectrum "$T/many" --known Rsh=460,Ra=4820,Rb=2210 --json >"$T/many.jsonl" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <"$T/many.jsonl")" -eq 3 ] && grep -q '"error"' "$T/many.jsonl" && ok || bad "many spectra: rc=$rc $(cat "$T/many.jsonl")"
# the reference's --mode inference: first ground truth, knowing Rsh, Ra, Rb
"$BIN" --mode inference --data_dir "$D" >"$T/ref" 2>"$T/err" && grep -q "lhs_0000" "$T/ref" && ok || bad "--mode inference: $(cat "$T/err")"

K="--known Rsh=460,Ra=4820,Rb=2210"
expect_error "unknown parameter 'Rq'" infer --model "$M" --spectrum "$T/meas.csv" --known Rq=5
expect_error "all 5 parameters are known" infer --model "$M" --spectrum "$T/meas.csv" --known Rsh=460,Ra=4820,Rb=2210,Ca=1e-6,Cb=1e-6
expect_error "--known is required" infer --model "$M" --spectrum "$T/meas.csv"
expect_error "outside the model's range" infer --model "$M" --spectrum "$T/meas.csv" --known Rsh=1e6
expect_error "must be positive" infer --model "$M" --spectrum "$T/meas.csv" --known Rsh=-3
printf 'freq,re,im\n1,2,3\n2,nan,4\n3,4,5\n' >"$T/nan.csv"
expect_error "nan.csv:3" infer --model "$M" --spectrum "$T/nan.csv" $K
printf '1,2,3\n2,3,4\n' >"$T/two.csv"
expect_error "need at least 3" infer --model "$M" --spectrum "$T/two.csv" $K
printf '1,2,3\n2,3,4\n2,5,6\n' >"$T/dup.csv"
expect_error "duplicate frequency" infer --model "$M" --spectrum "$T/dup.csv" $K
printf 'f,re,im\n1,2,3\n2,x3,4\n3,4,5\n' >"$T/word.csv"
expect_error "word.csv:3: 'x3' is not a number" infer --model "$M" --spectrum "$T/word.csv" $K
printf '10,2,-3\n100,3,-4\n1000,5,-6\n' >"$T/narrow.csv"
expect_error "--extrapolate" infer --model "$M" --spectrum "$T/narrow.csv" $K
"$BIN" infer --model "$M" --spectrum "$T/narrow.csv" $K --extrapolate >/dev/null 2>&1 && ok || bad "--extrapolate"
expect_error "not an eisnet model" infer --model "$T/meas.csv" --spectrum "$T/meas.csv" $K
expect_error "not an eisnet model" infer --model "$T/nothing.safetensors" --spectrum "$T/meas.csv" $K
expect_error "no ground truth 'zzz'" infer --model "$M" --ground_truth zzz --data_dir "$D"
expect_error "--top_k must be at least 1" infer --model "$M" --spectrum "$T/meas.csv" $K --top_k 0
expect_error "cannot open" infer --model "$M" --spectrum "$T/none.csv" $K
expect_error "--sigma must be positive" infer --model "$M" --spectrum "$T/meas.csv" $K --sigma -0.1

# --exact: the Bayes posterior (converged) and no contradiction warning for consistent known values (this
# tiny model, normalised on six spectra, may still warn that the spectrum lies outside its training)
"$BIN" infer --model "$M" --spectrum "$T/meas.csv" --known Rsh=460,Ra=4820,Rb=2210 --exact --json >"$T/x.json" 2>"$T/err" \
  && grep -Eq '"converged":[[:space:]]*true' "$T/x.json" && ! grep -q 'contradict' "$T/x.json" \
  && grep -q '"kl_divergence"' "$T/x.json" && grep -q '"best_relative_misfit"' "$T/x.json" \
  && grep -Eq '"peak_missed_by_boxes":[[:space:]]*false' "$T/x.json" \
  && ok || bad "--exact JSON: $(head -c 400 "$T/x.json") $(cat "$T/err")"
# known values that contradict the spectrum: a warning in the table
"$BIN" infer --model "$M" --spectrum "$T/meas.csv" --known Rsh=1500,Ra=4820,Rb=2210 >"$T/w.txt" 2>"$T/err" \
  && grep -q "WARNING: the known values contradict the spectrum" "$T/w.txt" && ok || bad "no contradiction warning: $(tail -3 "$T/w.txt")"

finish

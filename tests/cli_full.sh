#!/usr/bin/env bash
# eisnet full (and the reference's --mode full) on a tiny size: generate ->
# train -> infer, the summary of where the outputs are, and the files.
. "$(dirname "$0")/lib.sh"
A="--n_ground_truths 6 --n_epochs 2 --samples_per_epoch 3000 --val_samples 500 --hidden_dim 32 --evaluate 5 --quiet"
"$BIN" full $A --data_dir "$T/a" >"$T/out" 2>"$T/err" && ok || bad "full failed: $(cat "$T/err")"
grep -q "== outputs ==" "$T/out" && grep -q "plots:" "$T/out" && ok || bad "no summary: $(tail -5 "$T/out")"
grep -q "trained by simulation: held-out top-1" "$T/out" && ok || bad "no training report"
grep -q "== evaluation on 5 fresh simulations per mask" "$T/out" && ok || bad "no closing evaluation"
for f in resnorm.npy dataset.npz dataset_summary.txt ground_truth_metadata.json model.safetensors model.npz \
         model.history.svg demo_spectrum.csv plots/joint.svg plots/nyquist.svg plots/bode.svg; do
  [ -s "$T/a/$f" ] && ok || bad "missing $f"
done
"$BIN" --mode full --backend auto $A --n_workers 2 --batch_size 128 --data_dir "$T/b" >"$T/out" 2>"$T/err" \
  && grep -q "== outputs ==" "$T/out" && ok || bad "--mode full failed: $(cat "$T/err")"
expect_error "at least 2" full --n_ground_truths 1 --data_dir "$T/c"
expect_error "--features must be" full $A --features nope --data_dir "$T/d"
[ -e "$T/d" ] && bad "full generated before refusing a bad option" || ok
finish

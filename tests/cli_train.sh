#!/usr/bin/env bash
# eisnet train from the command line: the reference's command, errors,
# Ctrl-C leaving a loadable checkpoint, --resume. Usage: cli_train.sh eisnet
. "$(dirname "$0")/lib.sh"
D=$T/data
"$BIN" generate --n_ground_truths 6 --data_dir "$D" --quiet || bad "generate"
# the reference's command form
"$BIN" --mode train --backend cpu --n_ground_truths 6 --n_epochs 2 --batch_size 256 --data_dir "$D" \
  --samples_per_gt 300 --hidden_dim 32 --quiet >"$T/out" 2>"$T/err" && ok || bad "--mode train: $(cat "$T/err")"
grep -q "held-out accuracy" "$T/out" && ok || bad "no accuracy report: $(cat "$T/out")"
for f in model.safetensors model.npz model.last.safetensors model.state.safetensors model.history.csv model.history.json model.history.svg; do
  [ -s "$D/$f" ] && ok || bad "missing $f"
done
[ "$(wc -l <"$D/model.history.csv")" -eq 3 ] && ok || bad "history has $(wc -l <"$D/model.history.csv") lines"

expect_error "run \`eisnet generate" train --data_dir "$T/none"
expect_error "has 6 ground truths, not 100" --mode train --n_ground_truths 100 --data_dir "$D"
expect_error "--batch_size must be at least 1" train --data_dir "$D" --batch_size 0
expect_error "expects an integer" train --data_dir "$D" --batch_size many
expect_error "more than the 248832" train --data_dir "$D" --samples_per_gt 300000
expect_error "--features must be" train --data_dir "$D" --features pixels
expect_error "--known must be between 1 and 4" train --data_dir "$D" --known 0
expect_error "--hidden_dim must be an even" train --data_dir "$D" --hidden_dim 7
expect_error "--val_fraction" train --data_dir "$D" --val_fraction 1.5
expect_error "unknown option '--circuit'" train --data_dir "$D" --circuit series

# Ctrl-C mid-run: exit 130, the last checkpoint loads, --resume continues it
"$BIN" train --data_dir "$D" --model_path "$T/int.safetensors" --n_epochs 100000 --samples_per_gt 300 \
  --hidden_dim 32 --quiet >"$T/out" 2>"$T/err" &
pid=$!
for i in $(seq 1 100); do [ -s "$T/int.last.safetensors" ] && break; sleep 0.1; done
sleep 0.3
kill -INT $pid
wait $pid; rc=$?
[ $rc -eq 130 ] && ok || bad "interrupted train exit $rc: $(cat "$T/err")"
grep -q "continue with --resume" "$T/err" && ok || bad "no resume hint: $(cat "$T/err")"
ls "$T" | grep -q "tmp\." && bad "temporary files left: $(ls "$T")" || ok
"$BIN" train --data_dir "$D" --model_path "$T/int.safetensors" --resume --n_epochs 1 --samples_per_gt 300 \
  --hidden_dim 32 --quiet >"$T/out" 2>"$T/err"; rc=$?
# resuming past n_epochs runs no epoch but must load the checkpoint and state
[ $rc -eq 0 ] && ok || bad "resume after Ctrl-C failed: $(cat "$T/err")"

finish

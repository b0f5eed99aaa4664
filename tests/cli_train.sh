#!/usr/bin/env bash
# eisnet train from the command line: training by simulation without a
# dataset (the default), the reference's command and rows, errors, Ctrl-C
# leaving a loadable checkpoint, --resume, the default epochs following the
# products' precision. Usage: cli_train.sh eisnet
. "$(dirname "$0")/lib.sh"
S="--samples_per_epoch 3000 --val_samples 500 --hidden_dim 32 --evaluate 0"
# the default: by simulation, no `generate` needed; the directory holds just the model
"$BIN" train --data_dir "$T/sim" --n_epochs 2 $S --evaluate 10 --quiet >"$T/out" 2>"$T/err" && ok || bad "train: $(cat "$T/err")"
# it ends with the evaluation against the exact posterior
grep -q "== evaluation on 10 fresh simulations per mask (exact posterior on 1 of them" "$T/out" && ok \
  || bad "no closing evaluation: $(cat "$T/out")"
grep -q "trained by simulation on 6000 fresh spectra (sigma 0.01)" "$T/out" && ok || bad "no simulation report: $(cat "$T/out")"
grep -q "held-out accuracy" "$T/out" && grep -q "by number of missing parameters: 1:" "$T/out" && ok \
  || bad "no accuracy report: $(cat "$T/out")"
for f in model.safetensors model.npz model.last.safetensors model.state.safetensors model.history.csv model.history.json model.history.svg; do
  [ -s "$T/sim/$f" ] && ok || bad "missing $f"
done
[ -e "$T/sim/resnorm.npy" ] && bad "a dataset was written" || ok
# the configuration is JSON inside the header's JSON: compare without the escapes
cfg_has() { tr -d '\\' <"$1" | head -c 200000 | grep -aqF -- "$2"; }
cfg_has "$T/sim/model.safetensors" '"training":"simulation"' && cfg_has "$T/sim/model.safetensors" '"sigma":0.01,' \
  && cfg_has "$T/sim/model.safetensors" '"known_scaling":"unit"' && ok || bad "configuration lacks the simulation fields"
# eisnet update loads a model trained by simulation
"$BIN" update --model "$T/sim/model.safetensors" --input /dev/null --quiet >"$T/out" 2>"$T/err" && ok \
  || bad "update of a simulation model: $(cat "$T/err")"

D=$T/data
"$BIN" generate --n_ground_truths 6 --data_dir "$D" --quiet || bad "generate"
# the reference's command form, with the reference's input and rows
"$BIN" --mode train --backend cpu --n_ground_truths 6 --n_epochs 2 --batch_size 256 --data_dir "$D" \
  --samples_per_gt 300 --hidden_dim 32 --features params --sampling uniform --quiet >"$T/out" 2>"$T/err" && ok \
  || bad "--mode train: $(cat "$T/err")"
grep -q "held-out accuracy" "$T/out" && ok || bad "no accuracy report: $(cat "$T/out")"
cfg_has "$D/model.safetensors" '"training":"uniform"' && cfg_has "$D/model.safetensors" '"features":"params"' && ok \
  || bad "reference mode not recorded"
[ "$(wc -l <"$D/model.history.csv")" -eq 3 ] && ok || bad "history has $(wc -l <"$D/model.history.csv") lines"

# infer answers for the model's sigma, and warns when told another
"$BIN" infer --model "$T/sim/model.safetensors" --data_dir "$D" --ground_truth lhs_0000 --known Rsh=460,Ra=4820 \
  --sigma 0.02 >"$T/out" 2>"$T/err"
grep -q "warning: the model was trained for sigma 0.01, not --sigma 0.02" "$T/err" && ok || bad "no sigma warning: $(cat "$T/err")"
"$BIN" infer --model "$T/sim/model.safetensors" --data_dir "$D" --ground_truth lhs_0000 --known Rsh=460,Ra=4820 \
  >"$T/out" 2>"$T/err"
grep -q "trained for sigma" "$T/err" && bad "sigma warning without --sigma" || ok
grep -q "predicted misfit of the most probable grid values" "$T/out" && grep -q "(sigma 0.01)" "$T/out" && ok \
  || bad "infer of a simulation model: $(cat "$T/out")"

expect_error "run \`eisnet generate" train --sampling topk --data_dir "$T/none"
expect_error "has 6 ground truths, not 100" --mode train --sampling topk --n_ground_truths 100 --data_dir "$D"
expect_error "--batch_size must be at least 1" train --data_dir "$D" --batch_size 0
expect_error "expects an integer" train --data_dir "$D" --batch_size many
expect_error "more than the 248832" train --sampling topk --data_dir "$D" --samples_per_gt 300000
expect_error "--features must be" train --data_dir "$D" --features pixels
expect_error "--sampling must be simulate, topk or uniform" train --data_dir "$D" --sampling best
expect_error "--features params needs --sampling uniform or topk" train --data_dir "$D" --features params
expect_error "--known applies to --sampling topk or uniform" train --data_dir "$D" --known 3
expect_error "--known must be between 1 and 4" train --sampling topk --data_dir "$D" --known 0
expect_error "--sigma must be in (0, 1)" train --data_dir "$T/s2" --sigma 0
expect_error "--dropout must be in [0, 1)" train --data_dir "$T/s2" --dropout 1
expect_error "--lr_decay must be in [0, 1]" train --data_dir "$T/s2" --lr_decay 2
expect_error "--samples_per_epoch must be at least 1" train --data_dir "$T/s2" --samples_per_epoch 0
expect_error "--hidden_dim must be an even" train --data_dir "$D" --hidden_dim 7
expect_error "--val_fraction" train --sampling topk --data_dir "$D" --val_fraction 1.5
expect_error "unknown option '--n_workers'" train --data_dir "$D" --n_workers 2
expect_error "--matmul must be bf16 or fp32 (got 'fp16')" train --data_dir "$T/s2" --matmul fp16
expect_error "--matmul must be bf16 or fp32 (got 'fp16')" full --data_dir "$T/s3" --sampling topk --matmul fp16
[ -e "$T/s3" ] && bad "full generated a dataset before refusing --matmul" || ok
[ -e "$T/s2" ] && bad "a refused training created its directory" || ok

# Ctrl-C mid-run: exit 130, the last checkpoint loads, --resume continues it
"$BIN" train --data_dir "$T/int" --n_epochs 100000 $S --quiet >"$T/out" 2>"$T/err" &
pid=$!
for i in $(seq 1 100); do [ -s "$T/int/model.last.safetensors" ] && break; sleep 0.1; done
sleep 0.3
kill -INT $pid
wait $pid; rc=$?
[ $rc -eq 130 ] && ok || bad "interrupted train exit $rc: $(cat "$T/err")"
grep -q "continue with --resume" "$T/err" && ok || bad "no resume hint: $(cat "$T/err")"
ls "$T/int" | grep -q "tmp\." && bad "temporary files left: $(ls "$T/int")" || ok
"$BIN" train --data_dir "$T/int" --resume --n_epochs 1 $S --quiet >"$T/out" 2>"$T/err"; rc=$?
# resuming past n_epochs runs no epoch but must load the checkpoint and state
[ $rc -eq 0 ] && ok || bad "resume after Ctrl-C failed: $(cat "$T/err")"

# without --n_epochs: 100 epochs, twice that when the products run in
# bfloat16 (the run's first line says which ran); --matmul fp32 gives 100
first_epoch_line() { # $1: data dir, then options; prints the first line and the first epoch's line
  "$BIN" train --data_dir "$1" "${@:2}" --samples_per_epoch 2000 --val_samples 100 --hidden_dim 32 \
    --evaluate 0 >"$T/out" 2>"$T/err" &
  local pid=$!
  for i in $(seq 1 200); do grep -q "^epoch 1/" "$T/err" && break; sleep 0.1; done
  kill -INT $pid; wait $pid
  grep -E "^train: by simulation|^epoch 1/" "$T/err"
}
lines=$(first_epoch_line "$T/ep1")
case "$lines" in
  *"products in bfloat16 (AMX)"*"epoch 1/200:"*|*"products in float32"*"epoch 1/100:"*) ok ;;
  *) bad "default epochs do not follow the products: $lines" ;;
esac
lines=$(first_epoch_line "$T/ep2" --matmul fp32)
case "$lines" in
  *"products in float32"*"epoch 1/100:"*) ok ;;
  *) bad "--matmul fp32: $lines" ;;
esac

finish

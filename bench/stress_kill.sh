#!/usr/bin/env bash
# kill -9 at random moments of train, update and generate, and check what
# must hold afterwards:
#   train:    the last checkpoint and its optimizer state load, and --resume
#             continues from the epoch they were saved at (never a mixed pair)
#   update:   every line acknowledged "ok" before a kill is in the model after
#             the next start (the journal is replayed), and the files load
#   generate: the data directory always holds one whole dataset (the old or
#             the new one) that train can read; the next run removes what the
#             killed one left
# Usage: bench/stress_kill.sh [KILLS (default 50, shared by the three)] [eisnet]
# Prints one line per kill and a summary; exit status 1 on any violation.
set -u
KILLS=${1:-50}
BIN=${2:-build/eisnet}
HERE=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/eisnet_stress.XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
RANDOM=7
fails=0
fail() { echo "VIOLATION: $*"; fails=$((fails + 1)); }
# a random delay between $1 and $2 seconds (tenths)
delay() { awk -v a="$1" -v b="$2" -v r="$RANDOM" 'BEGIN { printf "%.2f", a + (b - a) * r / 32767 }'; }

D=$T/data   # train and update read this one
G=$T/gen    # generate replaces this one (a smaller grid, so that runs finish sometimes)
"$BIN" generate --n_ground_truths 6 --data_dir "$D" --quiet || exit 1
"$BIN" generate --n_ground_truths 6 --grid_points 6 --data_dir "$G" --quiet || exit 1
awk -v N=4000 -v SEED=5 -f "$HERE/tests/update_lines.awk" >"$T/lines.jsonl"

n_train=0; n_update=0; n_gen=0; acked_total=0; sent=0
"$BIN" train --data_dir "$D" --model_path "$T/m.safetensors" --n_epochs 1 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 --hidden_dim 32 \
  --quiet >/dev/null || exit 1
for s in safetensors npz state.safetensors; do cp "$T/m.$s" "$T/u.$s"; done

for k in $(seq 1 "$KILLS"); do
  case $((k % 3)) in
  1) # train, resumed each time, killed at a random moment
    n_train=$((n_train + 1))
    "$BIN" train --data_dir "$D" --model_path "$T/m.safetensors" --resume --n_epochs 100000 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 \
      --hidden_dim 32 --quiet >/dev/null 2>"$T/train.err" &
    p=$!; sleep "$(delay 0.3 2.0)"; kill -9 $p 2>/dev/null; wait $p 2>/dev/null
    # the last checkpoint serves
    "$BIN" infer --model "$T/m.last.safetensors" --ground_truth lhs_0000 --data_dir "$D" --json >/dev/null 2>"$T/i.err" \
      || fail "train kill $k: the last checkpoint does not serve: $(cat "$T/i.err")"
    # resume for one short step in a copy: it must start (a mixed pair would be refused)
    rm -f "$T"/r.*; for s in last.safetensors last.npz state.safetensors state.safetensors.next safetensors npz; do cp "$T/m.$s" "$T/r.$s" 2>/dev/null; done
    "$BIN" train --data_dir "$D" --model_path "$T/r.safetensors" --resume --n_epochs 100000 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 \
      --hidden_dim 32 >/dev/null 2>"$T/r.err" &
    rp=$!; sleep 0.5; kill -TERM $rp 2>/dev/null; wait $rp; rrc=$?
    if [ $rrc -ne 0 ] && [ $rrc -ne 130 ]; then fail "train kill $k: --resume failed ($rrc): $(cat "$T/r.err")"; fi
    echo "kill $k (train): $(grep -o 'resuming after epoch [0-9]*' "$T/r.err" || echo 'no epoch finished yet'), resume rc $rrc"
    ;;
  2) # update fed through a pipe, killed while lines are being acknowledged
    n_update=$((n_update + 1))
    rm -f "$T/fifo"; mkfifo "$T/fifo"
    "$BIN" update --model "$T/u.safetensors" --input "$T/fifo" --checkpoint_every 0.5 --quiet >"$T/acks" 2>/dev/null &
    p=$!
    exec 9>"$T/fifo"
    chunk=$((50 + RANDOM % 200))
    # lines trickle in (as from an instrument), so that kills land between acknowledgements
    sed -n "$((sent % 3800 + 1)),$((sent % 3800 + chunk))p" "$T/lines.jsonl" \
      | while IFS= read -r l; do printf '%s\n' "$l"; sleep 0.004; done >&9 &
    wp=$!
    sleep "$(delay 0.1 1.5)"; kill -9 $p 2>/dev/null; wait $p 2>/dev/null; kill $wp 2>/dev/null; wait $wp 2>/dev/null
    exec 9>&-
    sent=$((sent + chunk))
    a=$(grep -c '"ok":true' "$T/acks")
    acked_total=$((acked_total + a))
    "$BIN" update --model "$T/u.safetensors" --input /dev/null >/dev/null 2>"$T/u.err" \
      || fail "update kill $k: the model does not load: $(cat "$T/u.err")"
    have=$(sed -n 's/.*updates (\([0-9]*\) in all).*/\1/p' "$T/u.err")
    [ "${have:-0}" -ge "$acked_total" ] || fail "update kill $k: $acked_total lines acknowledged in all, the model holds $have updates"
    echo "kill $k (update): $a acknowledged this run, $acked_total in all, model holds ${have:-?} updates"
    ;;
  0) # generate replacing the dataset, killed at a random moment
    n_gen=$((n_gen + 1))
    "$BIN" generate --data_dir "$G" --n_ground_truths $((100 + RANDOM % 2900)) --grid_points 6 --quiet &
    p=$!; sleep "$(delay 0.05 1.5)"; kill -9 $p 2>/dev/null; wait $p 2>/dev/null
    [ -s "$G/dataset.json" ] || fail "generate kill $k: dataset.json is missing"
    "$BIN" train --data_dir "$G" --model_path "$T/g.safetensors" --n_epochs 1 --samples_per_epoch 2000 --val_samples 200 --evaluate 0 --hidden_dim 4 \
      --quiet >/dev/null 2>"$T/g.err" || fail "generate kill $k: the dataset does not load: $(cat "$T/g.err")"
    left=$(ls -A "$G" | grep -cE 'tmp|staging')
    n=$(tr -d "\t\n " <"$G/dataset.json" | sed -n "s/.*\"n_ground_truths\":\([0-9]*\).*/\1/p")
    echo "kill $k (generate): dataset of ${n:-?} ground truths loads; $left leftovers of the killed run (removed by the next)"
    ;;
  esac
done
# the next generate removes what the killed ones left
"$BIN" generate --data_dir "$G" --n_ground_truths 6 --grid_points 6 --quiet || fail "final generate"
left=$(ls -A "$G" | grep -cE 'tmp|staging')
[ "$left" -eq 0 ] || fail "leftovers after the next generate: $(ls -A "$G")"
echo "stress_kill: $KILLS kills ($n_train train, $n_update update, $n_gen generate), $acked_total acknowledged update lines, $fails violations"
[ $fails -eq 0 ]

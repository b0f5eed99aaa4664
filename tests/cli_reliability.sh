#!/usr/bin/env bash
# Reliability from the command line: bad flags refused before any work with
# one line naming the flag, bad files refused before allocating, input bytes
# escaped when echoed, temporary files and locks. Usage: cli_reliability.sh eisnet
. "$(dirname "$0")/lib.sh"
D=$T/data
"$BIN" generate --n_ground_truths 4 --data_dir "$D" --quiet || bad "generate"
"$BIN" train --data_dir "$D" --n_epochs 1 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 --hidden_dim 16 --quiet >/dev/null || bad "train"
M=$D/model.safetensors
K="--known Rsh=460,Ra=4820,Rb=2210"

# --- flags: checked for every command before any work ---
expect_error "--threads must be at most 1024" train --data_dir "$D" --threads 100000
expect_error "--threads must be at least 1" train --data_dir "$D" --threads -5
expect_error "--threads must be at least 1" infer --model "$M" --threads 0 --ground_truth lhs_0000 --data_dir "$D"
expect_error "--threads must be at least 1" update --model "$M" --threads=0
expect_error "--n_workers must be at least 1" generate --data_dir "$T/g0" --n_workers 0
expect_error "--hidden_dim must be an even number" train --data_dir "$D" --hidden_dim 65536
expect_error "--val_fraction must be in [0, 1)" update --model "$M" --val_fraction 2
expect_error "--checkpoint_every" update --model "$M" --checkpoint_every -1
# full: refused before generate runs (nothing created)
expect_error "--top_k must be at least 1" full --data_dir "$T/full" --top_k -1
[ ! -e "$T/full" ] && ok || bad "full --top_k -1 created $T/full"
# bench: an unwritable --out is reported first, not after the whole bench
expect_error "--out $T/nonexistent/x" bench --out "$T/nonexistent/x"
# the model's directory must exist and be writable before the first epoch
expect_error "--model_path $T/nodir/m.safetensors" train --data_dir "$D" --model_path "$T/nodir/m.safetensors" --n_epochs 1
expect_error "--data_dir: cannot create directory $D/dataset.json/sub: Not a directory" generate --data_dir "$D/dataset.json/sub"

# --- generate: the size is estimated first; too large is refused naming the flag ---
expect_error "--grid_points 80 over 5 parameters) is over the limit" generate --grid_points 80 --data_dir "$T/g80"
[ ! -e "$T/g80" ] && ok || bad "a refused generate created its directory"
C7="--circuit R0-p(R1,C1)-p(R2,C2)-p(R3,C3) --range R0=1:10 --range R1=1:10 --range R2=1:10 --range R3=1:10 --range C1=1e-6:1e-5 --range C2=1e-6:1e-5 --range C3=1e-6:1e-5"
expect_error "resnorm.npy would take 3.8 GB (100 ground truths x 4782969 grid models: --grid_points 9 over 7 parameters), over the limit of 2.0 GB" generate $C7 --grid_points 9 --data_dir "$T/g7"
expect_error "over the largest array eisnet writes (8.6 GB)" generate $C7 --grid_points 9 --n_ground_truths 300 --force --data_dir "$T/g7"
"$BIN" generate --n_ground_truths 2 --grid_points 3 --data_dir "$T/g3" 2>"$T/err" >/dev/null
grep -q "generate: 2 ground truths x 243 grid models (5 parameters x 3 grid points) = 4.0 kB in resnorm.npy" "$T/err" \
  && ok || bad "size estimate: $(cat "$T/err")"

# --- files: what a file really is decides, before reading or allocating ---
expect_error "not a regular file" infer --model /dev/zero --ground_truth lhs_0000 --data_dir "$D"
expect_error "cannot read /tmp: Is a directory" generate --data_dir "$T/g2" --ground_truths /tmp
printf 'freq,re,im\n1,0,0\n10,0,0\n100,0,0\n1000,0,0\n' >"$T/zero.csv"
expect_error "every impedance is zero" infer --model "$M" --spectrum "$T/zero.csv" $K --extrapolate
# a huge --ground_truths file is refused by its size, not parsed
head -c $((5 << 20)) /dev/zero | tr '\0' ' ' >"$T/big.json"
expect_error "file too large" generate --data_dir "$T/g1" --ground_truths "$T/big.json"
# control characters and invalid UTF-8 from a file are escaped when echoed
printf 'freq,re,im\n1,2,3\n\033[2J\377x,1,1\n' >"$T/ctl.csv"
"$BIN" infer --model "$M" --spectrum "$T/ctl.csv" $K >/dev/null 2>"$T/err"
if LC_ALL=C grep -q $'\033' "$T/err" || LC_ALL=C grep -q $'\377' "$T/err"; then bad "raw bytes echoed: $(od -c "$T/err" | head -3)"
else grep -qF '[2J\xFFx' "$T/err" && ok || bad "escaped form missing: $(cat "$T/err")"; fi

# --- temporary files and replacing a dataset ---
# leftovers of a killed run (a PID that no longer runs) are removed by the next run
sh -c 'exit 0' & dead=$!; wait $dead
: >"$D/resnorm.npy.tmp.$dead"; : >"$D/.dataset.npz.tmp-$dead-Ab12Cd"; mkdir "$D/.eisnet-staging-$dead-Zz99Yy"
: >"$D/.eisnet-staging-$dead-Zz99Yy/resnorm.npy"
cp "$D/dataset.json" "$T/old_dataset.json"
# a failing generate leaves the old dataset whole (it used to delete dataset.json first)
printf '[{"id": "x"}]' >"$T/bad_gt.json"
"$BIN" generate --data_dir "$D" --ground_truths "$T/bad_gt.json" --quiet 2>/dev/null && bad "bad --ground_truths accepted"
cmp -s "$D/dataset.json" "$T/old_dataset.json" && ok || bad "a failed generate changed dataset.json"
[ -z "$(ls -A "$D" | grep -E 'tmp|staging')" ] && ok || bad "leftovers after a failed generate: $(ls -A "$D")"
"$BIN" infer --model "$M" --ground_truth lhs_0000 --data_dir "$D" --json >/dev/null 2>"$T/err" && ok || bad "old dataset unusable: $(cat "$T/err")"
# SIGTERM (as Ctrl-C, which a background job of a script ignores) in the middle of a generate: nothing temporary left, the old dataset intact
"$BIN" generate --data_dir "$D" --n_ground_truths 30000 --grid_points 6 --quiet & gpid=$!
for i in $(seq 50); do ls -A "$D" | grep -q staging && break; sleep 0.05; done
sleep 0.3; kill -TERM $gpid; wait $gpid; rc=$?
[ $rc -ne 0 ] && ok || bad "interrupted generate exited 0"
[ -z "$(ls -A "$D" | grep -E 'tmp|staging')" ] && ok || bad "leftovers after SIGTERM: $(ls -A "$D")"
cmp -s "$D/dataset.json" "$T/old_dataset.json" && ok || bad "an interrupted generate changed dataset.json"

# --- locks: overlapping runs on one model or data directory are refused ---
mkfifo "$T/fifo"
"$BIN" update --model "$M" --input "$T/fifo" --quiet >/dev/null 2>&1 & upid=$!
exec 7>"$T/fifo" # the update now waits for lines, holding the model's lock
for i in $(seq 100); do grep -q "^$upid update" "$D/model.lock" 2>/dev/null && break; sleep 0.05; done
expect_error "model $M is in use by eisnet update (pid $upid)" update --model "$M" --input /dev/null
expect_error "is in use by eisnet update (pid $upid)" train --data_dir "$D" --n_epochs 1 --samples_per_gt 200 --hidden_dim 16
# train shares the directory but not the model: another model path works meanwhile
"$BIN" train --data_dir "$D" --model_path "$T/other.safetensors" --n_epochs 1 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 --hidden_dim 16 \
  --quiet >/dev/null 2>"$T/err" && ok || bad "train to another model while update runs: $(cat "$T/err")"
echo '{"spectrum": "x"}' >&7; exec 7>&-; wait $upid
# the lock went with the process: the model is free again
"$BIN" update --model "$M" --input /dev/null --quiet >/dev/null 2>"$T/err" && ok || bad "lock not released: $(cat "$T/err")"
# generate waits for no one: while a train reads the directory it is refused
"$BIN" train --data_dir "$D" --model_path "$T/long.safetensors" --n_epochs 200 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 --hidden_dim 16 \
  --quiet >/dev/null 2>&1 & tpid=$!
for i in $(seq 100); do grep -q "^$tpid train" "$D/.eisnet.lock" 2>/dev/null && break; sleep 0.05; done
expect_error "data directory $D is in use by eisnet train (pid $tpid)" generate --data_dir "$D" --n_ground_truths 4
kill -TERM $tpid; wait $tpid
cmp -s "$D/dataset.json" "$T/old_dataset.json" && ok || bad "refused generate changed the dataset"

# --- durable acknowledgements: what update answered "ok" survives kill -9 ---
for s in safetensors npz state.safetensors; do cp "$D/model.$s" "$T/j.$s"; done
awk -v N=25 -v SEED=3 -f "$(dirname "$0")/update_lines.awk" >"$T/l25.jsonl"
mkfifo "$T/jfifo"
"$BIN" update --model "$T/j.safetensors" --input "$T/jfifo" --checkpoint_every 1000 >"$T/acks" 2>/dev/null & jpid=$!
exec 8>"$T/jfifo"
head -n 20 "$T/l25.jsonl" >&8
for i in $(seq 200); do [ "$(grep -c '"ok":true' "$T/acks")" -ge 20 ] && break; sleep 0.05; done
kill -9 $jpid; wait $jpid 2>/dev/null; exec 8>&-
acked=$(grep -c '"ok":true' "$T/acks")
[ "$acked" -eq 20 ] && ok || bad "$acked lines acknowledged before the kill, expected 20"
[ -s "$T/j.journal" ] && ok || bad "no journal beside the killed update's model"
"$BIN" update --model "$T/j.safetensors" --input /dev/null >/dev/null 2>"$T/err" || bad "restart after kill: $(cat "$T/err")"
grep -q "replayed 20 acknowledged lines" "$T/err" && grep -q "(20 in all)" "$T/err" && ok || bad "replay: $(cat "$T/err")"
[ ! -e "$T/j.journal" ] && ok || bad "journal left after a clean end"
# the replayed model is the model of an uninterrupted run over the same lines
for s in safetensors npz state.safetensors; do cp "$D/model.$s" "$T/k.$s"; done
head -n 20 "$T/l25.jsonl" | "$BIN" update --model "$T/k.safetensors" --quiet >/dev/null 2>&1
cmp -s "$T/j.safetensors" "$T/k.safetensors" && ok || bad "replayed weights differ from an uninterrupted run"
# a torn record at the end of the journal (a kill in the middle of an append) was never acknowledged: dropped
printf 'G 99 1\n5\nabc' >"$T/k.journal"
"$BIN" update --model "$T/k.safetensors" --input /dev/null >/dev/null 2>"$T/err" && grep -q "(20 in all)" "$T/err" \
  && ok || bad "torn journal: $(cat "$T/err")"

finish

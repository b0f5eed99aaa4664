#!/usr/bin/env bash
# eisnet update from the command line: the stream and its answers, rejects,
# N lines in one run = N runs of one line (bitwise), stdin with SIGINT and
# SIGTERM, periodic checkpoints while idle, --replay/--eval, errors, and a
# stress test: thousands of lines with malformed ones, SIGKILLed at random
# moments, always leaving a loadable checkpoint. Usage: cli_update.sh eisnet
set -u
BIN=${1:-build/eisnet}
T=$(mktemp -d /tmp/eisnet_cli_update.XXXXXX)
cleanup() {
  [ -n "${HOLD:-}" ] && kill "$HOLD" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fails=0; passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_error() {
  local want=$1; shift
  "$BIN" "$@" </dev/null >"$T/out" 2>"$T/err"; local rc=$?
  if [ $rc -eq 0 ]; then bad "exit 0 for: $*"; return; fi
  grep -qF -- "$want" "$T/err" || { bad "stderr for '$*' lacks '$want': $(cat "$T/err")"; return; }
  [ "$(wc -l <"$T/err")" -eq 1 ] || { bad "stderr for '$*' is not one line: $(cat "$T/err")"; return; }
  ok
}
# copy STEM: a fresh copy of the trained checkpoint with its optimizer state
copy() { for s in safetensors npz state.safetensors; do cp "$D/model.$s" "$T/$1.$s"; done; }
# updates_of STEM: the number of updates the checkpoint holds (loads it: fails if it does not load)
updates_of() {
  "$BIN" update --model "$T/$1.safetensors" --input /dev/null >"$T/uo.out" 2>"$T/uo.err" || { echo "LOADFAIL"; return; }
  sed -n 's/.*updates (\([0-9]*\) in all).*/\1/p' "$T/uo.err"
}

# lines for the series preset on 30 frequencies; every BAD-th line malformed
cat >"$T/gen.awk" <<'EOF'
function lu(lo, hi) { return exp(log(lo) + rand() * (log(hi) - log(lo))) }
BEGIN {
  srand(SEED)
  for (i = 1; i <= N; i++) {
    rsh = lu(10, 1e4); ra = lu(10, 1e4); rb = lu(10, 1e4); ca = lu(1e-7, 5e-5); cb = lu(1e-7, 5e-5)
    fs = ""; rs = ""; is = ""
    for (k = 0; k < 30; k++) {
      f = 10 ^ (6 * k / 29); w = 2 * 3.141592653589793 * f; x1 = w * ra * ca; x2 = w * rb * cb
      re = rsh + ra / (1 + x1 * x1) + rb / (1 + x2 * x2); im = -ra * x1 / (1 + x1 * x1) - rb * x2 / (1 + x2 * x2)
      sep = k ? "," : ""
      fs = fs sep sprintf("%.10g", f); rs = rs sep sprintf("%.10g", re); is = is sep sprintf("%.10g", im)
    }
    line = sprintf("{\"freq\":[%s],\"re\":[%s],\"im\":[%s],\"known\":{\"Rsh\":%.8g,\"Ra\":%.8g,\"Rb\":%.8g},\"target\":{\"Ca\":%.8g,\"Cb\":%.8g},\"id\":\"ex%d\"}", fs, rs, is, rsh, ra, rb, ca, cb, i)
    if (BAD > 0 && i % BAD == 0) {
      k = int(i / BAD) % 7
      if (k == 0) line = substr(line, 1, length(line) - 5)
      else if (k == 1) sub(/"target":\{[^}]*\}/, "\"targets\":{}", line)
      else if (k == 2) sub(/"Rsh"/, "\"Rx\"", line)
      else if (k == 3) sub(/"re":\[[^,]*/, "\"re\":[NaN", line)
      else if (k == 4) sub(/"im":\[[^,]*,/, "\"im\":[", line)
      else if (k == 5) sub(/"Ca":[^,]*/, "\"Ca\":1", line)
      else line = "{\"known\":3}"
    }
    print line
  }
}
EOF
gen() { awk -v N="$1" -v BAD="$2" -v SEED="$3" -f "$T/gen.awk"; }

D=$T/data
"$BIN" generate --n_ground_truths 6 --data_dir "$D" --quiet || { echo "generate failed"; exit 1; }
"$BIN" train --sampling topk --data_dir "$D" --n_epochs 2 --samples_per_gt 300 --hidden_dim 32 --threads 2 --quiet >/dev/null \
  || { echo "train failed"; exit 1; }

# a file with rejects: every line answered, the stream goes on, counts on stderr
gen 40 4 1 >"$T/l40.jsonl"
copy a
"$BIN" update --model "$T/a.safetensors" --input "$T/l40.jsonl" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && ok || bad "update exit $rc: $(cat "$T/err")"
[ "$(wc -l <"$T/out")" -eq 40 ] && ok || bad "$(wc -l <"$T/out") answers for 40 lines"
[ "$(grep -c '"ok":false' "$T/out")" -eq 10 ] && ok || bad "rejects: $(grep -c '"ok":false' "$T/out")"
grep -q '^{"line":1,"ok":true,"loss":[0-9.e+-]*,"latency_ms":[0-9.]*,"update":1,"id":"ex1"}$' "$T/out" && ok || bad "answer: $(head -1 "$T/out")"
grep -q '^{"line":4,"ok":false,"error":"unknown key \\"targets\\"' "$T/out" && ok || bad "reject: $(sed -n 4p "$T/out")"
grep -q "^eisnet update: $T/l40.jsonl:4: unknown key" "$T/err" && ok || bad "stderr: $(cat "$T/err")"
grep -q "40 lines: 30 accepted, 10 rejected; 30 updates (30 in all)" "$T/err" && ok || bad "summary: $(cat "$T/err")"
grep -q "latency per update median [0-9.]* ms, p99 [0-9.]* ms, [0-9]* updates/s" "$T/err" && ok || bad "latency: $(cat "$T/err")"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/out" && ok || bad "answers are not JSON"
fi
[ "$(updates_of a)" = 30 ] && ok || bad "checkpoint holds $(updates_of a) updates"
[ -z "$(ls "$T" | grep '\.tmp\.')" ] && ok || bad "temporary files left: $(ls "$T")"

# N lines in one run = N runs of one line each: bitwise the same files
gen 6 0 2 >"$T/l6.jsonl"
copy one; copy many
"$BIN" update --model "$T/one.safetensors" --input "$T/l6.jsonl" --replay 2 --data_dir "$D" --quiet >/dev/null 2>&1 || bad "one run"
for i in 1 2 3 4 5 6; do
  sed -n "${i}p" "$T/l6.jsonl" | "$BIN" update --model "$T/many.safetensors" --replay 2 --data_dir "$D" --quiet >/dev/null 2>&1 || bad "run $i"
done
for s in safetensors npz state.safetensors; do
  cmp -s "$T/one.$s" "$T/many.$s" && ok || bad "6 lines in one run != 6 runs: $s differs"
done
cmp -s "$T/one.safetensors" "$D/model.safetensors" && bad "weights did not change" || ok
# --batch_size groups lines: 6 lines in groups of 4 = 2 updates
copy grp
"$BIN" update --model "$T/grp.safetensors" --input "$T/l6.jsonl" --batch_size 4 >"$T/out" 2>"$T/err" || bad "batch 4"
grep -q "6 lines: 6 accepted, 0 rejected; 2 updates (2 in all)" "$T/err" && ok || bad "groups: $(cat "$T/err")"
[ "$(grep -c '"update":2' "$T/out")" -eq 2 ] && ok || bad "group answers: $(cat "$T/out")"

# an explicit --batch_size is kept (512 once became 1), the default is one example per step
copy bs
"$BIN" update --model "$T/bs.safetensors" --input /dev/null --batch_size 512 >"$T/out" 2>"$T/err" || bad "batch 512 exit"
grep -q ", batch 512, replay 0;" "$T/err" && ok || bad "--batch_size 512 not kept: $(head -1 "$T/err")"
"$BIN" update --model "$T/bs.safetensors" --input /dev/null >"$T/out" 2>"$T/err" || bad "default batch exit"
grep -q ", batch 1, replay 0;" "$T/err" && ok || bad "default batch: $(head -1 "$T/err")"
"$BIN" update --help 2>&1 | grep -q -- "--batch_size N.*(1)" && ok || bad "update --help: the batch default"

# --replay and --eval: held-out accuracy before and after
copy ev
"$BIN" update --model "$T/ev.safetensors" --data_dir "$D" --input "$T/l40.jsonl" --replay 8 --eval --quiet \
  >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && ok || bad "replay/eval exit $rc: $(cat "$T/err")"
grep -q "held-out accuracy before: top-1 [0-9.]*" "$T/err" && grep -q "held-out accuracy after: top-1" "$T/err" && ok \
  || bad "eval: $(cat "$T/err")"

# stdin stays open: answers come as lines arrive, checkpoints while idle, SIGINT saves and exits 130
copy s
mkfifo "$T/fifo"
"$BIN" update --model "$T/s.safetensors" --checkpoint_every 0.3 --quiet <"$T/fifo" >"$T/out" 2>"$T/err" &
pid=$!
exec 3>"$T/fifo"
head -3 "$T/l6.jsonl" >&3
for i in $(seq 1 50); do [ "$(wc -l <"$T/out")" -ge 3 ] && break; sleep 0.05; done
[ "$(wc -l <"$T/out")" -eq 3 ] && ok || bad "no answers while the stream is open: $(cat "$T/out")"
sleep 0.8
copy_now() { for s in safetensors npz state.safetensors; do cp "$T/s.$s" "$T/snap.$s"; done; }
copy_now
[ "$(updates_of snap)" = 3 ] && ok || bad "no checkpoint while idle: $(updates_of snap) updates"
echo 'not json' >&3
sed -n 4,5p "$T/l6.jsonl" >&3
for i in $(seq 1 50); do [ "$(wc -l <"$T/out")" -ge 6 ] && break; sleep 0.05; done
kill -INT $pid
wait $pid; rc=$?
exec 3>&-
[ $rc -eq 130 ] && ok || bad "SIGINT exit $rc: $(cat "$T/err")"
[ "$(updates_of s)" = 5 ] && ok || bad "after SIGINT the checkpoint holds $(updates_of s) updates"
grep -q "6 lines: 5 accepted, 1 rejected; 5 updates (5 in all).*(interrupted)" "$T/err" && ok || bad "summary: $(cat "$T/err")"
# SIGTERM likewise
"$BIN" update --model "$T/s.safetensors" --quiet <"$T/fifo" >"$T/out" 2>"$T/err" &
pid=$!
exec 3>"$T/fifo"
sed -n 6p "$T/l6.jsonl" >&3
for i in $(seq 1 50); do [ "$(wc -l <"$T/out")" -ge 1 ] && break; sleep 0.05; done
kill -TERM $pid
wait $pid; rc=$?
exec 3>&-
[ $rc -eq 130 ] && ok || bad "SIGTERM exit $rc"
[ "$(updates_of s)" = 6 ] && ok || bad "after SIGTERM the checkpoint holds $(updates_of s) updates"
# update, save, load, update = the two-line run
cmp -s "$T/s.safetensors" "$T/one.safetensors" && bad "replay 0 equals replay 2?" || ok
copy s2
head -5 "$T/l6.jsonl" | "$BIN" update --model "$T/s2.safetensors" --quiet >/dev/null 2>&1
sed -n 6p "$T/l6.jsonl" | "$BIN" update --model "$T/s2.safetensors" --quiet >/dev/null 2>&1
for s in safetensors state.safetensors; do cmp -s "$T/s.$s" "$T/s2.$s" && ok || bad "stream with signals != plain runs: $s"; done

# errors
expect_error "cannot read" update --model "$T/none.safetensors"
expect_error "--lr must be positive" update --model "$T/a.safetensors" --lr 0
expect_error "--batch_size must be between 1 and 4096" update --model "$T/a.safetensors" --batch_size 0
expect_error "--replay must be between" update --model "$T/a.safetensors" --replay -3
expect_error "--checkpoint_every must be" update --model "$T/a.safetensors" --checkpoint_every -1
expect_error "run \`eisnet generate" update --model "$T/a.safetensors" --replay 4 --data_dir "$T/nodata"
expect_error "cannot open" update --model "$T/a.safetensors" --input "$T/nofile.jsonl"
expect_error "unknown option '--n_epochs'" update --model "$T/a.safetensors" --n_epochs 3

# stress: 3000 lines, a tenth malformed, SIGKILLed at random moments; every
# kill leaves a checkpoint that loads, and the update count only grows
gen 3000 10 3 >"$T/stress.jsonl"
copy k
RANDOM=4242
last=0
for round in 1 2 3 4 5 6; do
  "$BIN" update --model "$T/k.safetensors" --input "$T/stress.jsonl" --checkpoint_every 0.02 --quiet \
    >/dev/null 2>"$T/kerr" &
  pid=$!
  sleep "0.$((RANDOM % 40 + 5))"
  kill -KILL $pid 2>/dev/null
  wait $pid 2>/dev/null
  n=$(updates_of k)
  if [ "$n" = LOADFAIL ]; then bad "round $round: the checkpoint does not load: $(cat "$T/uo.err")"; break; fi
  [ "$n" -ge "$last" ] && ok || bad "round $round: updates went back from $last to $n"
  last=$n; [ -n "${VERBOSE:-}" ] && echo "round $round: $n updates"
  "$BIN" infer --model "$T/k.safetensors" --data_dir "$D" --ground_truth lhs_0000 --known Rsh=460,Ra=4820,Rb=2210 \
    --json >/dev/null 2>"$T/ierr" && ok || bad "round $round: infer cannot use the checkpoint: $(cat "$T/ierr")"
done
[ "$last" -gt 0 ] && ok || bad "no checkpoint was written before the kills"
# and a full pass: 2700 accepted, 300 rejected
copy full
"$BIN" update --model "$T/full.safetensors" --input "$T/stress.jsonl" --checkpoint_every 0.05 >/dev/null 2>"$T/err" \
  && ok || bad "full stress pass: $(tail -3 "$T/err")"
grep -q "3000 lines: 2700 accepted, 300 rejected" "$T/err" && ok || bad "stress summary: $(tail -2 "$T/err")"
[ "$(grep -c '^eisnet update: ' "$T/err")" -eq 300 ] && ok || bad "stderr lines for rejects: $(grep -c '^eisnet update: ' "$T/err")"

echo "cli_update: $passes passed, $fails failed"
[ $fails -eq 0 ]

#!/usr/bin/env bash
# Reliability from the command line: bad flags refused before any work with
# one line naming the flag, bad files refused before allocating, input bytes
# escaped when echoed, temporary files and locks. Usage: cli_reliability.sh eisnet
. "$(dirname "$0")/lib.sh"
D=$T/data
"$BIN" generate --n_ground_truths 4 --data_dir "$D" --quiet || bad "generate"
"$BIN" train --data_dir "$D" --n_epochs 1 --samples_per_gt 200 --hidden_dim 16 --quiet >/dev/null || bad "train"
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

finish

#!/usr/bin/env bash
# --backend on the commands that run the network: the reference and CPU
# backends give the same answers, training runs on either, and an unknown or
# unavailable backend is one line naming the flag before any work.
# Usage: cli_backend.sh eisnet
. "$(dirname "$0")/lib.sh"
D=$T/data
"$BIN" generate --n_ground_truths 4 --data_dir "$D" --quiet || bad "generate"
"$BIN" train --backend ref --data_dir "$D" --n_epochs 1 --samples_per_epoch 2000 --val_samples 200 --hidden_dim 16 \
  --evaluate 0 --quiet >/dev/null 2>"$T/err" && ok || bad "train --backend ref: $(cat "$T/err")"
M=$D/model.safetensors
for be in ref cpu auto; do
  "$BIN" infer --backend $be --model "$M" --ground_truth lhs_0000 --data_dir "$D" --json >"$T/$be.json" 2>"$T/err" \
    && ok || bad "infer --backend $be: $(cat "$T/err")"
done
# the same answers: the ranked joint probabilities agree to float rounding
if command -v python3 >/dev/null; then
  python3 - "$T/ref.json" "$T/cpu.json" "$T/auto.json" <<'PY' && ok || bad "ref and cpu answers differ"
import json, sys
a, b, c = (json.load(open(f))["top_k_predictions"] for f in sys.argv[1:4])
assert len(a) == len(b) == len(c) > 1
for x, y, z in zip(a, b, c):
    assert abs(x["joint_probability"] - y["joint_probability"]) <= 1e-5 * (1 + x["joint_probability"]), (x, y)
    assert abs(y["joint_probability"] - z["joint_probability"]) <= 1e-5 * (1 + y["joint_probability"]), (y, z)
PY
fi
"$BIN" evaluate --backend ref --model "$M" --n 6 --n_exact 0 --known Rsh,Ra,Rb --quiet >/dev/null 2>"$T/err" \
  && ok || bad "evaluate --backend ref: $(cat "$T/err")"
expect_error "--backend" infer --backend nope --model "$M" --ground_truth lhs_0000 --data_dir "$D"
expect_error "--backend" train --backend nope --data_dir "$D"
expect_error "--backend" update --backend nope --model "$M"
expect_error "--backend" bench --backend nope --quick
expect_error "--backend" evaluate --backend nope --model "$M"
finish

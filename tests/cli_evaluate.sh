#!/usr/bin/env bash
# eisnet evaluate from the command line: JSON fields and ranges, the exact
# posterior far above the uniform answer, the table, the reliability
# diagram, and bad input. Usage: cli_evaluate.sh eisnet
. "$(dirname "$0")/lib.sh"
D=$T/data
"$BIN" generate --n_ground_truths 6 --data_dir "$D" --quiet || bad "generate"
"$BIN" train --data_dir "$D" --n_epochs 1 --samples_per_epoch 20000 --val_samples 1000 --hidden_dim 32 --evaluate 0 --quiet \
  >/dev/null || bad "train"
M=$D/model.safetensors

"$BIN" evaluate --model "$M" --n 60 --n_exact 30 --known Rsh,Ra,Rb --json --plots "$T/plots" --seed 3 \
  >"$T/e.json" 2>"$T/err" && ok || bad "evaluate --json: $(cat "$T/err")"
[ -s "$T/err" ] && ok || bad "no progress on stderr"
if command -v python3 >/dev/null; then
  python3 - "$T/e.json" <<'PY' && ok || bad "JSON content: $(head -c 600 "$T/e.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["n"] == 60 and j["n_exact"] == 30 and j["sigma"] == 0.01 and j["seed"] == 3
m = j["masks"]
assert len(m) == 1 and m[0]["known"] == ["Rsh", "Ra", "Rb"] and m[0]["missing"] == ["Ca", "Cb"]
u = j["uniform_top1"]
for name in ("Ca", "Cb"):
    p = m[0]["params"][name]
    for who in ("network", "exact", "network_on_exact_subset"):
        for k in ("top1", "top3", "p_true", "ece", "coverage50", "coverage90", "coverage90_whole_cells"):
            assert 0 <= p[who][k] <= 1, (name, who, k)
        # a whole crossing cell only adds coverage
        assert p[who]["coverage90_whole_cells"] >= p[who]["coverage90"] - 1e-12
        assert p[who]["top1"] <= p[who]["top3"]
    # the exact posterior answers far better than the uniform 1/12, and is calibrated
    assert p["exact"]["top1"] > 5 * u and p["exact"]["p_true"] > 0.4, p["exact"]
    # counted in part, a calibrated answer covers about the level (30 spectra)
    assert 0.7 <= p["exact"]["coverage90"] <= 1
    assert p["argmin"]["top1"] > 4 * u and p["argmin"]["top1"] <= p["argmin"]["top3"]
    assert p["kl"] >= 0 and p["kl_stderr"] >= 0
assert 0 <= j["calibration"]["ece_network"] <= 1 and len(j["calibration"]["bins_exact"]) == 10
PY
else
  grep -q '"exact"' "$T/e.json" && grep -q '"coverage90"' "$T/e.json" && ok || bad "JSON keys"
fi
[ -s "$T/plots/reliability.svg" ] && ok || bad "no reliability.svg"
if command -v xmllint >/dev/null; then xmllint --noout "$T/plots/reliability.svg" && ok || bad "reliability.svg is not XML"; fi

# the table, default masks limited by --n_exact 0 (no posterior: fast), quiet
"$BIN" evaluate --model "$M" --n 20 --no_exact --quiet >"$T/table" 2>"$T/err" && ok || bad "evaluate table: $(cat "$T/err")"
[ ! -s "$T/err" ] && ok || bad "--quiet still wrote: $(cat "$T/err")"
# every mask with 1 to 3 missing: 5 + 10 + 10 rows of masks, 5*1 + 10*2 + 10*3 parameter lines
[ "$(grep -c ' | ' "$T/table")" -eq $((2 + 5 + 20 + 30)) ] && ok || bad "table rows: $(cat "$T/table")"
# one exact posterior has no spread: the text says so instead of a number
"$BIN" evaluate --model "$M" --n 3 --n_exact 1 --known Rsh,Ra,Rb,Ca --quiet >"$T/one" 2>"$T/err" &&
  grep -q "KL standard error: -$" "$T/one" && ok || bad "KL standard error of one: $(cat "$T/one" "$T/err")"
"$BIN" evaluate --help | grep -q -- "--n_exact" && ok || bad "help"

expect_error "--n expects" evaluate --model "$M" --n 0
expect_error "--sigma expects" evaluate --model "$M" --sigma -1
expect_error "unknown parameter 'Foo'" evaluate --model "$M" --known Foo
expect_error "every parameter" evaluate --model "$M" --known Rsh,Ra,Rb,Ca,Cb
expect_error "not both" evaluate --model "$M" --known Rsh --all_masks
expect_error "unknown option" evaluate --model "$M" --bogus 1
expect_error "nope.safetensors" evaluate --model "$T/nope.safetensors"
finish

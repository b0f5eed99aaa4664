#!/usr/bin/env bash
# Real measurements through eisnet infer: any impedance scale (exact circuit
# scaling), instrument files, the band and time-constant refusals, and the
# Kramers-Kronig warning. Usage: cli_real.sh eisnet
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
D=$T/data
"$BIN" generate --n_ground_truths 6 --data_dir "$D" --quiet || bad "generate"
"$BIN" train --data_dir "$D" --n_epochs 1 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 --hidden_dim 32 --quiet >/dev/null || bad "train"
M=$D/model.safetensors
# the series circuit (Rsh=460, Ra=4820, Ca=3.7 uF, Rb=2210, Cb=3.4 uF) over the model's band,
# and the same circuit at 1/1000 of the impedance (mOhm-level: R/1000, C*1000)
spectrum() { awk -v s="$1" 'BEGIN { pi = atan2(0, -1); print "freq,Re(Z),Im(Z)";
  for (k = 0; k <= 60; k++) { f = 10 ^ (6 * k / 60); w = 2 * pi * f;
    re = 460 * s; im = 0;
    split("4820 3.7e-6 2210 3.4e-6", p, " ");
    for (i = 1; i <= 3; i += 2) { r = p[i] * s; c = p[i + 1] / s; d = 1 + (w * r * c) ^ 2; re += r / d; im -= w * r * r * c / d }
    printf "%.15g,%.15g,%.15g\n", f, re, im } }'; }
spectrum 1 >"$T/ohm.csv"
spectrum 0.001 >"$T/mohm.csv"
"$BIN" infer --model "$M" --spectrum "$T/ohm.csv" --known Rsh=460,Ra=4820,Rb=2210 --json >"$T/ohm.json" 2>"$T/err" \
  && ok || bad "infer ohm: $(cat "$T/err")"
"$BIN" infer --model "$M" --spectrum "$T/mohm.csv" --known Rsh=0.46,Ra=4.82,Rb=2.21 --scale 0.001 --json >"$T/mohm.json" 2>"$T/err" \
  && ok || bad "infer mohm --scale: $(cat "$T/err")"
grep -q "exact circuit scaling by k = 0.001" "$T/err" && ok || bad "scale not reported: $(cat "$T/err")"
"$BIN" infer --model "$M" --spectrum "$T/mohm.csv" --known Rsh=0.46,Ra=4.82,Rb=2.21 --json >"$T/auto.json" 2>"$T/err" \
  && ok || bad "infer mohm auto: $(cat "$T/err")"
python3 - "$T/ohm.json" "$T/mohm.json" "$T/auto.json" <<'PY' && ok || bad "scaled answers"
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
assert a["impedance_scale"]["k"] == 1
assert b["impedance_scale"]["k"] == 0.001
ka = c["impedance_scale"]["k"]
assert 1e-4 < ka < 1e-2, ka          # auto: the known values and the level both ask for about 1/1000
# the same spectrum divided by k = 1/1000 is what the model saw: the same
# answer, every value in the data's units (C x 1000)
pa, pb = a["top_k_predictions"], b["top_k_predictions"]
assert len(pa) == len(pb)
for x, y in zip(pa, pb):
    for name in ("Ca", "Cb"):
        assert abs(y[name] / x[name] - 1000) < 1e-6, (x, y)
    assert abs(x["joint_probability"] - y["joint_probability"]) < 1e-9
PY
# plots: the 61 measured points as read (the model has 50 frequencies), model curves at 300 points
"$BIN" infer --model "$M" --spectrum "$T/ohm.csv" --known Rsh=460,Ra=4820,Rb=2210 --plots "$T/plots" --quiet >/dev/null 2>&1 \
  && ok || bad "infer --plots"
python3 - "$T/plots/nyquist.svg" <<'PY' && ok || bad "nyquist: raw points and smooth curves"
import re, sys
t = open(sys.argv[1]).read()
assert t.count("<circle") == 61 + 1, t.count("<circle")  # and the legend swatch
paths = re.findall(r'<path clip-path="url\(#clip0\)"[^>]* d="([^"]*)"', t)
assert paths and max(p.count("L") for p in paths) >= 250, [p.count("L") for p in paths]
assert " Hz</text>" in t
PY
# known values and data at different levels: reported, the known values decide
"$BIN" infer --model "$M" --spectrum "$T/mohm.csv" --known Rsh=460,Ra=4820,Rb=2210 >/dev/null 2>"$T/err" && ok || bad "mismatch run"
grep -q "does not match the known values" "$T/err" && ok || bad "level mismatch not reported: $(cat "$T/err")"
# impedance.py's Li-ion data (mOhm, 3 mHz - 10 kHz): the band refusal says what to do
expect_error "train a model on the data's band (eisnet generate --f_min 0.003162" infer --model "$M" \
  --spectrum tests/data/impedance_py/exampleData.csv --known Rsh=0.015
"$BIN" infer --model "$M" --spectrum tests/data/impedance_py/exampleData.csv --known Rsh=0.015 --extrapolate \
  >/dev/null 2>"$T/err" && ok || bad "extrapolated run: $(cat "$T/err")"
grep -q "were extrapolated" "$T/err" && grep -q "impedance level" "$T/err" && ok || bad "extrapolation not reported: $(cat "$T/err")"
# an instrument file read by infer (content detection) - Gamry's band is 0.016 Hz - 200 kHz
"$BIN" infer --model "$M" --spectrum tests/data/impedance_py/exampleDataGamry.DTA --known Rsh=460 >/dev/null 2>"$T/err"
grep -q "model needs 1..1e+06 Hz" "$T/err" && ok || bad "gamry band: $(cat "$T/err")"
# a spectrum that drifts at low frequency fails Kramers-Kronig: a warning
awk -F, 'NR == 1 { print; next } { g = ($1 < 10) ? 1 + 0.3 * (1 - log($1) / log(10)) : 1; printf "%s,%.15g,%s\n", $1, $2 * g, $3 }' \
  "$T/ohm.csv" >"$T/drift.csv"
"$BIN" infer --model "$M" --spectrum "$T/drift.csv" --known Rsh=460,Ra=4820,Rb=2210 >/dev/null 2>"$T/err" && ok || bad "drift run"
grep -q "fails the Kramers-Kronig test" "$T/err" && ok || bad "no KK warning: $(cat "$T/err")"
"$BIN" infer --model "$M" --spectrum "$T/ohm.csv" --known Rsh=460,Ra=4820,Rb=2210 >/dev/null 2>"$T/err"
grep -q "Kramers-Kronig" "$T/err" && bad "KK warning on clean data: $(cat "$T/err")" || ok
# a model generated on the data's own band (its end frequencies as written in the file) takes the
# Li-ion data: no band refusal; scaled from mOhm; the diffusion tail's peak at the band's edge is flagged
L=$T/li
"$BIN" generate --n_ground_truths 4 --f_min 0.0031623 --f_max 1258.9 --data_dir "$L" --quiet || bad "generate li"
"$BIN" train --data_dir "$L" --n_epochs 1 --samples_per_epoch 20000 --val_samples 1000 --evaluate 0 --hidden_dim 16 --quiet >/dev/null || bad "train li"
"$BIN" infer --model "$L/model.safetensors" --spectrum tests/data/impedance_py/exampleData.csv --drop_inductive \
  --known Rsh=0.015 --json >"$T/li.json" 2>"$T/err" && ok || bad "infer on the data's band: $(cat "$T/err")"
grep -q "time constants lie outside" "$T/err" && grep -q "exact circuit scaling" "$T/err" && ok || bad "li notes: $(cat "$T/err")"
python3 -c "import json; j=json.load(open('$T/li.json')); k=j['impedance_scale']['k']; assert 1e-6 < k < 1e-3, k" && ok || bad "li scale"
expect_error "--scale must be" infer --model "$M" --spectrum "$T/ohm.csv" --known Rsh=460 --scale -2
finish

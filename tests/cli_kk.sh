#!/usr/bin/env bash
# eisnet kk from the command line: impedance.py's exampleData.csv gives
# linKK's M and mu, the JSON carries the data and the residuals, the
# verdict follows the residuals, plots are written, bad input is refused.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
EX=tests/data/impedance_py/exampleData.csv

"$BIN" kk --spectrum "$EX" --drop_inductive --json >"$T/kk.json" 2>"$T/err" && ok || bad "kk --json: $(cat "$T/err")"
grep -q "9 inductive" "$T/err" && ok || bad "dropped points not reported: $(cat "$T/err")"
# impedance.py's linKK(c=0.5, max_M=100) there: M = 27, mu = 0.2102 (tests/data/impedance_py/linkk_exampleData_real.txt)
python3 - "$T/kk.json" <<'PY' && ok || bad "kk JSON values"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["M"] == 27, j["M"]
assert abs(j["mu"] - 0.2102) < 1e-3, j["mu"]
assert j["n_points"] == 57 and len(j["freq"]) == 57 and len(j["residuals_im"]) == 57
assert j["freq"][0] == 0.0031623 and j["z_re"][0] == 0.0494998977640506
assert j["pass"] is False and j["verdict"].startswith("fail")
assert max(abs(v) for v in j["residuals_im"]) > 0.2
PY
"$BIN" kk --spectrum "$EX" --drop_inductive --add_cap --plots "$T/plots" --quiet >"$T/kk.txt" 2>"$T/err" && ok || bad "kk --add_cap"
grep -q "^verdict: pass" "$T/kk.txt" && grep -q "M = 27 RC elements" "$T/kk.txt" && ok || bad "add_cap verdict: $(tail -2 "$T/kk.txt")"
[ ! -s "$T/err" ] && ok || bad "--quiet printed: $(cat "$T/err")"
for f in kk_residuals.svg kk_nyquist.svg; do
  [ -s "$T/plots/$f" ] && ok || bad "missing plot $f"
  if command -v rsvg-convert >/dev/null; then rsvg-convert -o "$T/p.png" "$T/plots/$f" && ok || bad "$f does not render"; fi
done
# an instrument file, detected by content, cropped
"$BIN" kk --spectrum tests/data/impedance_py/exampleDataGamry.DTA --f_max 1e4 --json >"$T/g.json" 2>/dev/null && ok || bad "kk gamry"
python3 -c "import json,sys; j=json.load(open('$T/g.json')); assert j['format']=='gamry' and max(j['freq'])<=1e4 and j['n_range_dropped']>0" && ok || bad "gamry crop"

# a directory: every spectrum file in it (instrument exports too), one JSON line each; a bad one fails the run
mkdir -p "$T/dir"
cp tests/data/impedance_py/exampleDataBioLogic.mpt tests/data/impedance_py/exampleDataZPlot.z "$T/dir/"
printf 'not a spectrum\n' >"$T/dir/notes.txt"; printf 'ignored\n' >"$T/dir/README"
"$BIN" kk --spectrum "$T/dir" --json --quiet >"$T/dir.jsonl" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <"$T/dir.jsonl")" -eq 2 ] && grep -q '"format":"biologic"' "$T/dir.jsonl" \
  && grep -q '"format":"zplot"' "$T/dir.jsonl" && grep -q "notes.txt" "$T/err" && ok || bad "kk on a directory: rc=$rc $(cat "$T/err")"

expect_error "--spectrum FILE is required" kk
expect_error "--c must be" kk --spectrum "$EX" --c 2
expect_error "--max_M must be" kk --spectrum "$EX" --max_M 0
expect_error "--fit must be" kk --spectrum "$EX" --fit both
expect_error "--threshold must be" kk --spectrum "$EX" --threshold 0
expect_error "unknown format 'excel'" kk --spectrum "$EX" --format excel
expect_error "--im_sign must be" kk --spectrum "$EX" --im_sign flip
expect_error "must be below --f_max" kk --spectrum "$EX" --f_min 10 --f_max 1
expect_error "ZCURVE" kk --spectrum "$EX" --format gamry
expect_error "need at least 3" kk --spectrum "$EX" --f_min 1e5
expect_error "cannot open" kk --spectrum "$T/none.csv"
expect_error "unknown option '--known'" kk --spectrum "$EX" --known R=1
finish

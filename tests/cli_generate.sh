#!/usr/bin/env bash
# eisnet generate from the command line: both syntaxes, bad input, a full
# disk, numpy loading. Usage: cli_generate.sh PATH/TO/eisnet
. "$(dirname "$0")/lib.sh"
# both syntaxes produce the same dataset
"$BIN" generate --n_ground_truths 3 --data_dir "$T/a" --n_workers 2 --quiet || bad "generate failed"
"$BIN" --mode generate --n_ground_truths 3 --data_dir "$T/b" --n_workers 1 --backend auto --n_epochs 5 --batch_size 64 --quiet \
  || bad "--mode generate failed"
for f in resnorm.npy dataset.npz dataset.json ground_truth_metadata.json dataset_summary.txt; do
  cmp -s "$T/a/$f" "$T/b/$f" && ok || bad "$f differs between the two syntaxes"
done
"$BIN" generate --help | grep -q -- "--n_ground_truths" && ok || bad "generate --help"
"$BIN" --help | grep -q "generate" && ok || bad "--help"
# progress goes to stderr, nothing to stdout
"$BIN" generate --n_ground_truths 2 --data_dir "$T/c" >"$T/out" 2>"$T/err" && [ ! -s "$T/out" ] && grep -q "generate" "$T/err" \
  && ok || bad "progress on stderr"
"$BIN" generate --n_ground_truths 2 --data_dir "$T/c" --quiet 2>"$T/err" && [ ! -s "$T/err" ] && ok || bad "--quiet is not quiet"

expect_error "--n_ground_truths must be at least 1" generate --n_ground_truths 0 --data_dir "$T/x"
expect_error "--n_ground_truths must be at least 1" generate --n_ground_truths -3 --data_dir "$T/x"
expect_error "expects an integer" generate --n_ground_truths ten --data_dir "$T/x"
expect_error "expects an integer" generate --n_ground_truths 5x --data_dir "$T/x"
expect_error "--n_workers must be at least 1" generate --n_workers 0 --data_dir "$T/x"
expect_error "unknown option '--bogus'" generate --bogus 1
expect_error "unknown option '--n_epochs'" generate --n_epochs 3
expect_error "needs a value" generate --data_dir
expect_error "unknown command" frobnicate
expect_error "unknown --mode" --mode nonsense
expect_error "position 8" generate --circuit 'R0-p(R1' --data_dir "$T/x"
expect_error "no range for parameter" generate --circuit 'R0-p(R1,CPE1)' --data_dir "$T/x"
expect_error "bad range" generate --circuit 'R0-p(R1,C1)' --range R0=1:x --data_dir "$T/x"
expect_error "bad range" generate --range Rsh=100:10 --data_dir "$T/x"
expect_error "has no parameter" generate --range Q7=1:10 --data_dir "$T/x"
expect_error "grid points" generate --grid_points 1 --data_dir "$T/x"
expect_error "not valid JSON" generate --ground_truths "$0" --data_dir "$T/x"
expect_error "belongs to the Python reference" generate --backend pytorch
# without a usable GPU (or without the backend built) --backend cuda is refused
if ! EISNET_CUDA_PROBE_ONLY=1 "$(dirname "$BIN")/test_cuda_gpu" >/dev/null 2>&1; then
  expect_error "--backend cuda" generate --backend cuda
fi
mkdir -p "$T/ro"; chmod 555 "$T/ro"
if [ "$(id -u)" = 0 ] && touch "$T/ro/probe" 2>/dev/null; then
  rm -f "$T/ro/probe"   # root ignores permissions: use a path under a file instead
  touch "$T/file"
  expect_error "cannot create directory" generate --n_ground_truths 1 --data_dir "$T/file/sub"
else
  expect_error "not writable" generate --n_ground_truths 1 --data_dir "$T/ro"
fi

# a full disk: a file-size limit makes writes fail mid-way (SIGXFSZ ignored -> EFBIG)
mkdir -p "$T/full"
( trap '' XFSZ; ulimit -f 2048; exec "$BIN" generate --n_ground_truths 4 --data_dir "$T/full" --quiet ) 2>"$T/err"
rc=$?
if [ $rc -ne 0 ] && grep -q "cannot write" "$T/err"; then ok; else bad "full disk: rc=$rc $(cat "$T/err")"; fi
if ls "$T/full" | grep -q .; then bad "full disk left files: $(ls "$T/full")"; else ok; fi

# the CSV too, with a limit that lets resnorm.npy through but not the CSV
( trap '' XFSZ; ulimit -f 30000; exec "$BIN" generate --n_ground_truths 1 --csv --data_dir "$T/full2" --quiet ) 2>"$T/err"
rc=$?
[ $rc -ne 0 ] && ok || bad "CSV full disk exit $rc"
ls "$T/full2" | grep -q "combined_dataset" && bad "partial CSV left: $(ls "$T/full2")" || ok
ls "$T/full2" | grep -q "tmp" && bad "temp file left: $(ls "$T/full2")" || ok

# numpy opens what we write (Debian's python3-numpy), when present
PY=/usr/bin/python3
if [ -x $PY ] && $PY -c "import numpy" 2>/dev/null; then
  $PY - "$T/a" <<'PYEOF' && ok || bad "numpy could not load the dataset"
import sys, json, numpy as np
d = sys.argv[1]
r = np.load(d + "/resnorm.npy")
assert r.shape == (3, 248832) and r.dtype == np.float64, (r.shape, r.dtype)
z = np.load(d + "/dataset.npz")
f, g, p, s = z["frequencies"], z["grid"], z["gt_params"], z["gt_spectra"]
assert f.shape == (50,) and g.shape == (5, 12) and p.shape == (3, 5) and s.shape == (3, 50, 2)
assert np.allclose(f, np.logspace(0, 6, 50), rtol=1e-15)
# recompute one ground truth's resnorm with numpy from the stored arrays
w = 2 * np.pi * f
def Z(rsh, ra, rb, ca, cb): return rsh + ra / (1 + 1j * w * ra * ca) + rb / (1 + 1j * w * rb * cb)
zr = s[1, :, 0] + 1j * s[1, :, 1]
assert np.allclose(zr, Z(*p[1]), rtol=1e-13)
idx = np.unravel_index(123457, (12,) * 5)
zm = Z(*[g[k, idx[k]] for k in range(5)])
want = np.mean(np.abs(zm - zr))
assert abs(r[1, 123457] - want) <= 1e-12 * want, (r[1, 123457], want)
meta = json.load(open(d + "/ground_truth_metadata.json"))
assert [m["rsh"] for m in meta] == list(p[:, 0])
PYEOF
else
  echo "SKIP: numpy not available (/usr/bin/python3 -c 'import numpy' failed); npy/npz loading not checked"
fi

finish

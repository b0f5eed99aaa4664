#!/usr/bin/env bash
# The matrix products must come from OpenBLAS, not from GSL's reference CBLAS
# (libgslcblas, which libgsl pulls in): the dynamic loader binds cblas_sgemm
# to the first library that defines it, and GSL's is ~15x slower in training.
# ldd lists the libraries in that search order. Usage: cli_link.sh eisnet
. "$(dirname "$0")/lib.sh"
command -v ldd >/dev/null || { echo "cli_link: skipped, no ldd"; exit 77; }
ldd "$BIN" >"$T/ldd" 2>&1 || { echo "cli_link: skipped, ldd cannot read $BIN"; exit 77; }
if ! grep -q "libopenblas" "$T/ldd"; then echo "cli_link: skipped, eisnet is not linked with OpenBLAS"; exit 77; fi
ob=$(grep -n "libopenblas" "$T/ldd" | head -1 | cut -d: -f1)
gc=$(grep -n "libgslcblas" "$T/ldd" | head -1 | cut -d: -f1)
if [ -z "$gc" ] || [ "$ob" -lt "$gc" ]; then ok; else bad "libgslcblas is searched before libopenblas: $(cat "$T/ldd")"; fi
finish

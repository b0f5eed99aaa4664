#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages eisnet needs to build and test, if missing.
# Optional ones (OpenBLAS, GSL for eisnet fit, numpy) make eisnet faster or let more tests run;
# the build works without them.
set -eu
need=(cmake gcc make pkg-config libcjson-dev zlib1g-dev libcmocka-dev libopenblas-dev libgsl-dev python3-numpy)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "eisnet: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

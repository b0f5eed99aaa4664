# Shared by the command-line tests (tests/cli_*.sh): source it with the
# script's arguments. Gives BIN (the eisnet binary), T (a temporary directory
# removed at exit), ok/bad counters, expect_error and finish.
set -u
BIN=${1:-${EISNET_BIN:-build/eisnet}}
NAME=$(basename "$0" .sh)
T=$(mktemp -d "/tmp/eisnet_${NAME}.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0; passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_error "substring" args... : a non-zero exit and exactly one line on
# stderr that contains the substring.
expect_error() {
  local want=$1; shift
  "$BIN" "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ $rc -eq 0 ]; then bad "exit 0 for: $*"; return; fi
  grep -qF -- "$want" "$T/err" || { bad "stderr for '$*' lacks '$want': $(cat "$T/err")"; return; }
  [ "$(wc -l <"$T/err")" -eq 1 ] || { bad "stderr for '$*' is not one line: $(cat "$T/err")"; return; }
  ok
}

finish() {
  echo "$NAME: $passes passed, $fails failed"
  [ $fails -eq 0 ]
}

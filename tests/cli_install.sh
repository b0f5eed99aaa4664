#!/usr/bin/env bash
# cmake --install puts the command, the static and shared libraries, the
# headers and eisnet.pc under a prefix; a program built with pkg-config
# against them runs, and the installed command answers.
. "$(dirname "$0")/lib.sh"
B=$(cd "$(dirname "$BIN")" && pwd)
[ -f "$B/CMakeCache.txt" ] || { echo "no build directory next to $BIN: skipped"; exit 77; }
command -v pkg-config >/dev/null || { echo "pkg-config missing: skipped"; exit 77; }
P=$T/prefix
cmake --install "$B" --prefix "$P" >"$T/log" 2>&1 || { bad "cmake --install: $(tail -3 "$T/log")"; finish; exit 1; }
LIB=$(ls -d "$P"/lib* | head -1)
for f in bin/eisnet include/eisnet/readers.h include/eisnet/kk.h include/eisnet/circuit.h; do
  [ -f "$P/$f" ] && ok || bad "not installed: $f"
done
[ -f "$LIB/libeisnet.a" ] && ok || bad "no static library"
[ -e "$LIB/libeisnet.so" ] && ok || bad "no shared library"
[ -f "$LIB/pkgconfig/eisnet.pc" ] && ok || bad "no eisnet.pc"
"$P/bin/eisnet" --version | grep -q "^eisnet " && ok || bad "installed eisnet --version"
"$P/bin/eisnet" kk --spectrum tests/data/impedance_py/exampleData.csv --drop_inductive --quiet | grep -q "M = 27" \
  && ok || bad "installed eisnet kk"
if grep -q "EISNET_SANITIZE:BOOL=ON" "$B/CMakeCache.txt"; then
  echo "sanitizer build: the link test against the installed library is skipped"
else
  cat >"$T/use.c" <<'C'
#include <eisnet/circuit.h>
#include <eisnet/kk.h>
#include <complex.h>
#include <stdio.h>
int main(void)
{
    eisnet_circuit *c = eisnet_circuit_parse("R0-p(R1,C1)");
    double p[3] = {10, 100, 1e-5}, w[40], f[40];
    double complex z[40];
    for (int i = 0; i < 40; i++) { f[i] = 0.1 * (double)(1 << (i / 2)) * (i % 2 ? 1.5 : 1); w[i] = 6.283185307179586 * f[i]; }
    eisnet_circuit_eval(c, p, w, 40, z);
    eisnet_kk_result r;
    if (eisnet_kk_test(f, z, 40, NULL, &r) != 0) return 1;
    printf("%s %d\n", r.pass ? "pass" : "fail", eisnet_circuit_n_params(c));
    eisnet_kk_result_free(&r);
    eisnet_circuit_free(c);
    return 0;
}
C
  export PKG_CONFIG_PATH="$LIB/pkgconfig"
  cc -std=c11 "$T/use.c" -o "$T/use" $(pkg-config --cflags --libs eisnet) -lm 2>"$T/cc" && ok || bad "compile against the installed library: $(cat "$T/cc")"
  LD_LIBRARY_PATH="$LIB" "$T/use" >"$T/out" 2>&1 && grep -q "^pass 3$" "$T/out" && ok || bad "program on the shared library: $(cat "$T/out")"
  cc -std=c11 "$T/use.c" -o "$T/use_static" -I"$P/include" "$LIB/libeisnet.a" $(pkg-config --libs-only-other --static eisnet) \
    $(pkg-config --static --libs eisnet | tr ' ' '\n' | grep -- '^-l' | grep -v '^-leisnet$' | tr '\n' ' ') 2>"$T/cc" \
    && "$T/use_static" | grep -q "^pass 3$" && ok || bad "program on the static library: $(cat "$T/cc")"
fi
finish

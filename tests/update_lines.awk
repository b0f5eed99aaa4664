# N valid `eisnet update` lines for the series preset on 30 frequencies
# (awk -v N=.. -v SEED=.. -f tests/update_lines.awk); ids ex1, ex2, ...
function lu(lo, hi) { return exp(log(lo) + rand() * (log(hi) - log(lo))) }
BEGIN {
  srand(SEED)
  for (i = 1; i <= N; i++) {
    rsh = lu(10, 1e4); ra = lu(10, 1e4); rb = lu(10, 1e4); ca = lu(1e-7, 5e-5); cb = lu(1e-7, 5e-5)
    fs = ""; rs = ""; is = ""
    for (k = 0; k < 30; k++) {
      f = 10 ^ (6 * k / 29); w = 2 * 3.141592653589793 * f; x1 = w * ra * ca; x2 = w * rb * cb
      re = rsh + ra / (1 + x1 * x1) + rb / (1 + x2 * x2); im = -ra * x1 / (1 + x1 * x1) - rb * x2 / (1 + x2 * x2)
      sep = k ? "," : ""
      fs = fs sep sprintf("%.10g", f); rs = rs sep sprintf("%.10g", re); is = is sep sprintf("%.10g", im)
    }
    printf "{\"freq\":[%s],\"re\":[%s],\"im\":[%s],\"known\":{\"Rsh\":%.8g,\"Ra\":%.8g,\"Rb\":%.8g},\"target\":{\"Ca\":%.8g,\"Cb\":%.8g},\"id\":\"ex%d\"}\n", fs, rs, is, rsh, ra, rb, ca, cb, i
  }
}

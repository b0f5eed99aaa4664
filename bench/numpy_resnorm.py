#!/usr/bin/env python3
"""Vectorised numpy resnorm of every grid model against one ground truth:
the fastest form of the reference's generation, for comparison with eisnet.
Prints milliseconds per ground truth (best of the runs)."""
import sys, time
import numpy as np

n_gt = int(sys.argv[1]) if len(sys.argv) > 1 else 3
f = np.logspace(0, 6, 50)
w = 2 * np.pi * f
R = np.logspace(1, 4, 12)
C = np.logspace(np.log10(1e-7), np.log10(5e-5), 12)
# sub-circuit spectra, broadcast over (Rsh, Ra, Rb, Ca, Cb, f)
zrc = R[:, None, None] / (1 + 1j * w[None, None, :] * R[:, None, None] * C[None, :, None])  # (R, C, f)
rng = np.random.default_rng(0)
times = []
for g in range(n_gt):
    p = 10 ** rng.uniform([1, 1, 1, -7, np.log10(5e-7)], [4, 4, 4, np.log10(5e-5), np.log10(5e-5)])
    zr = p[0] + p[1] / (1 + 1j * w * p[1] * p[3]) + p[2] / (1 + 1j * w * p[2] * p[4])
    t = time.perf_counter()
    out = np.empty((12, 12, 12, 12, 12))
    for i in range(12):  # one Rsh at a time keeps memory at ~200 MB
        z = R[i] + zrc[:, None, :, None, :] + zrc[None, :, None, :, :]  # (Ra, Rb, Ca, Cb, f)
        out[i] = np.mean(np.abs(z - zr), axis=-1)
    times.append(time.perf_counter() - t)
print(f"{1000 * min(times):.1f}")

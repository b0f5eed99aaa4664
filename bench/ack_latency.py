#!/usr/bin/env python3
"""Acknowledgement latency of `eisnet update`, one line at a time: the time
from writing a line to reading its answer, as an instrument streaming single
measurements sees it. Usage: bench/ack_latency.py EISNET MODEL LINES_FILE [N]
(MODEL is copied; prints median and p99 in ms)."""
import os, shutil, subprocess, sys, tempfile, time

def main():
    binary, model, lines_file = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    lines = open(lines_file).read().splitlines()[:n]
    tmp = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(model)))
    stem = model[:-len(".safetensors")]
    for ext in ("safetensors", "npz", "state.safetensors"):
        shutil.copy(f"{stem}.{ext}", f"{tmp}/m.{ext}")
    p = subprocess.Popen([binary, "update", "--model", f"{tmp}/m.safetensors", "--quiet"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    ts = []
    for l in lines:
        t = time.perf_counter()
        p.stdin.write((l + "\n").encode())
        p.stdout.readline()
        ts.append(time.perf_counter() - t)
    p.stdin.close()
    p.wait()
    shutil.rmtree(tmp)
    ts.sort()
    print(f"{len(ts)} lines one at a time: ack latency median {ts[len(ts)//2]*1e3:.2f} ms, "
          f"p99 {ts[int(len(ts)*0.99)-1]*1e3:.2f} ms")

main()

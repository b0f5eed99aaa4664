#!/usr/bin/python3
"""PyTorch side of bench/bench_model.c: eisnet's network doing the same
work as eisnet, timed the same way. Prints ONE JSON object on stdout.

    /usr/bin/python3 bench/pytorch_reference.py [--n_in 10] [--hidden 512]
        [--steps 30] [--threads 1,2] [--seed 0]

Measured, for each thread count t in --threads (torch.set_num_threads(t) and,
when torch's BLAS is OpenBLAS, openblas_set_num_threads(t): otherwise
OpenBLAS uses every core even at set_num_threads(1)):
  train_samples_per_s    batch 512: zero_grad, forward (train mode: dropout
                         on), loss, backward, clip_grad_norm_(1.0), AdamW step;
                         512 / median step time over --steps steps (after
                         warm-up steps)
  predict1_us            batch 1, eval(), no_grad, softmax per head: median
  batch256_samples_per_s batch 256, same as predict1: 256 / median call time
and on one thread
  online_update_ms       ONE sample: the training step above at batch 1: median

Loss (as eisnet_model_loss): per row, the mean cross-entropy over the heads of
that row's missing parameters; mean over rows; + 0.5 * MSE(resnorm).
Data: uniform random inputs, random targets, exactly 2 of 5 parameters
missing per row, fixed seed.
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

N_PARAMS, N_GRID, LATENT, HEAD_HIDDEN = 5, 12, 128, 64


class ProbabilisticEISPredictor(nn.Module):
    """The network; state-dict names encoder.{0,1,4,5,8}, param_heads.{k}.{0,3},
    resnorm_head.{0,2}."""

    def __init__(self, n_in, hidden):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(hidden, hidden // 2), nn.LayerNorm(hidden // 2), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(hidden // 2, LATENT))
        self.param_heads = nn.ModuleList([
            nn.Sequential(nn.Linear(LATENT, HEAD_HIDDEN), nn.ReLU(), nn.Dropout(0.1),
                          nn.Linear(HEAD_HIDDEN, N_GRID))
            for _ in range(N_PARAMS)])
        self.resnorm_head = nn.Sequential(nn.Linear(LATENT, HEAD_HIDDEN), nn.ReLU(),
                                          nn.Linear(HEAD_HIDDEN, 1))

    def forward(self, x):
        z = self.encoder(x)
        logits = torch.stack([h(z) for h in self.param_heads], dim=1)  # (B, P, G)
        return logits, self.resnorm_head(z).squeeze(-1)


def openblas_handle():
    """The OpenBLAS that torch loaded (Debian: libblas.so.3 -> OpenBLAS), or
    None. torch.set_num_threads() does not reach it: left alone it runs its
    own pthreads on every core even at set_num_threads(1)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return None, None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_set_num_threads  # noqa: B018 (raises if absent)
            return lib, path
        except (OSError, AttributeError):
            continue
    return None, None


def set_threads(t, blas):
    """t: a thread count for both torch and OpenBLAS, or "torch1" for what a
    user gets from torch.set_num_threads(1) alone (OpenBLAS keeps every core)."""
    if t == "torch1":
        torch.set_num_threads(1)
        if blas is not None:
            blas.openblas_set_num_threads(ctypes.c_int(os.cpu_count() or 1))
        return
    torch.set_num_threads(int(t))
    if blas is not None:
        blas.openblas_set_num_threads(ctypes.c_int(int(t)))


def make_batch(g, B, n_in):
    x = torch.rand(B, n_in, generator=g) * 2 - 1
    target = torch.randint(0, N_GRID, (B, N_PARAMS), generator=g)
    # exactly 2 of the 5 parameters missing in every row
    order = torch.rand(B, N_PARAMS, generator=g).argsort(dim=1)
    missing = torch.zeros(B, N_PARAMS)
    missing.scatter_(1, order[:, :2], 1.0)
    rt = torch.rand(B, generator=g) * 2 - 1
    return x, target, missing, rt


def loss_fn(logits, res, target, missing, rt):
    B = logits.shape[0]
    ce = F.cross_entropy(logits.reshape(B * N_PARAMS, N_GRID), target.reshape(-1),
                         reduction="none").reshape(B, N_PARAMS)
    n_miss = missing.sum(dim=1)
    row = (ce * missing).sum(dim=1) / n_miss.clamp(min=1)
    return row.mean() + 0.5 * F.mse_loss(res, rt)


def train_step(model, opt, batch):
    x, target, missing, rt = batch
    opt.zero_grad(set_to_none=False)
    logits, res = model(x)
    loss = loss_fn(logits, res, target, missing, rt)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def predict(model, x):
    with torch.no_grad():
        logits, res = model(x)
        return torch.softmax(logits, dim=-1), res


def median_time(fn, n, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n_in", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", default="1,2,torch1",
                    help="comma-separated settings: N (torch and OpenBLAS on N threads) or torch1 "
                         "(torch.set_num_threads(1) only, OpenBLAS on every core)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", help="an .npz with x (512, n_in) float32, target (512, 5) int32, missing (512, 5) "
                                   "uint8, rt (512,) float32: train on exactly these rows (eisnet bench writes it)")
    a = ap.parse_args()
    threads = [t.strip() for t in a.threads.split(",") if t.strip()]

    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    model = ProbabilisticEISPredictor(a.n_in, a.hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    train_batch = make_batch(g, 512, a.n_in)
    one = make_batch(g, 1, a.n_in)
    x256 = make_batch(g, 256, a.n_in)[0]
    if a.data:
        import numpy as np
        z = np.load(a.data)
        x = torch.from_numpy(z["x"].astype(np.float32))
        assert x.shape == (512, a.n_in), x.shape
        target = torch.from_numpy(z["target"].astype(np.int64))
        missing = torch.from_numpy(z["missing"].astype(np.float32))
        rt = torch.from_numpy(z["rt"].astype(np.float32))
        train_batch = (x, target, missing, rt)
        one = (x[:1], target[:1], missing[:1], rt[:1])
        x256 = x[:256]

    blas, blas_path = openblas_handle()
    out = {
        "impl": "pytorch", "torch_version": torch.__version__, "n_in": a.n_in,
        "threads_note": "a thread count t is torch.set_num_threads(t) AND "
                        "openblas_set_num_threads(t) when torch's BLAS is OpenBLAS; torch1 is "
                        "torch.set_num_threads(1) with OpenBLAS on every core",
        "openblas": blas_path,
        "hidden": a.hidden, "n_parameters": sum(p.numel() for p in model.parameters()),
        "train_batch": 512, "steps": a.steps, "data": a.data or "random (seeded)", "interop_threads": torch.get_num_interop_threads(),
        "statistic": "median over timed calls after warm-up",
        "train_samples_per_s": {}, "predict1_us": {}, "batch256_samples_per_s": {},
        "online_update_ms": {},
    }
    for t in threads:
        set_threads(t, blas)
        model.train()
        st = median_time(lambda: train_step(model, opt, train_batch), a.steps, 5)
        out["train_samples_per_s"][str(t)] = 512.0 / st
        model.eval()
        out["predict1_us"][str(t)] = 1e6 * median_time(lambda: predict(model, one[0]), 2000, 200)
        out["batch256_samples_per_s"][str(t)] = 256.0 / median_time(lambda: predict(model, x256), 100, 10)
    set_threads(1, blas)
    model.train()
    out["online_update_ms"]["1"] = 1e3 * median_time(lambda: train_step(model, opt, one), 300, 30)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

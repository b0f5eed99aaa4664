#!/usr/bin/python3
"""Writes the PyTorch parity fixtures for tests/test_torch_parity.c (llm.c style).

Builds the eisnet network (encoder and one head per parameter) in PyTorch with the same nn.Sequential
index layout, so the state-dict names match eisnet_model_tensor_name(), runs
one forward/backward on a small batch and 10 AdamW steps with gradient
clipping, and a ReduceLROnPlateau sequence, and stores everything as raw
little-endian files plus a text manifest:

    tests/data/torch_manifest.txt   key/value lines, tensor table, file list
    tests/data/torch_*.f32 / .i32 / .u8

Run from the project root:  /usr/bin/python3 tests/torch_parity.py
The fixtures are committed (CI has no torch); this script is how to
regenerate them. Dropout is disabled (p = 0) so the passes are deterministic.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join("tests", "data")
N_PARAMS, N_FEATURES, N_GRID, HIDDEN, BATCH = 5, 8, 12, 32, 7
N_IN = 2 * N_PARAMS + N_FEATURES
RESNORM_WEIGHT = 0.5
MAX_NORM = 1.0
STEPS = 10
LR = 1e-2  # larger than the default 1e-3 so 10 steps move the loss visibly
WEIGHT_DECAY = 0.01


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        H = HIDDEN
        self.encoder = nn.Sequential(
            nn.Linear(N_IN, H), nn.LayerNorm(H), nn.ReLU(), nn.Dropout(0.0),
            nn.Linear(H, H // 2), nn.LayerNorm(H // 2), nn.ReLU(), nn.Dropout(0.0),
            nn.Linear(H // 2, 128))
        self.param_heads = nn.ModuleList([
            nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.0), nn.Linear(64, N_GRID))
            for _ in range(N_PARAMS)])
        self.resnorm_head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        z = self.encoder(x)
        logits = torch.stack([h(z) for h in self.param_heads], dim=1)  # (B, P, G)
        return logits, self.resnorm_head(z).squeeze(-1)


def loss_fn(logits, resnorm, target, missing, resnorm_target):
    """Mean over rows of the mean CE over the row's missing heads (0 for a row
    with none) + RESNORM_WEIGHT * MSE."""
    nll = -F.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    miss = missing.float()
    row = (nll * miss).sum(1) / miss.sum(1).clamp(min=1.0)
    ce = row.mean()
    mse = ((resnorm - resnorm_target) ** 2).mean()
    return ce + RESNORM_WEIGHT * mse, ce, mse


LE = {torch.float32: "<f4", torch.int32: "<i4", torch.uint8: "u1"}


def write(name, t, dtype):
    """Raw little-endian dump of t converted to dtype."""
    t.detach().contiguous().to(dtype).numpy().astype(LE[dtype]).tofile(os.path.join(OUT, name))
    return name, t.numel()


def main():
    torch.manual_seed(1234)
    torch.set_num_threads(1)
    net = Net().double()  # reference values in float64; the C side is float32
    for p in net.parameters():  # round the initial weights to float32 values
        p.data = p.data.float().double()
    x = torch.randn(BATCH, N_IN).float().double()
    target = torch.randint(0, N_GRID, (BATCH, N_PARAMS))
    missing = (torch.rand(BATCH, N_PARAMS) < 0.5).to(torch.uint8)
    missing[0] = torch.tensor([0, 1, 0, 1, 1], dtype=torch.uint8)
    missing[1] = 0  # a row with nothing to predict: adds 0 to the CE sum
    missing[2] = 1
    resnorm_target = (torch.randn(BATCH) * 0.5 + 1.0).float().double()

    files = []
    sd = net.state_dict()
    files.append(("params", *write("torch_params.f32", torch.cat([v.flatten() for v in sd.values()]), torch.float32)))
    files.append(("input", *write("torch_input.f32", x, torch.float32)))
    files.append(("target", *write("torch_target.i32", target, torch.int32)))
    files.append(("missing", *write("torch_missing.u8", missing, torch.uint8)))
    files.append(("resnorm_target", *write("torch_resnorm_target.f32", resnorm_target, torch.float32)))

    xg = x.clone().requires_grad_(True)
    logits, resnorm = net(xg)
    loss, ce, mse = loss_fn(logits, resnorm, target, missing, resnorm_target)
    loss.backward()
    files.append(("logits", *write("torch_logits.f32", logits, torch.float32)))
    files.append(("resnorm", *write("torch_resnorm.f32", resnorm, torch.float32)))
    files.append(("grads", *write("torch_grads.f32", torch.cat([p.grad.flatten() for p in net.parameters()]), torch.float32)))
    files.append(("dx", *write("torch_dx.f32", xg.grad, torch.float32)))
    scalars = {"loss": loss.item(), "ce": ce.item(), "mse": mse.item()}

    # 10 training steps on the same batch: zero_grad, forward, loss, backward,
    # clip_grad_norm_(MAX_NORM), AdamW.step
    opt = torch.optim.AdamW(net.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=WEIGHT_DECAY)
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        logits, resnorm = net(x)
        loss, _, _ = loss_fn(logits, resnorm, target, missing, resnorm_target)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), MAX_NORM)))
        opt.step()
        losses.append(loss.item())
    n_clipped = sum(n > MAX_NORM for n in norms)
    if n_clipped == 0 or n_clipped == STEPS:
        sys.exit("fixture does not exercise both clipped and unclipped steps: %s" % norms)
    files.append(("step_loss", *write("torch_step_loss.f32", torch.tensor(losses), torch.float32)))
    files.append(("step_norm", *write("torch_step_norm.f32", torch.tensor(norms), torch.float32)))
    files.append(("params_after", *write("torch_params_after.f32",
                                          torch.cat([p.detach().flatten() for p in net.parameters()]), torch.float32)))

    # ReduceLROnPlateau (mode min, factor 0.1, patience 5, threshold 1e-4 rel)
    popt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(popt, mode="min", factor=0.1, patience=5,
                                                       threshold=1e-4, cooldown=0, min_lr=0)
    metrics = [1.0, 0.9, 0.8, 0.79995, 0.8, 0.85, 0.81, 0.8, 0.80, 0.7, 0.71, 0.72, 0.73,
               0.74, 0.75, 0.76, 0.77, 0.69993, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    lrs = []
    for mtr in metrics:
        sched.step(mtr)
        lrs.append(popt.param_groups[0]["lr"])

    with open(os.path.join(OUT, "torch_manifest.txt"), "w") as f:
        f.write("# eisnet torch parity fixtures, written by tests/torch_parity.py (torch %s)\n" % torch.__version__)
        for k, v in [("n_in", N_IN), ("n_params", N_PARAMS), ("n_grid", N_GRID), ("hidden", HIDDEN),
                     ("batch", BATCH), ("steps", STEPS), ("n_clipped", n_clipped)]:
            f.write("int %s %d\n" % (k, v))
        for k, v in [("resnorm_weight", RESNORM_WEIGHT), ("max_norm", MAX_NORM), ("lr", LR),
                     ("weight_decay", WEIGHT_DECAY)] + list(scalars.items()):
            f.write("real %s %.17g\n" % (k, v))
        for name, t in sd.items():
            f.write("tensor %s %d %s\n" % (name, t.dim(), " ".join(str(d) for d in t.shape)))
        for key, fname, count in files:
            f.write("file %s %s %d\n" % (key, fname, count))
        f.write("plateau %d\n" % len(metrics))
        for mtr, lr in zip(metrics, lrs):
            f.write("%.17g %.17g\n" % (mtr, lr))
    print("wrote %d files to %s; loss %.6f, clipped %d of %d steps, norms %s"
          % (len(files) + 1, OUT, scalars["loss"], n_clipped, STEPS, ["%.3f" % n for n in norms]))


if __name__ == "__main__":
    main()

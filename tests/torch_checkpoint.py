#!/usr/bin/env python3
"""eisnet <-> PyTorch checkpoints (run by tests/test_checkpoint.c when torch is
importable). Usage: torch_checkpoint.py DIR

DIR holds eisnet's ckpt.safetensors / ckpt.npz and x.npy, probs.npy,
resnorm.npy (eisnet's outputs for x). This script builds eisnet's network
in PyTorch, loads both files with load_state_dict(strict=True), checks the
outputs, then writes torch_export.safetensors (perturbed weights, eisnet's
configuration kept in the metadata) and torch_probs.npy / torch_resnorm.npy
for eisnet to check the other way."""
import json, struct, sys
import numpy as np
import torch
import torch.nn as nn

d = sys.argv[1]


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    out = {}
    for k, v in h.items():
        assert v["dtype"] == "F32", v
        s, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f4").reshape(v["shape"]).copy())
    return out, meta


def write_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k, t in tensors.items():
        a = t.detach().numpy().astype("<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))


class Head(nn.Module):
    def __init__(self, n_grid):
        super().__init__()
        self.add_module("0", nn.Linear(128, 64)); self.add_module("1", nn.ReLU())
        self.add_module("2", nn.Dropout(0.1)); self.add_module("3", nn.Linear(64, n_grid))

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ProbabilisticEISPredictor(nn.Module):
    def __init__(self, n_in, n_params, n_grid, H):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_in, H), nn.LayerNorm(H), nn.ReLU(), nn.Dropout(0.3),
                                     nn.Linear(H, H // 2), nn.LayerNorm(H // 2), nn.ReLU(), nn.Dropout(0.2),
                                     nn.Linear(H // 2, 128))
        self.param_heads = nn.ModuleList([Head(n_grid) for _ in range(n_params)])
        self.resnorm_head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        z = self.encoder(x)
        return torch.stack([torch.softmax(h(z), -1) for h in self.param_heads], 1), self.resnorm_head(z)[:, 0]


sd, meta = read_safetensors(d + "/ckpt.safetensors")
cfg = json.loads(meta["eisnet_config"])
mc = cfg["model"]
net = ProbabilisticEISPredictor(mc["n_in"], mc["n_params"], mc["n_grid"], mc["hidden"]).eval()
net.load_state_dict(sd, strict=True)
x = torch.from_numpy(np.load(d + "/x.npy"))
with torch.no_grad():
    p, r = net(x)
assert np.allclose(p.numpy(), np.load(d + "/probs.npy"), atol=2e-6, rtol=1e-5), "probabilities differ"
assert np.allclose(r.numpy(), np.load(d + "/resnorm.npy"), atol=2e-5, rtol=1e-5), "resnorm differs"

z = np.load(d + "/ckpt.npz")
net.load_state_dict({k: torch.from_numpy(v) for k, v in z.items() if k != "eisnet_config"}, strict=True)
assert json.loads(z["eisnet_config"].tobytes()) == cfg

g = torch.Generator().manual_seed(0)
with torch.no_grad():
    for t in net.parameters():
        t.add_(0.05 * torch.randn(t.shape, generator=g))
    p, r = net(x)
write_safetensors(d + "/torch_export.safetensors", net.state_dict(), meta)
np.save(d + "/torch_probs.npy", p.numpy().astype(np.float32))
np.save(d + "/torch_resnorm.npy", r.numpy().astype(np.float32))
print("torch_checkpoint: ok")

#!/usr/bin/python3
"""Builds the small PyTorch models kiln's ONNX tests load, exports them and saves a reference
input and PyTorch's output next to each.

Needs Debian's python3-torch (1.13, CPU), python3-onnx and python3-numpy:
    apt-get install -y python3-torch python3-onnx python3-numpy
    /usr/bin/python3 scripts/make_onnx_models.py

Writes test/fixtures/onnx/<name>.onnx, <name>.input.npy, <name>.output.npy, and
examples/mlp.onnx (the `kiln demo` model). Exports use the TorchScript exporter at opset 17
(torch 1.13 has no dynamo exporter: scripts/make_onnx_models_dynamo.py makes the opset-20
exports where PyTorch 2.5+ is installed). Everything is seeded, so reruns give the same files.
"""

import math
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "onnx")
OPSET = 17


class MLP(nn.Module):
    """Linear → GELU → Linear → LayerNorm."""

    def __init__(self, d=16, h=32):
        super().__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc2 = nn.Linear(h, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x):
        return self.norm(self.fc2(nn.functional.gelu(self.fc1(x))))


class CausalAttention(nn.Module):
    """Multi-head self-attention with a causal mask; shapes read from x.size() so the export
    carries the Shape → Gather → Concat → Reshape chains kiln must fold."""

    def __init__(self, d=16, heads=2, max_len=8):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.register_buffer("mask", torch.tril(torch.ones(max_len, max_len, dtype=torch.bool)))

    def forward(self, x):
        b, t, d = x.size()
        hd = d // self.heads
        q, k, v = self.qkv(x).split(d, dim=2)
        q = q.view(b, t, self.heads, hd).transpose(1, 2)
        k = k.view(b, t, self.heads, hd).transpose(1, 2)
        v = v.view(b, t, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        att = att.masked_fill(~self.mask[:t, :t], float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, d)
        return self.proj(y)


class RMSNormSwiGLU(nn.Module):
    """RMSNorm then a SwiGLU feed-forward with a residual (the LLaMA block's MLP half)."""

    def __init__(self, d=16, h=32, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.randn(d) * 0.1 + 1)
        self.w1 = nn.Linear(d, h, bias=False)
        self.w3 = nn.Linear(d, h, bias=False)
        self.w2 = nn.Linear(h, d, bias=False)

    def forward(self, x):
        n = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight
        return x + self.w2(nn.functional.silu(self.w1(n)) * self.w3(n))


def export(name, model, x, **kw):
    model.eval()
    with torch.no_grad():
        y = model(x)
    path = os.path.join(OUT, f"{name}.onnx")
    # Exported with grad enabled: under no_grad, TransformerEncoderLayer takes its fused
    # fast path, which the TorchScript exporter cannot export.
    torch.onnx.export(model, (x,), path, opset_version=OPSET, input_names=["x"], output_names=["y"], **kw)
    onnx.checker.check_model(onnx.load(path))
    np.save(os.path.join(OUT, f"{name}.input.npy"), x.numpy())
    np.save(os.path.join(OUT, f"{name}.output.npy"), y.numpy())
    print(f"{name}: {os.path.getsize(path)} bytes, ops {sorted({n.op_type for n in onnx.load(path).graph.node})}")
    return path


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    mlp = MLP()
    path = export("mlp", mlp, torch.randn(4, 16))
    os.makedirs(os.path.join(ROOT, "examples"), exist_ok=True)
    with open(path, "rb") as f, open(os.path.join(ROOT, "examples", "mlp.onnx"), "wb") as g:
        g.write(f.read())

    # The same MLP with a symbolic batch dim (needs inputShapes in kiln) ...
    export("mlp_dynamic", mlp, torch.randn(4, 16), dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    # ... and with its weights in an external data file.
    m = onnx.load(path)
    ext = os.path.join(OUT, "mlp_external.onnx")
    onnx.save_model(m, ext, save_as_external_data=True, all_tensors_to_one_file=True, location="mlp_external.onnx.data", size_threshold=0)
    np.save(os.path.join(OUT, "mlp_external.input.npy"), np.load(os.path.join(OUT, "mlp.input.npy")))
    np.save(os.path.join(OUT, "mlp_external.output.npy"), np.load(os.path.join(OUT, "mlp.output.npy")))

    attn = CausalAttention()
    export("attention", attn, torch.randn(2, 8, 16))
    # Symbolic batch and time: the export computes every view's shape at run time from
    # Shape/Gather/Concat, which kiln folds once inputShapes makes the dims concrete.
    export("attention_dynamic", attn, torch.randn(2, 8, 16), dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}})

    enc = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
    export("transformer_layer", enc, torch.randn(2, 6, 16))

    export("rmsnorm_swiglu", RMSNormSwiGLU(), torch.randn(2, 5, 16))

    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"total {total} bytes in {OUT}")
    if total > 1 << 20:
        sys.exit("fixtures exceed 1 MB")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Exports the models of make_onnx_models.py with PyTorch's dynamo exporter
(torch.onnx.export(..., dynamo=True), opset 18+), next to a reference input and PyTorch's
output, as test/fixtures/onnx/<name>_dynamo.{onnx,input.npy,output.npy}.

Needs PyTorch 2.5+ with the packages the dynamo exporter uses (onnx, onnxscript). Run where
they exist (the GPU machine has PyTorch 2.11):
    python3 scripts/make_onnx_models_dynamo.py [OUT_DIR]
"""

import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "test", "fixtures", "onnx")


def main():
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        sys.exit(f"the dynamo exporter needs onnx and onnxscript: {e}")
    # make_onnx_models imports onnx at the top: only importable once onnx is known to exist.
    from make_onnx_models import MLP, CausalAttention, RMSNormSwiGLU
    import onnx

    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    models = [
        ("mlp", MLP(), torch.randn(4, 16)),
        ("attention", CausalAttention(), torch.randn(2, 8, 16)),
        ("transformer_layer", nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True), torch.randn(2, 6, 16)),
        ("rmsnorm_swiglu", RMSNormSwiGLU(), torch.randn(2, 5, 16)),
    ]
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxscript {__import__('onnxscript').__version__}")
    for name, model, x in models:
        model.eval()
        with torch.no_grad():
            y = model(x)
        path = os.path.join(OUT, f"{name}_dynamo.onnx")
        try:
            prog = torch.onnx.export(model, (x,), dynamo=True, input_names=["x"], output_names=["y"])
            prog.save(path)
        except Exception as e:  # keep going: report every model
            print(f"{name}: dynamo export failed: {type(e).__name__}: {e}")
            continue
        m = onnx.load(path)
        onnx.checker.check_model(m)
        np.save(os.path.join(OUT, f"{name}_dynamo.input.npy"), x.numpy())
        np.save(os.path.join(OUT, f"{name}_dynamo.output.npy"), y.numpy())
        opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        print(f"{name}: opset {opset}, {os.path.getsize(path)} bytes, ops {sorted({n.op_type for n in m.graph.node})}")


if __name__ == "__main__":
    main()

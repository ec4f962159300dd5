#!/usr/bin/python3
"""The real-model suite exported a second time with symbolic dims (issue 13): the same tiny
models as scripts/real_models.py, exported by the dynamo exporter with `dynamic_shapes`
marking batch (every input's dim 0) and, for token inputs, sequence (dim 1) as dynamic, so the
ONNX inputs carry `dim_param`s as published models do. Beside each model, PyTorch's eager
outputs for three different input shapes, so a test can run all three in one process.

    python3 scripts/real_models_dynamic.py [--out DIR] [--only gpt2,bert]
    python3 scripts/real_models_dynamic.py --size full --out /tmp/dynfull --only gpt2   # bench/dynamic_sweep.ts's model
    /usr/bin/python3 scripts/real_models_dynamic.py --source modules --exporter torchscript --out DIR

`--source modules` takes the transformer architectures of scripts/transformer_modules.py (plain
PyTorch written after the library's code) instead of the transformers library, for machines
without it; `--exporter torchscript` exports with the TorchScript exporter and `dynamic_axes`
(PyTorch before 2.5 has no other), into DIR/<model>_torchscript_dynamic/.

DIR/<model>_dynamic/ gets model.onnx, case<c>_input_<i>.npy, case<c>_output_<i>.npy and
meta.json (inputs with their ONNX dims, outputs, the cases' shapes, onnxruntime's max error for
each case as a check of the export itself). Models whose export fails (or whose dims the
exporter specialised to constants) are recorded in DIR/suite.json, never skipped silently.
"""

import argparse
import inspect
import json
import os
import time
import traceback

import numpy as np
import torch

from real_models import MODELS, ort_error, padded_mask

# (batch, seq) of the cases; vision and audio inputs vary the batch alone. The first case
# differs from the static fixtures' shapes on purpose.
TEXT_CASES = [(1, 7), (3, 29), (2, 16)]
BATCH_CASES = [1, 3, 2]


def is_tokens(t):
    return t.dtype == torch.int64 and t.dim() == 2


def case_inputs(names, args, case):
    """The model's inputs at another shape: token ids drawn from the sample's own ids, masks
    right-padded as the suite's, token types half 0 half 1, images and spectrograms random."""
    g = torch.Generator().manual_seed(100 + case)
    out = []
    for name, t in zip(names, args):
        if is_tokens(t):
            b, s = TEXT_CASES[case]
            if "mask" in name:
                out.append(padded_mask(b, s))
            elif "token_type" in name:
                tt = torch.zeros(b, s, dtype=torch.int64)
                tt[:, s // 2:] = 1
                out.append(tt)
            else:
                pool = t.flatten()
                out.append(pool[torch.randint(0, pool.numel(), (b, s), generator=g)])
        else:
            b = BATCH_CASES[case]
            out.append(torch.randn((b,) + tuple(t.shape[1:]), generator=g, dtype=t.dtype))
    return tuple(out)


def dynamic_spec(model, args):
    """torch.export's dynamic_shapes for these args: matched to forward's parameters, so a
    forward(*args) (the suite's Outputs wrapper) takes one tuple for its varargs."""
    d = torch.export.Dim.DYNAMIC
    spec = tuple({0: d, 1: d} if is_tokens(t) else {0: d} for t in args)
    params = inspect.signature(model.forward).parameters.values()
    return (spec,) if any(p.kind == p.VAR_POSITIONAL for p in params) else spec


def dynamic_axes(in_names, out_names, args):
    """The TorchScript exporter's spelling of the same dims: batch on every input and output,
    sequence on token inputs (and on outputs, which the exporter checks against the graph)."""
    axes = {n: ({0: "batch", 1: "sequence"} if is_tokens(t) else {0: "batch"}) for n, t in zip(in_names, args)}
    seq = any(is_tokens(t) for t in args)
    for n in out_names:
        axes[n] = {0: "batch", 1: "sequence"} if seq else {0: "batch"}
    return axes


def export(model, args, in_names, out_names, exporter, path):
    if exporter == "dynamo":
        prog = torch.onnx.export(model, args, dynamo=True, input_names=in_names, output_names=out_names,
                                 dynamic_shapes=dynamic_spec(model, args))
        prog.save(path)
    else:
        extra = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
        torch.onnx.export(model, args, path, input_names=in_names, output_names=out_names, opset_version=17,
                          dynamic_axes=dynamic_axes(in_names, out_names, args), **extra)


def onnx_dims(m):
    return [[(d.dim_param or "?") if not d.HasField("dim_value") else d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default=None, help="comma-separated model names")
    ap.add_argument("--size", default="tiny", choices=["tiny", "full"],
                    help="full: the suite's full-size configuration, the model alone (no cases: their outputs would be hundreds of MB)")
    ap.add_argument("--source", default="transformers", choices=["transformers", "modules"])
    ap.add_argument("--exporter", default="dynamo", choices=["dynamo", "torchscript"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    import onnx
    models = MODELS
    if a.source == "modules":
        from transformer_modules import MODULES as models
    names = a.only.split(",") if a.only else list(models)
    suite = {"torch": torch.__version__, "onnx": onnx.__version__, "models": {}}
    for name in names:
        key = f"{name}_dynamic" if a.exporter == "dynamo" else f"{name}_{a.exporter}_dynamic"
        torch.manual_seed(0)
        d = os.path.join(a.out, key)
        try:
            model, args, in_names, out_names = models[name](a.size)
            model.eval()
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            t0 = time.time()
            with torch.no_grad():
                export(model, args, in_names, out_names, a.exporter, path)
            m = onnx.load(path)
            dims = onnx_dims(m)
            if not any(isinstance(x, str) for ds in dims for x in ds):
                raise RuntimeError(f"the exporter left no symbolic dim: {dims}")
            graph_in = [i.name for i in m.graph.input]
            graph_out = [o.name for o in m.graph.output]
            cases = []
            for c in range(len(TEXT_CASES) if a.size == "tiny" else 0):
                xs = case_inputs(in_names, args, c)
                with torch.no_grad():
                    outs = model(*xs)
                outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
                outs = [o.detach().float().numpy() for o in outs]
                for i, x in enumerate(xs):
                    np.save(os.path.join(d, f"case{c}_input_{i}.npy"), x.numpy())
                for i, o in enumerate(outs):
                    np.save(os.path.join(d, f"case{c}_output_{i}.npy"), o)
                try:
                    err = ort_error(path, graph_in, xs, outs)
                except Exception as e:
                    err = f"onnxruntime failed: {type(e).__name__}: {str(e)[:200]}"
                cases.append({"shapes": [list(x.shape) for x in xs], "ort_max_rel_error": err,
                              "inputs": [f"case{c}_input_{i}.npy" for i in range(len(xs))],
                              "outputs": [f"case{c}_output_{i}.npy" for i in range(len(outs))]})
            meta = {"model": name, "exporter": a.exporter, "source": a.source, "size": a.size, "dynamic": True,
                    "inputs": [{"name": n, "dims": ds} for n, ds in zip(graph_in, dims)],
                    "outputs": [{"name": n} for n in graph_out], "cases": cases,
                    "ops": sorted({n.op_type for n in m.graph.node}), "nodes": len(m.graph.node),
                    "export_s": round(time.time() - t0, 2)}
            with open(os.path.join(d, "meta.json"), "w") as f:
                json.dump(meta, f, indent=1)
            suite["models"][key] = {"dims": dims, "bytes": os.path.getsize(path), "ort": [c["ort_max_rel_error"] for c in cases]}
            print(f"{key}: dims {dims}, {len(m.graph.node)} nodes, ort {[c['ort_max_rel_error'] for c in cases]}", flush=True)
        except Exception as e:
            msg = f"{type(e).__name__}: {str(e)[:400]}"
            suite["models"][key] = {"error": msg}
            print(f"{key}: failed: {msg}", flush=True)
            traceback.print_exc(limit=3)
            if os.path.isdir(d):
                for f in os.listdir(d):
                    os.remove(os.path.join(d, f))
                os.rmdir(d)
    with open(os.path.join(a.out, "suite.json"), "w") as f:
        json.dump(suite, f, indent=1)


if __name__ == "__main__":
    main()

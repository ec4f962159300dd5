#!/usr/bin/python3
"""PyTorch's figures for the real-model suite (scripts/real_models.py's models) on the GPU:
eager time per call, torch.compile's first call in a fresh process on an empty Inductor cache
(cold) and in a second process on that cache (warm), and its steady time per call. fp32, TF32
off, the same inputs as the ONNX exports. Prints one JSON line per model.

    python3 bench/torch_models.py --size full [--only gpt2,vit] [--repeat 20]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))


def timed_calls(f, args, repeat):
    import torch
    for _ in range(3):
        f(*args)
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f(*args)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def one(name, size, repeat, phase):
    import torch
    import real_models
    torch.cuda.init()
    torch.zeros(1, device="cuda")  # the CUDA context apart, as for kiln
    torch.manual_seed(0)
    model, args, _, _ = real_models.MODELS[name](size)
    model = model.eval().cuda()
    args = tuple(a.cuda() for a in args)
    out = {"model": name, "phase": phase}
    with torch.no_grad():
        if phase == "cold":
            out["eager_ms"] = timed_calls(model, args, repeat)
        t0 = time.perf_counter()
        f = torch.compile(model)
        f(*args)
        torch.cuda.synchronize()
        out["compile_first_call_ms"] = (time.perf_counter() - t0) * 1e3
        if phase == "cold":
            out["compiled_ms"] = timed_calls(f, args, repeat)
    print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="full")
    ap.add_argument("--only", default="gpt2,bert,vit,resnet,mobilenet_v2,convnext,llama,whisper_encoder,efficientnet_b0")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--one", default=None)
    ap.add_argument("--phase", default="cold")
    a = ap.parse_args()
    if a.one:
        one(a.one, a.size, a.repeat, a.phase)
        return
    for name in a.only.split(","):
        cache = tempfile.mkdtemp(prefix="inductor-")
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "PYTHONUNBUFFERED": "1"}
        res = {"model": name}
        for phase in ("cold", "warm"):
            r = subprocess.run([sys.executable, __file__, "--one", name, "--size", a.size, "--repeat", str(a.repeat), "--phase", phase], env=env, capture_output=True, text=True, timeout=600)
            line = [l for l in r.stdout.splitlines() if l.startswith("{")]
            if r.returncode != 0 or not line:
                res[f"{phase}_error"] = (r.stderr or r.stdout)[-400:]
                break
            d = json.loads(line[-1])
            if phase == "cold":
                res.update({k: d[k] for k in ("eager_ms", "compiled_ms")}, cold_first_call_ms=d["compile_first_call_ms"])
            else:
                res["warm_first_call_ms"] = d["compile_first_call_ms"]
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()

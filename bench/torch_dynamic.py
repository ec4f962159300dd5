#!/usr/bin/python3
"""torch.compile's answer to dynamic shapes, the peer figure for issue 13: GPT-2 small (the
real-model suite's full-size configuration, random seeded weights, fp32, TF32 off) compiled
once and then called over a sweep of batch sizes and sequence lengths. For each mode
(`dynamic=True`, and the default, which compiles static first and recompiles as dynamic on a
second shape) it prints, per shape, the first call (a recompile, when one happens), the steady
time per call (median, synchronised, inputs on the GPU) and how many graphs Dynamo compiled so
far, as one JSON line each, then a table. Each mode runs in a fresh process on an empty
Inductor cache.

    python3 bench/torch_dynamic.py [--shapes 1x16,1x128,1x512,4x128,8x1024] [--repeat 20]
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
sys.path.insert(0, HERE)

from torch_models import timed_calls  # noqa: E402  (the same synchronised median as the suite's figures)
DEFAULT_SHAPES = "1x128,1x512,1x16,1x1000,4x128,8x64,8x1024"


def one(mode, shapes, repeat):
    import torch
    from torch._dynamo.utils import counters
    import real_models
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.zeros(1, device="cuda")  # the CUDA context apart, as for kiln
    torch.manual_seed(0)
    model, (sample,), _, _ = real_models.gpt2("full")
    model = model.eval().cuda()
    vocab = int(sample.max()) + 1
    f = torch.compile(model, dynamic=True) if mode == "dynamic" else torch.compile(model)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for b, s in shapes:
            ids = torch.randint(3, vocab, (b, s), generator=g).cuda()
            t0 = time.perf_counter()
            f(ids)
            torch.cuda.synchronize()
            first = (time.perf_counter() - t0) * 1e3
            steady = timed_calls(f, (ids,), repeat)
            eager = timed_calls(model, (ids,), repeat)
            print(json.dumps({"mode": mode, "batch": b, "seq": s, "first_call_ms": first, "per_call_ms": steady,
                              "eager_ms": eager, "graphs_compiled": counters["stats"]["unique_graphs"]}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help="batch x sequence, comma-separated, in call order")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--modes", default="dynamic,default")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    shapes = [tuple(int(x) for x in s.split("x")) for s in a.shapes.split(",")]
    if a.one:
        one(a.one, shapes, a.repeat)
        return
    rows = []
    for mode in a.modes.split(","):
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(prefix="inductor-"), "PYTHONUNBUFFERED": "1"}
        r = subprocess.run([sys.executable, __file__, "--one", mode, "--shapes", a.shapes, "--repeat", str(a.repeat)],
                           env=env, capture_output=True, text=True, timeout=1200)
        got = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        for d in got:
            print(json.dumps(d), flush=True)
        rows += got
        if r.returncode != 0:
            print(json.dumps({"mode": mode, "error": r.stderr[-600:]}), flush=True)
    print("| mode | batch × seq | first call ms | per call ms | eager ms | graphs compiled |")
    print("|:--|:--|--:|--:|--:|--:|")
    for d in rows:
        print(f"| {d['mode']} | {d['batch']} × {d['seq']} | {d['first_call_ms']:.1f} | {d['per_call_ms']:.3f} | {d['eager_ms']:.3f} | {d['graphs_compiled']} |")


if __name__ == "__main__":
    main()

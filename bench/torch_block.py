"""torch.compile's side of bench/gpu.ts: the same 24-layer block (1024 wide, batch 512:
matmul + bias, layer norm, GELU, matmul + bias, softmax, residual), float32, TF32 off.
Prints JSON: first-call (compile) time and steady-state time per call. Run it twice with the
same TORCHINDUCTOR_CACHE_DIR for cold and warm numbers."""
import json, sys, time
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
D, B, L = 1024, 512, 24
g = torch.Generator(device="cuda").manual_seed(0)
params = [(torch.randn(D, D, device="cuda", generator=g) * 0.03, torch.randn(D, device="cuda", generator=g) * 0.05,
           torch.randn(D, D, device="cuda", generator=g) * 0.03, torch.randn(D, device="cuda", generator=g) * 0.05) for _ in range(L)]

def block(x):
    h = x
    for w1, b1, w2, b2 in params:
        a = torch.nn.functional.gelu(torch.nn.functional.layer_norm(h @ w1 + b1, (D,)))
        h = h + torch.softmax(a @ w2 + b2, dim=-1)
    return h

x = torch.randn(B, D, device="cuda", generator=g)
t0 = time.perf_counter()
f = torch.compile(block)
f(x)
torch.cuda.synchronize()
first = time.perf_counter() - t0
for _ in range(3):
    f(x)
torch.cuda.synchronize()
reps = 20
t1 = time.perf_counter()
for _ in range(reps):
    f(x)
torch.cuda.synchronize()
per = (time.perf_counter() - t1) / reps
eager_t = time.perf_counter()
for _ in range(reps):
    block(x)
torch.cuda.synchronize()
eager = (time.perf_counter() - eager_t) / reps
print(json.dumps({"firstMs": first * 1000, "perCallMs": per * 1000, "eagerPerCallMs": eager * 1000, "torch": torch.__version__}))

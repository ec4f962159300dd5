// The 24-layer block of DESIGN.md's size on the GPU, in its own process (so cold and warm
// start are measured honestly): 1024 wide, batch 512; each layer: matmul + bias, layer norm,
// GELU, a second matmul + bias, softmax over features, residual. Prints one JSON line:
// time from compile() to the first result, and the steady-state time per call.
import { compile, layerNorm, NDArray, counters } from '../src/index.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { ctxSynchronize } from '../src/backends/cuda/driver.js';

const cacheDir = process.argv[2];
const D = 1024, B = 512, L = 24;
function rand(n: number, seed: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return a;
}
const layers = Array.from({ length: L }, (_, l) => ({
  w1: NDArray.from(rand(D * D, 10 + l, 0.06), [D, D]),
  b1: NDArray.from(rand(D, 100 + l, 0.1), [D]),
  w2: NDArray.from(rand(D * D, 200 + l, 0.06), [D, D]),
  b2: NDArray.from(rand(D, 300 + l, 0.1), [D]),
}));
const block = (x: Tensor) => {
  let h = x;
  for (const p of layers) {
    const a = layerNorm(h.matmul(p.w1).add(p.b1), [D]).gelu();
    h = h.add(a.matmul(p.w2).add(p.b2).softmax(-1));
  }
  return h;
};
const x = NDArray.from(rand(B * D, 7, 1), [B, D]);
const t0 = performance.now();
const f = compile(block, { device: 'cuda', cacheDir });
const y = (await f(x)) as NDArray;
await y.toTypedArray();
const firstMs = performance.now() - t0;
for (let i = 0; i < 3; i++) await f(x);
ctxSynchronize();
const reps = 20;
const t1 = performance.now();
for (let i = 0; i < reps; i++) await f(x);
ctxSynchronize();
const perCallMs = (performance.now() - t1) / reps;
console.log(JSON.stringify({ firstMs, perCallMs, kernels: counters().kernels_generated, counters: counters() }));

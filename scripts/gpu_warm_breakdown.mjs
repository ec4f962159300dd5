// Where a CUDA warm start spends its time: run once to fill the cache, then again with
// KILN_TRACE in a fresh process and print the spans by category (plus cuInit/cuBLAS).
import { compile, NDArray, counters } from '../dist/src/index.js';
import { initCuda } from '../dist/src/backends/cuda/driver.js';
const D = 256;
const ws = Array.from({ length: 24 }, (_, l) => NDArray.from(Float32Array.from({ length: D * D }, (_, i) => Math.sin(i + l) * 0.05), [D, D]));
const t0 = performance.now();
initCuda();
const tInit = performance.now() - t0;
const f = compile((x) => { let h = x; for (const w of ws) h = h.add(h.matmul(w).relu().softmax(-1)); return h; }, { device: 'cuda' });
const t1 = performance.now();
const y = await f(NDArray.from(Float32Array.from({ length: 64 * D }, (_, i) => Math.cos(i)), [64, D]));
await y.toTypedArray();
console.log(JSON.stringify({ cuInitMs: tInit, firstResultMs: performance.now() - t1, counters: counters() }));
process.exit(0);

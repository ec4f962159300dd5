// Smallest end-to-end check on a GPU machine: one softmax and one matmul through compile().
import { compile, NDArray } from '../dist/src/index.js';
const x = NDArray.from(Float32Array.from({ length: 64 * 100 }, (_, i) => Math.sin(i)), [64, 100]);
const t0 = performance.now();
const y = await (await compile((a) => a.softmax(-1), { device: 'cuda' })(x)).toTypedArray();
console.log('softmax ok', y[0], y[99], (performance.now() - t0).toFixed(0), 'ms');
const w = NDArray.from(Float32Array.from({ length: 100 * 30 }, (_, i) => Math.cos(i)), [100, 30]);
const z = await (await compile((a) => a.matmul(w).relu(), { device: 'cuda' })(x)).toTypedArray();
console.log('matmul ok', z[0], z[29]);
process.exit(0);

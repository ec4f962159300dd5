// GPU benchmark (run on a machine with an NVIDIA GPU; prints a table, JSON with --json):
// - device-to-device copy bandwidth (the ceiling for memory-bound kernels);
// - fused pointwise chains at 64M elements, row softmax and layer norm, a whole-tensor sum
//   (split reduction) and column sums, as % of that ceiling;
// - host cost of one launch of a tiny kernel (µs);
// - the 24-layer block (1024 wide, batch 512: matmul, bias, layer norm, activation, softmax,
//   residual): time per call, cold and warm compile time (bench/torch_block.py gives
//   torch.compile's figures for the same block on the same card).
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile, layerNorm, NDArray } from '../src/index.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { ctxSynchronize, deviceInfo, eventCreate, eventElapsedMs, eventRecord, eventSynchronize, initCuda, memAlloc, memcpyDtoD } from '../src/backends/cuda/driver.js';

const json = process.argv.includes('--json');
const rows: Record<string, unknown>[] = [];
const cacheDir = mkdtempSync(join(tmpdir(), 'kiln-gpu-bench-'));

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Times `fn` (which enqueues GPU work, possibly after an await) with events: median over reps, in ms. */
async function timeGpu(fn: () => unknown, reps = 20): Promise<number> {
  const a = eventCreate();
  const b = eventCreate();
  for (let i = 0; i < 3; i++) await fn();
  ctxSynchronize();
  const ts: number[] = [];
  // Several calls between the two events: the host's per-call cost (~10 µs) overlaps the
  // GPU work queued before it instead of adding an idle gap to every measurement.
  const inner = 10;
  for (let i = 0; i < reps; i++) {
    eventRecord(a);
    for (let j = 0; j < inner; j++) await fn();
    eventRecord(b);
    eventSynchronize(b);
    ts.push(eventElapsedMs(a, b) / inner);
  }
  return median(ts);
}

async function main() {
  initCuda();
  const info = deviceInfo();
  // 1. Copy ceiling.
  const bytes = 256 << 20;
  const src = memAlloc(bytes);
  const dst = memAlloc(bytes);
  const copyMs = await timeGpu(() => memcpyDtoD(dst, src, bytes));
  const copyGBs = (2 * bytes) / copyMs / 1e6;
  rows.push({ bench: 'dtod copy 256 MiB', ms: copyMs, GBs: copyGBs, pctOfCopy: 100 });

  // 2. Memory-bound kernels; inputs live on the device (outputs of an upload kernel).
  const N = 64 << 20;
  const upload = compile((a: Tensor) => a.mul(1), { device: 'cuda', cacheDir });
  const xa = (await upload(NDArray.from(rand(N, 1), [8192, 8192]))) as NDArray;
  const ya = (await upload(NDArray.from(rand(N, 2), [8192, 8192]))) as NDArray;
  const cases: [string, (...t: Tensor[]) => Tensor, NDArray[], number][] = [
    ['pointwise a*1.5+b relu (64M)', (a, b) => a.mul(1.5).add(b!).relu(), [xa, ya], 3 * N * 4],
    ['pointwise gelu(a)*sigmoid(b) (64M)', (a, b) => a.gelu().mul(b!.sigmoid()), [xa, ya], 3 * N * 4],
    ['row softmax [8192,8192]', (a) => a.softmax(-1), [xa], 2 * N * 4],
    ['layer norm [8192,8192]', (a) => layerNorm(a, [8192]), [xa], 2 * N * 4],
    // One row of 64M elements: the split reduction (many blocks, last block combines).
    ['whole-tensor sum (64M, split reduction)', (a) => a.sum(), [xa], N * 4],
    ['column sums [8192,8192] → [8192]', (a) => a.sum(0), [xa], N * 4],
    // One block per row, tiles of 512 with a running carry.
    ['row cumsum [8192,8192]', (a) => a.cumsum(-1), [xa], 2 * N * 4],
  ];
  for (const [name, fn, args, moved] of cases) {
    const f = compile(fn, { device: 'cuda', cacheDir });
    await f(...args);
    // Release each output at once: 64M-element results would otherwise wait for GC.
    const ms = await timeGpu(async () => ((await f(...args)) as NDArray).deviceData()?.release());
    rows.push({ bench: name, ms, GBs: moved / ms / 1e6, pctOfCopy: (100 * moved) / ms / 1e6 / copyGBs });
  }

  // 3. Host cost of one launch: a 1-element kernel, launched back to back.
  const tiny = compile((a: Tensor) => a.add(1), { device: 'cuda', cacheDir });
  const one = (await upload(NDArray.from(new Float32Array([1]), [1]))) as NDArray;
  await tiny(one);
  const reps = 2000;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) ((await tiny(one)) as NDArray).deviceData()?.release();
  ctxSynchronize();
  rows.push({ bench: 'host µs per call of a 1-kernel program', us: ((performance.now() - t0) * 1000) / reps });

  // 4. The 24-layer block, cold and warm compile in child processes, then time per call.
  const block = spawnSync(process.execPath, [join(import.meta.dirname, 'gpu_block.js'), cacheDir], { encoding: 'utf8' });
  const block2 = spawnSync(process.execPath, [join(import.meta.dirname, 'gpu_block.js'), cacheDir], { encoding: 'utf8' });
  try {
    const cold = JSON.parse(block.stdout.trim().split('\n').pop()!);
    const warm = JSON.parse(block2.stdout.trim().split('\n').pop()!);
    rows.push({ bench: '24-layer block: cold compile to first result', ms: cold.firstMs, kernels: cold.kernels });
    rows.push({ bench: '24-layer block: warm start to first result', ms: warm.firstMs });
    rows.push({ bench: '24-layer block: time per call', ms: warm.perCallMs });
  } catch {
    rows.push({ bench: '24-layer block', error: (block.stderr || block.stdout).slice(-2000) });
  }

  if (json) console.log(JSON.stringify({ device: info.name, arch: info.arch, rows }, null, 2));
  else {
    console.log(`device: ${info.name} (${info.arch})`);
    console.table(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toFixed(3)) : v]))));
  }
}

await main();

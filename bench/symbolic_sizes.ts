// Symbolic programs (compile(fn, { dynamic: true })) against static ones (dynamic: false), per
// call, on the CPU or (--device cuda) the GPU, over a sweep of sizes: one symbolic program
// serves every size; each static figure is its own program for that size. Also the first
// compile of each (the symbolic one includes its second trace and schedule at other sizes,
// symbolic_compile.ts). On CUDA each batch of calls ends with a context synchronise, so a
// figure is the GPU's time per call, and the GPT-2-small-sized case runs too:
//
// - gpt2: two GPT-2 small layers (768 wide, 12 heads, MLP 3072, layer norms, GELU (tanh)),
//   (B, T) = (1, 128), (8, 128), (1, 512), (4, 512), (8, 1024) (CUDA only)
//
// - mlp: [B, 256] @ [256, 512] + b, relu, @ [512, 256], B = 2, 7, 63, 1000
// - attention: 4 heads of 16 over [2, T, 64] with q, k, v and output projections, T = 7, 63, 256
// - rows: softmax and layer norm over [B, T, 256], (B, T) = (2, 7), (4, 63), (8, 256)
// - tiny: x * 2 + 1 over [B, 4], B = 2, 7 (kiln's host cost per call: binding and guards)
//
// Per-call figures: mean of a batch of calls (--calls, fewer for big shapes), median of
// --batches batches, after one warm-up batch; static and symbolic alternate batch by batch.
//
//   node dist/bench/symbolic_sizes.js [--json] [--calls 200] [--batches 7] [--device cuda]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile, counters, toDevice } from '../src/index.js';
import type { NDArray } from '../src/graph/ndarray.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { layerNorm } from '../src/frontend/functions.js';
import type { TracedFn } from '../src/frontend/trace.js';
import { randnArray } from '../test/fixtures/programs.js';
import { machineInfo, machineLine, median } from './common.js';

const flag = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const CALLS = flag('--calls', 200);
const BATCHES = flag('--batches', 7);
const JSON_OUT = process.argv.includes('--json');
const DEVICE = process.argv.includes('--device') ? (process.argv[process.argv.indexOf('--device') + 1] as 'cpu' | 'cuda') : 'cpu';
/** Waits for the GPU's queued work (CUDA), so a batch's time is the work's, not its enqueueing. */
const sync: () => void = DEVICE === 'cuda' ? (await import('../src/backends/cuda/driver.js')).ctxSynchronize : () => {};

const W1 = randnArray([256, 512], 1);
const B1 = randnArray([512], 2);
const W2 = randnArray([512, 256], 3);
const mlp = (x: Tensor) => x.matmul(W1).add(B1).relu().matmul(W2);

const Wq = randnArray([64, 64], 4);
const Wk = randnArray([64, 64], 5);
const Wv = randnArray([64, 64], 6);
const Wo = randnArray([64, 64], 7);
function attention(x: Tensor): Tensor {
  const [b, t] = x.shape as [number, number];
  const heads = (w: NDArray) => x.matmul(w).reshape([b, t, 4, 16]).permute([0, 2, 1, 3]);
  const p = heads(Wq).matmul(heads(Wk).transpose(-1, -2)).mul(0.25).softmax(-1);
  return p.matmul(heads(Wv)).permute([0, 2, 1, 3]).reshape([b, t, 64]).matmul(Wo);
}
const G = randnArray([256], 8);
const rows = (x: Tensor) => layerNorm(x.softmax(-1), [256], G);
const tiny = (x: Tensor) => x.mul(2).add(1);

const GD = 768;
const gptLayers = Array.from({ length: 2 }, (_, l) => ({
  qkv: randnArray([GD, 3 * GD], 20 + l, 0.02), o: randnArray([GD, GD], 30 + l, 0.02),
  fc: randnArray([GD, 4 * GD], 40 + l, 0.02), proj: randnArray([4 * GD, GD], 50 + l, 0.02),
  g1: randnArray([GD], 60 + l), g2: randnArray([GD], 70 + l),
}));
/** GPT-2 small's layers (no embeddings: those are gathers), 12 heads of 64, over [B, T, 768]. */
function gpt2(x: Tensor): Tensor {
  const [b, t] = x.shape as [number, number];
  let h = x;
  for (const p of gptLayers) {
    const qkv = layerNorm(h, [GD], p.g1).matmul(p.qkv);
    const part = (i: number) => qkv.slice(-1, GD * i, GD * (i + 1)).reshape([b, t, 12, 64]).permute([0, 2, 1, 3]);
    const att = part(0).matmul(part(1).transpose(-1, -2)).mul(0.125).softmax(-1);
    h = att.matmul(part(2)).permute([0, 2, 1, 3]).reshape([b, t, GD]).matmul(p.o).add(h);
    h = layerNorm(h, [GD], p.g2).matmul(p.fc).gelu('tanh').matmul(p.proj).add(h);
  }
  return h;
}

interface Case {
  name: string;
  fn: TracedFn;
  shapes: number[][];
}
const CASES: Case[] = [
  { name: 'mlp', fn: mlp, shapes: [[2, 256], [7, 256], [63, 256], [1000, 256]] },
  { name: 'attention', fn: attention, shapes: [[2, 7, 64], [2, 63, 64], [2, 256, 64]] },
  { name: 'rows', fn: rows, shapes: [[2, 7, 256], [4, 63, 256], [8, 256, 256]] },
  { name: 'tiny', fn: tiny, shapes: [[2, 4], [7, 4]] },
  ...(DEVICE === 'cuda' ? [{ name: 'gpt2', fn: gpt2, shapes: [[1, 128, GD], [8, 128, GD], [1, 512, GD], [4, 512, GD], [8, 1024, GD]] }] : []),
];

interface Row {
  case: string;
  shape: string;
  staticUs: number;
  symbolicUs: number;
  ratio: number;
}

type Fn = (...xs: NDArray[]) => Promise<unknown>;

async function batchUs(f: Fn, x: NDArray, calls: number): Promise<number> {
  sync();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await f(x);
  sync();
  return Number(process.hrtime.bigint() - t0) / 1e3 / calls;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-dyn-'));
  const out: Row[] = [];
  const compiles: { case: string; staticMs: number; symbolicMs: number }[] = [];
  try {
    for (const c of CASES) {
      const opts = { cacheDir: join(dir, c.name), workers: 2, device: DEVICE };
      const symbolic = compile(c.fn, { ...opts, dynamic: true }) as Fn;
      let symbolicMs = 0;
      let staticMs = 0;
      for (const [i, shape] of c.shapes.entries()) {
        // On CUDA the input lives on the device (as a server's would), so no copy is timed.
        const host = randnArray(shape, 10 + i);
        const x = DEVICE === 'cuda' ? await toDevice(host, 'cuda') : host;
        const stat = compile(c.fn, { ...opts, dynamic: false }) as Fn;
        let t = performance.now();
        await stat(x);
        if (i === 0) staticMs = performance.now() - t;
        t = performance.now();
        await symbolic(x);
        if (i === 0) symbolicMs = performance.now() - t;
        const n = Math.max(5, Math.round(CALLS / Math.max(1, shape.reduce((p, d) => p * d, 1) / 16384)));
        const s: number[] = [];
        const d: number[] = [];
        await batchUs(stat, x, n);
        await batchUs(symbolic, x, n);
        for (let b = 0; b < BATCHES; b++) {
          s.push(await batchUs(stat, x, n));
          d.push(await batchUs(symbolic, x, n));
        }
        const staticUs = median(s);
        const symbolicUs = median(d);
        out.push({ case: c.name, shape: `[${shape.join(',')}]`, staticUs, symbolicUs, ratio: symbolicUs / staticUs });
      }
      compiles.push({ case: c.name, staticMs, symbolicMs });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const symbolicPrograms = counters().symbolic_programs;
  if (JSON_OUT) {
    console.log(JSON.stringify({ machine: machineInfo({}), rows: out, compiles, symbolicPrograms }));
    return;
  }
  console.log(machineLine(machineInfo({})));
  console.log(`device: ${DEVICE}`);
  console.log(`symbolic programs compiled: ${symbolicPrograms} (one per case expected)`);
  console.log('| case | shape | static µs/call | symbolic µs/call | symbolic/static |');
  console.log('|:--|:--|--:|--:|--:|');
  for (const r of out) console.log(`| ${r.case} | ${r.shape} | ${r.staticUs.toFixed(1)} | ${r.symbolicUs.toFixed(1)} | ${r.ratio.toFixed(2)} |`);
  console.log('\n| case | first compile, static (ms) | first compile, symbolic (ms) |');
  console.log('|:--|--:|--:|');
  for (const c of compiles) console.log(`| ${c.case} | ${c.staticMs.toFixed(0)} | ${c.symbolicMs.toFixed(0)} |`);
}

await main();

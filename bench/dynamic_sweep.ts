// Issue 13's GPU figure: a model exported with symbolic batch and sequence (GPT-2 small from
// `scripts/real_models_dynamic.py --size full`), loaded once without inputShapes, then called
// over a sweep of shapes in one process: the cold first call (empty cache: compile included),
// then per shape the first call, the compiles and graph builds it caused (the target: none after
// the first), and the steady time per call (median, synchronised, inputs on the device as
// torch_models.py times PyTorch). Beside it, the same model pinned by inputShapes to each of the
// --static shapes (one static program each, compiled in its own cache): per call, the ratio
// symbolic / static (target ≤ 1.1) and the largest difference between their outputs.
// torch.compile's dynamic modes over the same sweep: bench/torch_dynamic.py.
//
//   node dist/bench/dynamic_sweep.js --model DIR/model.onnx [--device cuda|cpu]
//        [--shapes 1x128,1x512,1x16,1x1000,4x128,8x64,8x1024] [--static 1x128,1x512]
//        [--vocab 50257] [--repeat 20] [--json]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { OnnxModel } from '../src/api/onnx_model_api.js';
// The package's entry (the library bundle), as onDevice and the CUDA runtime use it: NDArrays
// made from another copy of the module would not be recognised as arrays by its toDevice.
import { NDArray, counters, loadOnnx } from '../src/index.js';
import { type BenchArgs, list, machineInfo, machineLine, medianCallMs, onDevice, parseArgs } from './common.js';
import { maxRelError } from './model_suite.js';

interface Args extends BenchArgs {
  model: string;
  shapes: string[];
  static: string[];
  vocab: number;
  repeat: number;
}

interface ShapeRow {
  shape: string;
  firstCallMs: number;
  compiles: number;
  graphBuilds: number;
  perCallMs: number;
  staticPerCallMs?: number;
  staticCompileMs?: number;
  ratio?: number;
  maxRelDiff?: number;
}

const parse = (s: string): [number, number] => {
  const m = /^(\d+)x(\d+)$/.exec(s);
  if (!m) throw new Error(`--shapes: '${s}' is not BATCHxSEQUENCE`);
  return [Number(m[1]), Number(m[2])];
};

/** Feeds for a batch × sequence: token ids in [0, vocab) (seeded), masks all ones, other inputs random. */
function feedsFor(model: OnnxModel, [b, s]: [number, number], vocab: number, seed: number): Record<string, NDArray> {
  const out: Record<string, NDArray> = {};
  let x = seed >>> 0 || 1;
  const next = () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
  for (const input of model.inputs) {
    const dims = input.dims.map((d, k) => (typeof d === 'number' ? d : k === 0 ? b : s));
    const n = dims.reduce((p, q) => p * q, 1);
    if (input.dtype === 'int64') {
      const a = new BigInt64Array(n);
      const mask = /mask/i.test(input.name);
      for (let i = 0; i < n; i++) a[i] = mask ? 1n : BigInt(Math.floor(next() * vocab));
      out[input.name] = NDArray.from(a, dims);
    } else {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = next() * 2 - 1;
      out[input.name] = NDArray.from(a, dims);
    }
  }
  return out;
}

async function firstOutput(model: OnnxModel, feeds: Record<string, NDArray>): Promise<Float32Array> {
  const outs = await model.run(feeds);
  return (await outs[model.inspect().outputs[0]!]!.toTypedArray()) as Float32Array;
}

async function main(): Promise<void> {
  const a = parseArgs<Args>(process.argv.slice(2), { json: false, device: 'cuda', model: '', shapes: ['1x128', '1x512', '1x16', '1x1000', '4x128', '8x64', '8x1024'], static: ['1x128', '1x512'], vocab: 50257, repeat: 20 }, {
    '--model': (a, v) => (a.model = v!),
    '--shapes': (a, v) => (a.shapes = list(v)),
    '--static': (a, v) => (a.static = list(v)),
    '--vocab': (a, v) => (a.vocab = Number(v)),
    '--repeat': (a, v) => (a.repeat = Number(v)),
  });
  if (a.model === '') throw new Error('--model DIR/model.onnx is required (scripts/real_models_dynamic.py --size full writes one)');
  const driver = a.device === 'cuda' ? await import('../src/backends/cuda/driver.js') : undefined;
  const sync = driver ? () => driver.ctxSynchronize() : () => {};
  let contextMs = 0;
  if (driver) {
    const t = performance.now();
    driver.initCuda();
    contextMs = performance.now() - t;
  }
  const caches: string[] = [];
  const cacheDir = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'kiln-dynamic-sweep-'));
    caches.push(d);
    return d;
  };
  try {
    const shapes = a.shapes.map(parse);
    const t0 = performance.now();
    const model = loadOnnx(a.model, { device: a.device as 'cpu' | 'cuda', cacheDir: cacheDir() });
    const rows: ShapeRow[] = [];
    const outputs = new Map<string, Float32Array>();
    let coldMs = 0;
    for (const [i, shape] of shapes.entries()) {
      const feeds = feedsFor(model, shape, a.vocab, 7 + i);
      const before = counters();
      const t = performance.now();
      const out = await firstOutput(model, feeds);
      const firstCallMs = performance.now() - t;
      if (i === 0) coldMs = performance.now() - t0;
      const after = counters();
      const delta = (k: keyof typeof after) => (after[k] ?? 0) - (before[k] ?? 0);
      const name = a.shapes[i]!;
      outputs.set(name, out);
      const onIt = a.device === 'cuda' ? await onDevice(feeds) : feeds;
      rows.push({ shape: name, firstCallMs, compiles: delta('compile_submitted') + delta('compile_inline'), graphBuilds: delta('onnx_graph_builds'), perCallMs: await medianCallMs(() => model.run(onIt), a.repeat, sync) });
    }
    const symbolic = model.inspect().symbolic;
    for (const name of a.static) {
      const shape = parse(name);
      const row = rows.find((r) => r.shape === name);
      if (!row) continue;
      const feeds = feedsFor(model, shape, a.vocab, 7 + a.shapes.indexOf(name));
      const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, [...v.shape]]));
      const t = performance.now();
      const pinned = loadOnnx(a.model, { device: a.device as 'cpu' | 'cuda', cacheDir: cacheDir(), inputShapes });
      const out = await firstOutput(pinned, feeds);
      row.staticCompileMs = performance.now() - t;
      const onIt = a.device === 'cuda' ? await onDevice(feeds) : feeds;
      row.staticPerCallMs = await medianCallMs(() => pinned.run(onIt), a.repeat, sync);
      row.ratio = row.perCallMs / row.staticPerCallMs;
      const symbolicOut = outputs.get(name)!;
      row.maxRelDiff = symbolicOut.length === out.length ? maxRelError(symbolicOut, out) : Infinity;
      pinned.dispose();
    }
    const after = rows.slice(1);
    const result = {
      machine: machineInfo({ device: a.device }),
      model: a.model,
      contextMs,
      coldMs,
      symbolic,
      compilesAfterFirst: after.reduce((n, r) => n + r.compiles, 0),
      graphBuildsAfterFirst: after.reduce((n, r) => n + r.graphBuilds, 0),
      rows,
    };
    if (a.json) {
      console.log(JSON.stringify(result));
      return;
    }
    console.log(machineLine(result.machine));
    console.log(`${a.model}: cold ${coldMs.toFixed(0)} ms to the first result (context ${contextMs.toFixed(0)} ms apart), path ${symbolic?.path ?? 'static'}${symbolic?.reason ? ` (${symbolic.reason})` : ''}; after the first shape: ${result.compilesAfterFirst} compiles, ${result.graphBuildsAfterFirst} graph builds`);
    console.log('| shape | first call (ms) | compiles | graph builds | per call (ms) | static per call (ms) | symbolic / static | static compile (ms) | max rel. diff |');
    console.log('|:--|--:|--:|--:|--:|--:|--:|--:|--:|');
    const f = (v: number | undefined, d = 2) => (v === undefined ? '' : v.toFixed(d));
    for (const r of rows) console.log(`| ${r.shape} | ${f(r.firstCallMs, 1)} | ${r.compiles} | ${r.graphBuilds} | ${f(r.perCallMs, 3)} | ${f(r.staticPerCallMs, 3)} | ${f(r.ratio)} | ${f(r.staticCompileMs, 0)} | ${r.maxRelDiff === undefined ? '' : r.maxRelDiff.toExponential(1)} |`);
  } finally {
    for (const d of caches) rmSync(d, { recursive: true, force: true });
  }
}

await main();

// What a dynamic ONNX model (symbolic dims, loaded without inputShapes) costs per shape and per
// call on the CPU, for two fixtures: mlp_dynamic [batch,16] and attention_dynamic
// [batch,time,16] (its reshapes through Shape → Gather → Concat → Reshape).
//
// - new size: the first run at a size never seen, in a fresh cache directory (graph build,
//   codegen, C compile, run), with the graph builds and compiles it caused
// - evicted, run again: with room for one shape variant, each size run again after the others
//   evicted it (a graph build and an in-memory graph-cache hit)
// - second load: another loadOnnx of the file in this process, first run at a size seen before
//   (its stored conversion and the graph cache: nothing built)
// - per call: µs per run at one size, a variant hit, against the same model pinned to that size
//   by inputShapes (the same program): the binding, lookup and LRU bookkeeping's cost. Mean of a
//   batch of --calls calls, median of --batches batches, the two alternating batch by batch.
//
//   node dist/bench/dynamic_shapes.js [--json] [--calls 2000] [--batches 7]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOnnx } from '../src/api/load_onnx.js';
import type { OnnxModel } from '../src/api/onnx_model_api.js';
import { NDArray } from '../src/graph/ndarray.js';
import { counters } from '../src/observe/counters.js';
import { machineInfo, machineLine, median, numberFlag } from './common.js';

const CALLS = numberFlag('--calls', 2000);
const BATCHES = numberFlag('--batches', 7);
const JSON_OUT = process.argv.includes('--json');
const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/onnx');

const MODELS: { name: string; sizes: number[][] }[] = [
  { name: 'mlp_dynamic', sizes: [[1, 16], [8, 16], [37, 16]] },
  // Its causal mask is an [8,8] buffer the export sliced: time ≤ 8.
  { name: 'attention_dynamic', sizes: [[1, 4, 16], [2, 8, 16], [3, 6, 16]] },
];

function feed(shape: number[]): { x: NDArray } {
  const n = shape.reduce((a, b) => a * b, 1);
  return { x: NDArray.from(Float32Array.from({ length: n }, (_, i) => Math.sin(i)), shape) };
}

/** ms of one run, its output read back. */
async function timedRun(m: OnnxModel, shape: number[]): Promise<number> {
  const t = process.hrtime.bigint();
  const { y } = await m.run(feed(shape));
  await y!.toTypedArray();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** µs per call over a batch of CALLS runs on the same feeds. */
async function batchUs(m: OnnxModel, feeds: { x: NDArray }): Promise<number> {
  const t = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await (await m.run(feeds)).y!.toTypedArray();
  return Number(process.hrtime.bigint() - t) / 1e3 / CALLS;
}

interface Row {
  model: string;
  newSizeMs: number[];
  newSizeBuilds: number;
  newSizeCompiles: number;
  evictedRerunMs: number;
  secondLoadMs: number;
  secondLoadBuilds: number;
  perCallUs: { pinned: number; dynamic: number; size: number[] };
}

async function measure(name: string, sizes: number[][]): Promise<Row> {
  const file = path.join(FIX, `${name}.onnx`);
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'kiln-bench-dyn-'));
  try {
    const m = loadOnnx(file, { cacheDir, maxShapeVariants: 1 });
    const c0 = counters();
    const newSizeMs: number[] = [];
    for (const s of sizes) newSizeMs.push(await timedRun(m, s));
    const c1 = counters();
    const reruns: number[] = [];
    for (let r = 0; r < 3; r++) for (const s of sizes) reruns.push(await timedRun(m, s));
    m.dispose();
    const again = loadOnnx(file, { cacheDir });
    const c2 = counters();
    const second: number[] = [];
    for (const s of sizes) second.push(await timedRun(again, s));
    const c3 = counters();
    const size = sizes[1]!;
    const pinned = loadOnnx(file, { cacheDir, inputShapes: { x: size } });
    const feeds = feed(size);
    await pinned.run(feeds);
    await again.run(feeds);
    const p: number[] = [];
    const d: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      p.push(await batchUs(pinned, feeds));
      d.push(await batchUs(again, feeds));
    }
    pinned.dispose();
    again.dispose();
    return {
      model: name,
      newSizeMs,
      newSizeBuilds: c1.onnx_graph_builds - c0.onnx_graph_builds,
      newSizeCompiles: c1.graph_cache_misses - c0.graph_cache_misses,
      evictedRerunMs: median(reruns),
      secondLoadMs: median(second),
      secondLoadBuilds: c3.onnx_graph_builds - c2.onnx_graph_builds,
      perCallUs: { pinned: median(p), dynamic: median(d), size },
    };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
for (const { name, sizes } of MODELS) rows.push(await measure(name, sizes));
const machine = machineInfo({ calls: CALLS, batches: BATCHES });
if (JSON_OUT) {
  process.stdout.write(JSON.stringify({ machine, rows }, null, 2) + '\n');
} else {
  console.log(machineLine(machine));
  console.log('| model | new size: first run (ms) | builds / compiles | evicted, run again (ms) | second load, seen size (ms; builds) | per call pinned / dynamic (µs) |');
  console.log('|:--|--:|--:|--:|--:|--:|');
  for (const r of rows) {
    const sizes = MODELS.find((m) => m.name === r.model)!.sizes;
    console.log(
      `| ${r.model} | ${r.newSizeMs.map((v, i) => `${v.toFixed(0)} ([${sizes[i]!.join(',')}])`).join(', ')} | ${r.newSizeBuilds} / ${r.newSizeCompiles} | ${r.evictedRerunMs.toFixed(2)} | ${r.secondLoadMs.toFixed(2)}; ${r.secondLoadBuilds} | ${r.perCallUs.pinned.toFixed(1)} / ${r.perCallUs.dynamic.toFixed(1)} at [${r.perCallUs.size.join(',')}] |`,
    );
  }
}

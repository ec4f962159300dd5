// Load throughput of big generated models on the CPU, beside onnxruntime-node's session create.
//
// The model: an MLP of --layers (12) MatMul+Add+Relu layers of --d × --d (2048) float32 weights
// and biases, every initializer in one external data file (12 × 2048² × 4 B = 201 MB), written
// into a temporary directory (removed at the end, never committed). The data file is read
// once before measuring, so every measurement reads it from the page cache.
//
// Each measurement runs in a fresh child process (this script with --child), the variants
// alternating (one of each per round, --reps rounds):
//   kiln map     loadOnnx(path) with the external data file mapped (the default on Linux)
//   kiln file    KILN_EXTERNAL_DATA=file: the file read once into one buffer, tensors views of it
//   kiln region  KILN_EXTERNAL_DATA=region: each tensor's region read into its own buffer (the
//                reader before mapping)
//   ORT create   InferenceSession.create(path), default options (skipped without bench/.peers)
//   kiln warm    loadOnnx(path) (mapped), then the first run's result, with the cache filled by
//                one cold run beforehand (the warm start: ≤ 1.5× ORT's session create)
//   ORT 1st      InferenceSession.create(path), then its first run's result
// kiln's load is protobuf decode, external data, graph conversion and constant folding (no
// compile: the graph is traced on first compile/run). For each: wall time (median of the
// rounds), weights / time as GB/s, peak host memory of the child (VmHWM: its own high-water
// mark, which, unlike getrusage's maxRSS, a child does not inherit from this parent) minus its
// RSS before loading, as a fraction of the weights' size, and for kiln the time to then read
// one value of every 4 KiB page of every weight (what a first call would pay for pages the
// load left unmapped).
//
// --inline 1 writes every initializer's data into the model file itself (raw_data, as the
// TorchScript exporter and most published models under 2 GB do) instead of the data file.
//
//   npx tsc -p . && node dist/bench/load_throughput.js [--json] [--reps 5] [--layers 12] [--d 2048] [--inline 1] [--keep 1 (leave the model in its temp dir)]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchArgs, machineInfo, machineLine, median, parseArgs } from './common.js';
import { writeMlpModel as writeModel } from './mlp_model.js';

const THIS = fileURLToPath(import.meta.url);
const ROOT = join(dirname(THIS), '..', '..');
const PEERS = join(ROOT, 'bench', '.peers');

interface Args extends BenchArgs {
  reps: number;
  layers: number;
  d: number;
  keep: boolean;
  inline: boolean;
}

interface ChildResult {
  ms: number;
  rssBefore: number;
  peakRss: number;
  /** kiln: ms to read one float of every 4 KiB of every weight after the load. */
  touchMs?: number;
}

/** This process's resident set high-water mark, in bytes (Linux; maxRSS elsewhere). */
function peakRss(): number {
  try {
    return Number(/VmHWM:\s*(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
  } catch {
    return process.resourceUsage().maxRSS * 1024;
  }
}

const VARIANTS: Record<string, { label: string; env?: string }> = {
  map: { label: 'kiln loadOnnx, map', env: 'map' },
  file: { label: 'kiln loadOnnx, file', env: 'file' },
  region: { label: 'kiln loadOnnx, region', env: 'region' },
  ort: { label: 'ORT session create' },
  warm: { label: 'kiln warm start, to 1st result' },
  ortFirst: { label: 'ORT create, to 1st result' },
};

async function child(kind: string, file: string): Promise<void> {
  // kiln's modules (and onnx-proto, loaded on first use) are imported before the clock starts:
  // this measures the load, not Node's module loader (ORT's addon likewise loads first).
  const { loadOnnx } = await import('../src/api/load_onnx.js');
  await import('onnx-proto');
  // koffi (which the mapping calls mmap through) is loaded on first use, as onnx-proto is; any
  // process that runs a model on the CPU loads it anyway.
  await import('koffi');
  const req = createRequire(join(PEERS, 'node_modules', 'index.js'));
  const ort = kind === 'ort' || kind === 'ortFirst' ? (req('onnxruntime-node') as { InferenceSession: { create(p: string): Promise<unknown> } }) : undefined;
  const rssBefore = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  let keep: unknown;
  let touchMs: number | undefined;
  let ms: number;
  const x = new Float32Array(4 * 2048).fill(0.5);
  if (kind === 'warm' || kind === 'cold') {
    const { NDArray } = await import('../src/index.js');
    const model = loadOnnx(file, { cacheDir: join(dirname(file), 'cache') });
    const { [model.outputNames[0]!]: y } = await model.run({ x: NDArray.from(x, [4, 2048]) });
    keep = await (y as { toTypedArray(): Promise<unknown> }).toTypedArray();
    ms = Number(process.hrtime.bigint() - t0) / 1e6;
  } else if (kind === 'ortFirst') {
    const ortT = req('onnxruntime-node') as { InferenceSession: { create(p: string): Promise<{ run(f: unknown): Promise<Record<string, { data: unknown }>> }> }; Tensor: new (t: string, d: Float32Array, s: number[]) => unknown };
    const s = await ortT.InferenceSession.create(file);
    keep = Object.values(await s.run({ x: new ortT.Tensor('float32', x, [4, 2048]) }))[0]!.data;
    ms = Number(process.hrtime.bigint() - t0) / 1e6;
  } else if (kind !== 'ort') {
    const model = loadOnnx(file, { cacheDir: join(dirname(file), 'cache') });
    keep = model;
    const t1 = process.hrtime.bigint();
    ms = Number(t1 - t0) / 1e6;
    let sum = 0;
    for (const p of model.graphFor()!.traced.params) {
      const w = p.hostData() as Float32Array;
      for (let i = 0; i < w.length; i += 1024) sum += w[i]!;
    }
    touchMs = Number(process.hrtime.bigint() - t1) / 1e6;
    if (Number.isNaN(sum)) throw new Error('NaN weights');
  } else {
    keep = await ort!.InferenceSession.create(file);
    ms = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  process.stdout.write(JSON.stringify({ ms, rssBefore, peakRss: peakRss(), touchMs } satisfies ChildResult) + '\n');
  void keep;
}

function hasOrt(): boolean {
  try {
    createRequire(join(PEERS, 'node_modules', 'index.js')).resolve('onnxruntime-node');
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') return child(argv[1]!, argv[2]!);
  const a = parseArgs<Args>(argv, { json: false, device: 'cpu', reps: 5, layers: 12, d: 2048, keep: false, inline: false }, {
    '--keep': (x, v) => (x.keep = v === '1'),
    '--inline': (x, v) => (x.inline = v === '1'),
    '--reps': (x, v) => (x.reps = Number(v)),
    '--layers': (x, v) => (x.layers = Number(v)),
    '--d': (x, v) => (x.d = Number(v)),
  });
  const dir = mkdtempSync(join(tmpdir(), 'kiln-load-bench-'));
  try {
    const { file, bytes } = await writeModel(dir, a.layers, a.d, a.inline);
    readFileSync(a.inline ? file : join(dir, 'mlp.onnx.data')); // into the page cache
    const kinds = hasOrt() ? ['map', 'file', 'region', 'ort', 'warm', 'ortFirst'] : ['map', 'file', 'region', 'warm'];
    // One cold run fills the cache the warm runs start from.
    const cold = spawnSync(process.execPath, [THIS, '--child', 'cold', file], { encoding: 'utf8' });
    if (cold.status !== 0) throw new Error(`cold child failed:\n${cold.stderr}`);
    const coldMs = (JSON.parse(cold.stdout.trim().split('\n').pop()!) as ChildResult).ms;
    const runs = new Map<string, ChildResult[]>(kinds.map((k) => [k, []]));
    for (let i = 0; i < a.reps; i++) {
      for (const kind of kinds) {
        const env = { ...process.env, ...(kind === 'warm' ? {} : { KILN_NO_CACHE: '1' }), ...(VARIANTS[kind]!.env ? { KILN_EXTERNAL_DATA: VARIANTS[kind]!.env } : {}) };
        const r = spawnSync(process.execPath, [THIS, '--child', kind, file], { encoding: 'utf8', env });
        if (r.status !== 0) throw new Error(`${kind} child failed:\n${r.stderr}`);
        runs.get(kind)!.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult);
      }
    }
    const rows = kinds.map((kind) => {
      const rs = runs.get(kind)!;
      const ms = median(rs.map((r) => r.ms));
      const peak = median(rs.map((r) => r.peakRss - r.rssBefore));
      const touch = rs[0]!.touchMs === undefined ? undefined : median(rs.map((r) => r.touchMs!));
      return { kind: VARIANTS[kind]!.label, ms, gbPerS: bytes / 1e6 / ms, peakOverWeights: peak / bytes, touchMs: touch, runsMs: rs.map((r) => r.ms) };
    });
    const info = machineInfo({ layers: a.layers, d: a.d, inline: a.inline, weightsBytes: bytes, coldMs });
    if (a.json) {
      process.stdout.write(JSON.stringify({ machine: info, rows }, null, 2) + '\n');
      return;
    }
    console.log(`${machineLine(info)}`);
    console.log(`MLP ${a.layers} × ${a.d}² float32, ${(bytes / 1e6).toFixed(0)} MB ${a.inline ? 'inline in the model file' : 'in one external file'}, page cache warm; median of ${a.reps} processes per variant, variants alternating; one cold run (compile) first: ${coldMs.toFixed(0)} ms to its first result`);
    for (const r of rows) {
      const touch = r.touchMs === undefined ? '' : `  then a read of every weight page ${r.touchMs.toFixed(1)} ms`;
      console.log(`  ${r.kind.padEnd(22)} ${r.ms.toFixed(1).padStart(7)} ms  ${r.gbPerS.toFixed(2).padStart(6)} GB/s  peak RSS growth ${(r.peakOverWeights * 100).toFixed(0)}% of weights${touch}  (${r.runsMs.map((x) => x.toFixed(0)).join(', ')})`);
    }
  } finally {
    if (a.keep) console.error(`model kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

await main();

// CPU peer benchmark: kiln against onnxruntime-node on the same ONNX models and inputs.
//
// onnxruntime-node is a benchmark peer only, never a dependency: `bash bench/install_peers.sh`
// installs it into bench/.peers/ (gitignored) with --ignore-scripts, and this script loads it
// from there at run time through createRequire (so `tsc` needs no types for it). Without it,
// the script says so and exits 0.
//
// Models: every test/fixtures/onnx/*.onnx (symbolic dims take the shape of the fixture's saved
// input, as test/onnx_models.test.ts does), examples/mlp.onnx, and bigger ones: two dynamic
// fixtures at a larger batch (via `inputShapes`) and a wide MLP built here with onnx-proto.
// Inputs: seeded uniform random float32 in [-1, 1) of the input shapes; the same bytes go to
// both runtimes.
//
// Every measurement runs in a fresh child process (this script with --child):
//   ORT create   InferenceSession.create(path), default options (intra-op threads = cores)
//                (start-up and steady state are measured in separate processes on both sides)
//   ORT first    the first session.run
//   kiln cold    loadOnnx(path, {cacheDir, workers}) → first run() → output read, fresh cache dir
//   kiln warm    the same in a new process on the filled cache dir (KILN_ASSERT_NO_COMPILE=1);
//                median of --warm processes
//   per call     median of ≥ --runs calls (and ≥ 1 s of calls) after warm-up, in the ORT child
//                (default threads, then a second session with 1 intra-op thread) and the first
//                warm kiln child; kiln's call includes reading the output (toTypedArray)
//   max |diff|   largest |kiln − ORT| over all output elements (and the largest |ORT| for scale)
//
//   per call, --rounds R  R steady-state processes per side, ORT and kiln alternating; the
//                table's per-call figures are the medians over them (the JSON keeps each)
//   kiln 1-thread  per round, one more kiln process with OMP_NUM_THREADS=1, beside ORT's
//                1-thread session: on a machine shared with other work a 2-thread figure
//                is mostly how long each parallel region waits for a descheduled thread,
//                the 1-thread one the kernels' own speed
//
//   --dir DIR    instead of the cases above, every export of a real-model suite folder
//                (scripts/real_models.py's layout: DIR/<model>_<exporter>/model.onnx), fed
//                the export's saved inputs, e.g. the full-size torchvision models:
//                `--dir /tmp/fullcpu --warm 0 --runs 10 --rounds 5` (--warm 0: no warm-start
//                processes, only the steady-state ones)
//   --baseline DIR  a third side: the kiln build in DIR (another checkout's dist/, e.g.
//                /work/main/dist) in its own steady-state processes, alternating with ORT
//                and this build's (its cache filled by one process first): before and after
//                a change in one run
//
//   npx tsc -p . && node dist/bench/onnx_peer.js [--json] [--runs 50] [--warm 3] [--workers N] [--only NAME] [--rounds R] [--dir DIR] [--baseline DIR]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchArgs, machineInfo, machineLine, median, parseArgs } from './common.js';
import { listSuite } from './model_suite.js';
import { readNpy } from '../src/onnx/npy.js';
import { mulberry32 } from '../src/graph/random.js';
// Type only (erased): kiln itself is imported inside the child, where its import is timed.
import type { NDArray } from '../src/graph/ndarray.js';

const THIS = fileURLToPath(import.meta.url);
const ROOT = join(dirname(THIS), '..', '..');
const PEERS = join(ROOT, 'bench', '.peers');

// ---------------------------------------------------------------------------------------------
// onnxruntime-node, loaded from bench/.peers at run time (minimal typing of what is used).

interface OrtTensor {
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array | Float64Array;
  dims: readonly number[];
  type: string;
}
interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata?: readonly { name: string; type?: string; shape?: readonly (number | string)[] }[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release?(): Promise<void>;
}
interface Ort {
  InferenceSession: { create(path: string, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: ArrayLike<number> | ArrayBufferView, dims: readonly number[]) => OrtTensor;
  env: { logLevel?: string };
}

function ortRequire(): NodeJS.Require | undefined {
  const req = createRequire(join(PEERS, 'node_modules', 'index.js'));
  try {
    req.resolve('onnxruntime-node');
    return req;
  } catch {
    return undefined;
  }
}

function ortVersion(req: NodeJS.Require): string {
  return (req('onnxruntime-node/package.json') as { version: string }).version;
}

// ---------------------------------------------------------------------------------------------
// Cases and inputs.

interface Case {
  name: string;
  file: string;
  inputShapes?: Record<string, number[]>;
  /** Saved inputs (.npy) by input name, fed instead of random data (a real-model export's). */
  inputFiles?: Record<string, string>;
}

/** The input dtypes this bench feeds: float32 (random or saved) and int64 (saved only: token ids, masks). */
type InputDType = 'float32' | 'int64';

interface InputSpec {
  name: string;
  shape: number[];
  dtype: InputDType;
  path: string;
}

interface ChildSpec {
  mode: 'ort' | 'kiln';
  file: string;
  inputShapes?: Record<string, number[]>;
  inputs: InputSpec[];
  cacheDir?: string;
  workers?: number;
  /** Measure the steady state (per-call time) too. */
  steady: boolean;
  runs: number;
  /** Write each output's raw float32 bytes to `${outPrefix}.${i}`. */
  outPrefix?: string;
  /** kiln's entry module to import (--baseline's build); this build's by default. */
  kilnModule?: string;
}

interface ChildOut {
  importMs: number;
  /** ORT: InferenceSession.create; kiln: loadOnnx (parse + graph build). */
  createMs: number;
  /** ORT: the first run; kiln: the first run() with its compile (or cache load) and the output read. */
  firstRunMs: number;
  /** createMs + firstRunMs, measured as one span. */
  firstResultMs: number;
  steadyMs?: number;
  steadyRuns?: number;
  /** ORT only: a second session with intraOpNumThreads = 1. */
  steady1tMs?: number;
  outputs: { name: string; shape: number[]; path?: string }[];
  counters?: Record<string, number>;
}

/** A saved float32 input of `shape` (a real-model export's input_<i>.npy). */
/** A saved input (.npy) of the dtype and shape the model takes: float32, or int64 token ids and masks. */
function savedInput(file: string, shape: readonly number[], dtype: InputDType): Float32Array | BigInt64Array {
  const a = readNpy(file);
  if (a.dtype !== dtype || a.shape.join() !== shape.join()) throw new Error(`${file}: ${a.dtype} [${a.shape.join(',')}], the model takes ${dtype} [${shape.join(',')}]`);
  return a.toTypedArraySync() as Float32Array | BigInt64Array;
}

function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** The shape in a .npy header (the fixtures' saved inputs), without reading the data. */
function npyShape(file: string): number[] {
  const b = readFileSync(file);
  const hlen = b[8]! === 1 ? b.readUInt16LE(8 + 2) : b.readUInt32LE(8 + 2);
  const header = b.subarray(b[8]! === 1 ? 10 : 12, (b[8]! === 1 ? 10 : 12) + hlen).toString('latin1');
  const m = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!m) throw new Error(`${file}: no shape in the .npy header`);
  return m[1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
}

/**
 * An MLP [batch, dims[0]] → dims[1] → … as ONNX bytes: each layer MatMul + Add with random
 * weights, then the layer's activation (acts[i], none for the last layer when omitted).
 */
async function mlpModel(name: string, batch: number, dims: readonly number[], acts: readonly string[]): Promise<Uint8Array> {
  const { default: onnxProto } = await import('onnx-proto');
  const { onnx } = onnxProto;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  let seed = 1000;
  const init = (name: string, dims: number[], scale: number) => {
    const data = randomF32(dims.reduce((x, y) => x * y, 1), seed++, scale);
    return { name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer) };
  };
  const node: { opType: string; input: string[]; output: string[] }[] = [];
  const initializer: ReturnType<typeof init>[] = [];
  let h = 'x';
  for (let i = 1; i < dims.length; i++) {
    const last = i === dims.length - 1;
    initializer.push(init(`w${i}`, [dims[i - 1]!, dims[i]!], 1 / Math.sqrt(dims[i - 1]!)), init(`b${i}`, [dims[i]!], 0.1));
    node.push({ opType: 'MatMul', input: [h, `w${i}`], output: [`m${i}`] });
    const act = acts[i - 1];
    node.push({ opType: 'Add', input: [`m${i}`, `b${i}`], output: [last && !act ? 'y' : `a${i}`] });
    if (act) node.push({ opType: act, input: [`a${i}`], output: [last ? 'y' : `h${i}`] });
    h = act ? `h${i}` : `a${i}`;
  }
  const io = (n: string, d: number) => ({ name: n, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: batch }, { dimValue: d }] } } } });
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'kiln bench/onnx_peer.ts',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name, node, initializer, input: [io('x', dims[0]!)], output: [io('y', dims.at(-1)!)] },
  });
  return onnx.ModelProto.encode(m).finish();
}

/** The 3-layer MLP [batch, d] → 2d → 2d → d (MatMul+Add, Relu, Tanh). */
const wideMlp = (batch: number, d: number) => mlpModel('wide_mlp', batch, [d, 2 * d, 2 * d, d], ['Relu', 'Tanh']);

/** The exports of a real-model suite folder, by folder name (symbolic dims sized by their saved inputs). */
function suiteCases(dir: string): { list: Case[]; skipped: string[] } {
  const list = listSuite(dir).map((m) => ({
    name: m.name,
    file: join(m.dir, 'model.onnx'),
    inputFiles: Object.fromEntries(m.meta.inputs.map((i) => [i.name, join(m.dir, i.file)])),
  }));
  if (list.length === 0) throw new Error(`--dir ${dir}: no exports (folders with a meta.json) there`);
  return { list, skipped: [] };
}

async function cases(tmp: string, ort: Ort): Promise<{ list: Case[]; skipped: string[] }> {
  const fixDir = join(ROOT, 'test', 'fixtures', 'onnx');
  const files = [
    ...readdirSync(fixDir)
      .filter((f) => f.endsWith('.onnx'))
      .sort()
      .map((f) => join(fixDir, f)),
    join(ROOT, 'examples', 'mlp.onnx'),
  ];
  const list: Case[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    const name = relative(ROOT, file);
    const s = await ort.InferenceSession.create(file);
    const meta = s.inputMetadata ?? [];
    await s.release?.();
    const symbolic = meta.filter((m) => (m.shape ?? []).some((d) => typeof d !== 'number' || d < 0));
    if (symbolic.length === 0) {
      list.push({ name, file });
      continue;
    }
    const npy = file.replace(/\.onnx$/, '.input.npy');
    if (meta.length === 1 && existsSync(npy)) list.push({ name, file, inputShapes: { [meta[0]!.name]: npyShape(npy) } });
    else skipped.push(`${name}: symbolic dims and no saved input to take a shape from`);
  }
  // Bigger: the dynamic fixtures at a larger batch, and a wide MLP built here.
  list.push({ name: 'mlp_dynamic.onnx, batch 8192', file: join(fixDir, 'mlp_dynamic.onnx'), inputShapes: { x: [8192, 16] } });
  // Only its batch is free: the export baked the causal mask for time = 8.
  list.push({ name: 'attention_dynamic.onnx, batch 512', file: join(fixDir, 'attention_dynamic.onnx'), inputShapes: { x: [512, 8, 16] } });
  const wide = join(tmp, 'wide_mlp.onnx');
  writeFileSync(wide, await wideMlp(256, 512));
  list.push({ name: 'wide MLP 512-1024-1024-512, batch 256 (built)', file: wide });
  // Transformer-shaped products (GPT-2 / BERT base: d = 768, MLP 3072) with M = batch·seq rows.
  for (const rows of [128, 512]) {
    const file = join(tmp, `transformer_mlp_${rows}.onnx`);
    writeFileSync(file, await mlpModel('transformer_mlp', rows, [768, 3072, 768], ['Relu']));
    list.push({ name: `transformer MLP 768-3072-768, M = ${rows} (built)`, file });
  }
  return { list, skipped };
}

// ---------------------------------------------------------------------------------------------
// Child: one runtime, one model.

async function steadyState(call: () => Promise<unknown>, runs: number): Promise<{ ms: number; n: number }> {
  const tw = performance.now();
  for (let i = 0; i < 5 || performance.now() - tw < 200; i++) await call();
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < runs || (performance.now() - t0 < 1000 && times.length < 5000)) {
    const t = performance.now();
    await call();
    times.push(performance.now() - t);
  }
  return { ms: median(times), n: times.length };
}

function readInputs(spec: ChildSpec): { name: string; shape: number[]; dtype: InputDType; data: Float32Array | BigInt64Array }[] {
  return spec.inputs.map((i) => {
    const b = readFileSync(i.path);
    const data = i.dtype === 'int64' ? new BigInt64Array(b.buffer, b.byteOffset, b.byteLength / 8) : new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    return { name: i.name, shape: i.shape, dtype: i.dtype, data };
  });
}

function writeOut(path: string | undefined, data: ArrayBufferView): void {
  if (path) writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

async function childOrt(spec: ChildSpec): Promise<ChildOut> {
  const t0 = performance.now();
  const req = ortRequire();
  if (!req) throw new Error('onnxruntime-node is not installed in bench/.peers');
  const ort = req('onnxruntime-node') as Ort;
  ort.env.logLevel = 'error';
  const t1 = performance.now();
  const session = await ort.InferenceSession.create(spec.file);
  const t2 = performance.now();
  const feeds = Object.fromEntries(readInputs(spec).map((i) => [i.name, new ort.Tensor(i.dtype, i.data, i.shape)]));
  const outs = await session.run(feeds);
  const t3 = performance.now();
  const outputs = session.outputNames.map((name, k) => {
    const path = spec.outPrefix ? `${spec.outPrefix}.${k}` : undefined;
    writeOut(path, outs[name]!.data);
    return { name, shape: [...outs[name]!.dims], ...(path ? { path } : {}) };
  });
  const r: ChildOut = { importMs: t1 - t0, createMs: t2 - t1, firstRunMs: t3 - t2, firstResultMs: t3 - t1, outputs };
  if (spec.steady) {
    const s = await steadyState(() => session.run(feeds), spec.runs);
    r.steadyMs = s.ms;
    r.steadyRuns = s.n;
    const one = await ort.InferenceSession.create(spec.file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    r.steady1tMs = (await steadyState(() => one.run(feeds), spec.runs)).ms;
  }
  return r;
}

async function childKiln(spec: ChildSpec): Promise<ChildOut> {
  const t0 = performance.now();
  const kiln = (spec.kilnModule ? await import(spec.kilnModule) : await import('../src/index.js')) as typeof import('../src/index.js');
  const t1 = performance.now();
  const model = kiln.loadOnnx(spec.file, { cacheDir: spec.cacheDir, workers: spec.workers, ...(spec.inputShapes ? { inputShapes: spec.inputShapes } : {}) });
  const t2 = performance.now();
  const feeds = Object.fromEntries(readInputs(spec).map((i) => [i.name, kiln.NDArray.from(i.data, i.shape, { dtype: i.dtype })]));
  const outs = await model.run(feeds);
  const data = await Promise.all(model.outputNames.map((n) => (outs[n] as NDArray).toTypedArray()));
  const t3 = performance.now();
  const outputs = model.outputNames.map((name, k) => {
    const path = spec.outPrefix ? `${spec.outPrefix}.${k}` : undefined;
    writeOut(path, data[k]!);
    return { name, shape: [...outs[name]!.shape], ...(path ? { path } : {}) };
  });
  const r: ChildOut = { importMs: t1 - t0, createMs: t2 - t1, firstRunMs: t3 - t2, firstResultMs: t3 - t1, outputs, counters: { ...kiln.counters() } };
  if (spec.steady) {
    const s = await steadyState(async () => {
      const o = await model.run(feeds);
      for (const n of model.outputNames) await (o[n] as NDArray).toTypedArray();
    }, spec.runs);
    r.steadyMs = s.ms;
    r.steadyRuns = s.n;
  }
  return r;
}

interface ChildRun {
  out: ChildOut;
  processMs: number;
}

function runChild(spec: ChildSpec, env: Record<string, string> = {}): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [THIS, '--child', JSON.stringify(spec)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const processMs = performance.now() - t0;
      const line = stdout.trim().split('\n').pop() ?? '';
      let msg: { ok: boolean; out?: ChildOut; error?: string } | undefined;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        msg = undefined;
      }
      if (msg?.ok && msg.out) resolve({ out: msg.out, processMs });
      else reject(new Error(`${spec.mode} child (exit ${code}): ${msg?.error ?? (stderr.trim().split('\n').slice(-5).join(' | ') || 'no output')}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Parent.

interface Args extends BenchArgs {
  runs: number;
  warm: number;
  workers: number;
  only?: string;
  /** Steady-state processes per side (ORT, kiln, alternating); the table gives their medians. */
  rounds: number;
  /** A real-model suite folder whose exports replace the built-in cases. */
  dir?: string;
  /** Another kiln build's dist/ folder, measured beside this one. */
  baseline?: string;
}

export interface PeerRow {
  model: string;
  inputs: string;
  ort: { importMs: number; createMs: number; firstRunMs: number; firstResultMs: number; processMs: number; steadyMs: number; steady1tMs: number; steadyRuns: number };
  kiln?: {
    kernels: number;
    compiles: number;
    cold: { importMs: number; createMs: number; firstRunMs: number; firstResultMs: number; processMs: number };
    /** Medians over the warm processes (none with --warm 0). */
    warm?: { importMs: number; createMs: number; firstRunMs: number; firstResultMs: number; processMs: number; runs: number[] };
    steadyMs: number;
    steadyRuns: number;
    /** One OpenMP thread (OMP_NUM_THREADS=1), median over the rounds. */
    steady1tMs: number;
  };
  kilnError?: string;
  /** kiln per call / ORT per call (default threads). */
  ratio?: number;
  /** kiln per call on one OpenMP thread / ORT per call (1 intra-op thread). */
  ratio1t?: number;
  maxAbsDiff?: number;
  maxAbsOrt?: number;
  /** Per call in each steady-state process, ORT and kiln alternating (--rounds). */
  rounds?: { ort: number[]; ort1t: number[]; kiln: number[]; kiln1t: number[]; baseline?: number[] };
  /** --baseline: that build's per call (median over the rounds) and its max |diff| from ORT. */
  baseline?: { steadyMs: number; maxAbsDiff: number };
}

function maxAbs(files: string[]): number {
  let m = 0;
  for (const f of files) for (const v of f32(f)) m = Math.max(m, Math.abs(v));
  return m;
}

function f32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function maxDiff(a: string[], b: string[]): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) {
    const x = f32(a[k]!);
    const y = f32(b[k]!);
    if (x.length !== y.length) return Infinity;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i]! - y[i]!);
      m = Number.isNaN(d) ? Infinity : Math.max(m, d);
    }
  }
  return m;
}

async function oneCase(c: Case, idx: number, tmp: string, args: Args): Promise<PeerRow> {
  const dir = join(tmp, `case${idx}`);
  mkdirSync(dir);
  const cacheDir = join(dir, 'cache');
  // Input shapes: the declared ones (from ORT's metadata) unless inputShapes overrides them.
  const req = ortRequire()!;
  const ort = req('onnxruntime-node') as Ort;
  const s = await ort.InferenceSession.create(c.file);
  const inputs: InputSpec[] = (s.inputMetadata ?? []).map((m, k) => {
    const saved = c.inputFiles?.[m.name];
    // A symbolic dim takes its size from the saved input (a dynamic export of the suite).
    const shape = c.inputShapes?.[m.name] ?? (saved ? npyShape(saved) : (m.shape as number[]));
    const dtype = (m.type ?? 'float32') as InputDType;
    if (dtype !== 'float32' && !(dtype === 'int64' && saved)) throw new Error(`${c.name}: input '${m.name}' is ${m.type}; this bench feeds float32, or int64 from a saved input`);
    if (shape.some((d) => typeof d !== 'number')) throw new Error(`${c.name}: input '${m.name}' has symbolic dims ${JSON.stringify(m.shape)} and no saved input to size them`);
    const path = join(dir, `in${k}.bin`);
    const data = saved ? savedInput(saved, shape, dtype) : randomF32(shape.reduce((x, y) => x * y, 1), 42 + k);
    writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return { name: m.name, shape, dtype, path };
  });
  await s.release?.();
  const base = { file: c.file, inputs, runs: args.runs, ...(c.inputShapes ? { inputShapes: c.inputShapes } : {}) };

  // Start-up and steady state in separate processes, so that each process time is start-up only.
  const o = await runChild({ ...base, mode: 'ort', steady: false, outPrefix: join(dir, 'ort') });
  const os = await runChild({ ...base, mode: 'ort', steady: true });
  const row: PeerRow = {
    model: c.name,
    inputs: inputs.map((i) => `[${i.shape.join(',')}]`).join(' '),
    ort: {
      importMs: o.out.importMs,
      createMs: o.out.createMs,
      firstRunMs: o.out.firstRunMs,
      firstResultMs: o.out.firstResultMs,
      processMs: o.processMs,
      steadyMs: os.out.steadyMs!,
      steady1tMs: os.out.steady1tMs!,
      steadyRuns: os.out.steadyRuns!,
    },
  };
  const ortOuts = o.out.outputs.map((x) => x.path!);
  row.maxAbsOrt = maxAbs(ortOuts);
  try {
    const kbase = { ...base, mode: 'kiln' as const, cacheDir, workers: args.workers };
    const cold = await runChild({ ...kbase, steady: false });
    const warms: ChildRun[] = [];
    for (let i = 0; i <= args.warm; i++) {
      // The last warm process measures the steady state and writes the outputs.
      const last = i === args.warm;
      const w = await runChild({ ...kbase, steady: last, ...(last ? { outPrefix: join(dir, 'kiln') } : {}) }, { KILN_ASSERT_NO_COMPILE: '1' });
      if (w.out.counters?.graph_cache_hits !== 1) throw new Error(`warm process ${i} missed the graph cache`);
      warms.push(w);
    }
    const w0 = warms.pop()!.out;
    row.kiln = {
      kernels: cold.out.counters?.kernels_generated ?? 0,
      compiles: cold.out.counters?.compile_submitted ?? 0,
      cold: { importMs: cold.out.importMs, createMs: cold.out.createMs, firstRunMs: cold.out.firstRunMs, firstResultMs: cold.out.firstResultMs, processMs: cold.processMs },
      warm: warms.length === 0 ? undefined : {
        importMs: median(warms.map((w) => w.out.importMs)),
        createMs: median(warms.map((w) => w.out.createMs)),
        firstRunMs: median(warms.map((w) => w.out.firstRunMs)),
        firstResultMs: median(warms.map((w) => w.out.firstResultMs)),
        processMs: median(warms.map((w) => w.processMs)),
        runs: warms.map((w) => w.out.firstResultMs),
      },
      steadyMs: w0.steadyMs!,
      steadyRuns: w0.steadyRuns!,
      steady1tMs: NaN,
    };
    // More steady-state processes, ORT and kiln alternating, so both sides see the same machine:
    // the row gives the medians.
    const oneThread = { KILN_ASSERT_NO_COMPILE: '1', OMP_NUM_THREADS: '1' };
    const rounds: NonNullable<PeerRow['rounds']> = { ort: [row.ort.steadyMs], ort1t: [row.ort.steady1tMs], kiln: [w0.steadyMs!], kiln1t: [(await runChild({ ...kbase, steady: true }, oneThread)).out.steadyMs!] };
    // The baseline build: its cache filled (and its outputs written) by a first process.
    const bbase = args.baseline ? { ...kbase, cacheDir: join(dir, 'baseline-cache'), kilnModule: join(args.baseline, 'src', 'index.js') } : undefined;
    let baselineDiff = Infinity;
    if (bbase) {
      const b0 = await runChild({ ...bbase, steady: true, outPrefix: join(dir, 'baseline') });
      rounds.baseline = [b0.out.steadyMs!];
      baselineDiff = maxDiff(b0.out.outputs.map((x) => x.path!), ortOuts);
    }
    for (let i = 1; i < args.rounds; i++) {
      const oi = await runChild({ ...base, mode: 'ort', steady: true });
      if (bbase) rounds.baseline!.push((await runChild({ ...bbase, steady: true }, { KILN_ASSERT_NO_COMPILE: '1' })).out.steadyMs!);
      const ki = await runChild({ ...kbase, steady: true }, { KILN_ASSERT_NO_COMPILE: '1' });
      rounds.kiln1t.push((await runChild({ ...kbase, steady: true }, oneThread)).out.steadyMs!);
      rounds.ort.push(oi.out.steadyMs!);
      rounds.ort1t.push(oi.out.steady1tMs!);
      rounds.kiln.push(ki.out.steadyMs!);
    }
    if (args.rounds > 1 || bbase) {
      row.rounds = rounds;
      row.ort.steadyMs = median(rounds.ort);
      row.ort.steady1tMs = median(rounds.ort1t);
      row.kiln.steadyMs = median(rounds.kiln);
    }
    row.kiln.steady1tMs = median(rounds.kiln1t);
    if (rounds.baseline) row.baseline = { steadyMs: median(rounds.baseline), maxAbsDiff: baselineDiff };
    row.ratio = row.kiln.steadyMs / row.ort.steadyMs;
    row.ratio1t = row.kiln.steady1tMs / row.ort.steady1tMs;
    const shapesOk = w0.outputs.length === o.out.outputs.length && w0.outputs.every((x, k) => x.shape.join() === o.out.outputs[k]!.shape.join());
    row.maxAbsDiff = shapesOk ? maxDiff(w0.outputs.map((x) => x.path!), ortOuts) : Infinity;
  } catch (e) {
    row.kilnError = e instanceof Error ? e.message : String(e);
  }
  return row;
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

function table(rows: PeerRow[]): string {
  const head =
    '| model | input | ORT create ms | ORT first run ms | kiln cold ms (kernels) | kiln warm ms | ORT ms/call | ORT 1-thread ms/call | kiln ms/call | kiln 1-thread ms/call | kiln / ORT | kiln / ORT, 1 thread each | max \\|diff\\| (max \\|y\\|) |\n' +
    '|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const lines = rows.map((r) => {
    const o = r.ort;
    const k = r.kiln;
    const kcols = k
      ? [`${ms(k.cold.firstResultMs)} (${k.kernels})`, k.warm ? ms(k.warm.firstResultMs) : '—', ms(o.steadyMs), ms(o.steady1tMs), ms(k.steadyMs), ms(k.steady1tMs), `${r.ratio!.toFixed(2)}×`, `${r.ratio1t!.toFixed(2)}×`, `${r.maxAbsDiff!.toExponential(1)} (${r.maxAbsOrt!.toPrecision(2)})`]
      : [`failed: ${r.kilnError}`, '', ms(o.steadyMs), ms(o.steady1tMs), '', '', '', '', ''];
    return `| ${r.model} | ${r.inputs} | ${ms(o.createMs)} | ${ms(o.firstRunMs)} | ${kcols.join(' | ')} |`;
  });
  return [head, ...lines].join('\n');
}

/** Where the time to a first result goes, per side: module import, load/create, first run, whole process. */
function breakdown(rows: PeerRow[]): string {
  const head =
    '| model | ORT import | ORT create | ORT first run | ORT process | kiln import | cold loadOnnx | cold first run | cold process | warm loadOnnx | warm first run | warm process |\n' +
    '|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const lines = rows.map((r) => {
    const o = r.ort;
    const k = r.kiln;
    const w = k?.warm;
    const kc = k ? [ms(k.cold.importMs), ms(k.cold.createMs), ms(k.cold.firstRunMs), ms(k.cold.processMs), ...(w ? [ms(w.createMs), ms(w.firstRunMs), ms(w.processMs)] : ['—', '—', '—'])] : ['', '', '', '', '', '', ''];
    return `| ${r.model} | ${ms(o.importMs)} | ${ms(o.createMs)} | ${ms(o.firstRunMs)} | ${ms(o.processMs)} | ${kc.join(' | ')} |`;
  });
  return [head, ...lines].join('\n');
}

/** --baseline: ORT, the baseline build and this one per call, and each build's max |diff| from ORT. */
function baselineTable(rows: PeerRow[]): string {
  const head = '| model | ORT ms/call | baseline ms/call | kiln ms/call | kiln / baseline | baseline / ORT | kiln / ORT | max \\|diff\\| baseline, kiln |\n|:--|--:|--:|--:|--:|--:|--:|--:|';
  const lines = rows
    .filter((r) => r.kiln && r.baseline)
    .map((r) => {
      const o = r.ort.steadyMs;
      const b = r.baseline!.steadyMs;
      const k = r.kiln!.steadyMs;
      return `| ${r.model} | ${ms(o)} | ${ms(b)} | ${ms(k)} | ${(k / b).toFixed(2)}× | ${(b / o).toFixed(2)}× | ${(k / o).toFixed(2)}× | ${r.baseline!.maxAbsDiff.toExponential(1)}, ${r.maxAbsDiff!.toExponential(1)} |`;
    });
  return [head, ...lines].join('\n');
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--child') {
    const spec = JSON.parse(argv[1]!) as ChildSpec;
    try {
      const out = spec.mode === 'ort' ? await childOrt(spec) : await childKiln(spec);
      process.stdout.write(JSON.stringify({ ok: true, out }) + '\n', () => process.exit(0));
    } catch (e) {
      process.stdout.write(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) }) + '\n', () => process.exit(1));
    }
    return;
  }
  const args = parseArgs<Args>(argv, { json: false, device: 'cpu', runs: 50, warm: 3, workers: availableParallelism(), rounds: 1 }, {
    '--runs': (a, v) => (a.runs = Number(v)),
    '--warm': (a, v) => (a.warm = Number(v)),
    '--workers': (a, v) => (a.workers = Number(v)),
    '--only': (a, v) => (a.only = v),
    '--rounds': (a, v) => (a.rounds = Number(v)),
    '--dir': (a, v) => (a.dir = v),
    '--baseline': (a, v) => (a.baseline = v),
  });
  if (args.device !== 'cpu') throw new Error('onnx_peer is a CPU bench');
  const req = ortRequire();
  if (!req) {
    console.log(`onnx_peer: onnxruntime-node is not installed in ${relative(process.cwd(), PEERS) || PEERS}; run \`bash bench/install_peers.sh\` first. Nothing measured.`);
    return;
  }
  const ort = req('onnxruntime-node') as Ort;
  ort.env.logLevel = 'error';
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-bench-onnx-peer-'));
  try {
    const { list, skipped } = args.dir ? suiteCases(args.dir) : await cases(tmp, ort);
    const chosen = args.only ? list.filter((c) => c.name.includes(args.only!)) : list;
    const rows: PeerRow[] = [];
    const failed: string[] = [];
    for (let i = 0; i < chosen.length; i++) {
      const c = chosen[i]!;
      if (!args.json) process.stderr.write(`onnx_peer: ${c.name} …\n`);
      try {
        rows.push(await oneCase(c, i, tmp, args));
      } catch (e) {
        failed.push(`${c.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const machine = machineInfo({ ort: ortVersion(req), workers: args.workers, runs: args.runs, warmProcesses: args.warm, rounds: args.rounds, ...(args.dir ? { dir: args.dir } : {}), ...(args.baseline ? { baseline: args.baseline } : {}) });
    if (args.json) {
      console.log(JSON.stringify({ machine, rows, skipped, failed }, null, 2));
      return;
    }
    console.log(`onnx_peer: ${machineLine(machine)}; onnxruntime-node ${machine.ort}; kiln workers ${args.workers}`);
    console.log(table(rows));
    console.log('\nTime to first result, broken down (ms; "process" is spawn to exit of a child that only loads, runs once and writes the output):\n');
    console.log(breakdown(rows));
    if (args.baseline) console.log(`\nkiln beside the baseline build ${args.baseline} (ms/call, medians over the rounds):\n\n${baselineTable(rows)}`);
    for (const r of rows) if (r.rounds) console.log(`per process, ${r.model}: ORT ${r.rounds.ort.map(ms).join(' ')}; ${r.rounds.baseline ? `baseline ${r.rounds.baseline.map(ms).join(' ')}; ` : ''}kiln ${r.rounds.kiln.map(ms).join(' ')}; ORT 1-thread ${r.rounds.ort1t.map(ms).join(' ')}; kiln 1-thread ${r.rounds.kiln1t.map(ms).join(' ')}`);
    for (const s of skipped) console.log(`skipped: ${s}`);
    for (const f of failed) console.log(`not measured (ORT or set-up failed): ${f}`);
    for (const r of rows) if (r.kilnError) console.log(`kiln failed on ${r.model}: ${r.kilnError}`);
    for (const r of rows) if (r.maxAbsDiff !== undefined && r.maxAbsDiff > 1e-3 * Math.max(1, r.maxAbsOrt ?? 0)) console.log(`WARNING: ${r.model}: kiln and ORT differ by ${r.maxAbsDiff}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));

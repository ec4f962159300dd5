// CPU per-call time of a deep MLP at a small batch, beside onnxruntime-node: 12 layers of
// MatMul [batch, 2048] × [2048, 2048] + Add + Relu (50M float32 parameters, 201 MB), batch 4.
// Every GEMM has M = 4: the weights' traffic is the call. kiln twice in one process, each on
// a fresh cache directory: with KILN_CPU_FEW_ROW_GEMM=0 (the earlier kernel: B packed per call,
// one thread) and with the default (a contiguous B read in place, threads splitting its columns); then
// onnxruntime-node (bench/install_peers.sh; skipped when absent) with default threads.
// Per call: median of --runs calls after 3 warm-up calls; kiln's includes reading the output.
//
//   node dist/bench/cpu_weights.js [--runs 30] [--layers 12] [--d 2048] [--batch 4]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, machineLine, median } from './common.js';
import { mulberry32 } from '../src/graph/random.js';
import { NDArray, loadOnnx } from '../src/index.js';

const flag = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = flag('--runs', 30);
const LAYERS = flag('--layers', 12);
const D = flag('--d', 2048);
const BATCH = flag('--batch', 4);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function randomF32(n: number, seed: number, scale: number): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

async function deepMlp(): Promise<Uint8Array> {
  const { default: onnxProto } = await import('onnx-proto');
  const { onnx } = onnxProto;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const node = [];
  const initializer = [];
  let x = 'x';
  for (let l = 0; l < LAYERS; l++) {
    const w = randomF32(D * D, 100 + l, Math.sqrt(3 / D));
    const b = randomF32(D, 200 + l, 0.1);
    initializer.push({ name: `w${l}`, dims: [D, D], dataType: FLOAT, rawData: new Uint8Array(w.buffer) });
    initializer.push({ name: `b${l}`, dims: [D], dataType: FLOAT, rawData: new Uint8Array(b.buffer) });
    const y = l === LAYERS - 1 ? 'y' : `r${l}`;
    node.push({ opType: 'MatMul', input: [x, `w${l}`], output: [`m${l}`] }, { opType: 'Add', input: [`m${l}`, `b${l}`], output: [`a${l}`] }, { opType: 'Relu', input: [`a${l}`], output: [y] });
    x = y;
  }
  const shape = { dim: [{ dimValue: BATCH }, { dimValue: D }] };
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'kiln bench/cpu_weights.ts',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'deep_mlp', node, initializer, input: [{ name: 'x', type: { tensorType: { elemType: FLOAT, shape } } }], output: [{ name: 'y', type: { tensorType: { elemType: FLOAT, shape } } }] },
  });
  return onnx.ModelProto.encode(m).finish();
}

async function perCall(f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await f();
  const ts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

const tmp = mkdtempSync(join(tmpdir(), 'kiln-cpu-weights-'));
try {
  const file = join(tmp, 'deep_mlp.onnx');
  writeFileSync(file, await deepMlp());
  const xData = randomF32(BATCH * D, 7, 1);
  const rows: { name: string; ms: number; y: Float32Array<ArrayBufferLike> }[] = [];
  for (const [name, env] of [['kiln, B packed per call (KILN_CPU_FEW_ROW_GEMM=0)', '0'], ['kiln, B read in place, columns split', '1']] as const) {
    process.env.KILN_CPU_FEW_ROW_GEMM = env;
    const model = loadOnnx(file, { cacheDir: join(tmp, `cache${env}`) });
    const feeds = { x: NDArray.from(xData, [BATCH, D]) };
    let y: Float32Array<ArrayBufferLike> = new Float32Array(0);
    const ms = await perCall(async () => {
      const o = await model.run(feeds);
      y = (await (o.y as NDArray).toTypedArray()) as Float32Array;
    });
    rows.push({ name, ms, y });
  }
  const req = createRequire(join(ROOT, 'bench', '.peers', 'node_modules', 'index.js'));
  try {
    const ort = req('onnxruntime-node') as any;
    ort.env.logLevel = 'error';
    const s = await ort.InferenceSession.create(file);
    const feeds = { x: new ort.Tensor('float32', xData, [BATCH, D]) };
    let y: Float32Array<ArrayBufferLike> = new Float32Array(0);
    const ms = await perCall(async () => {
      y = (await s.run(feeds)).y.data as Float32Array;
    });
    rows.push({ name: `onnxruntime-node ${(req('onnxruntime-node/package.json') as { version: string }).version}, default threads`, ms, y });
  } catch (e) {
    console.log(`onnxruntime-node not run (${(e as Error).message.split('\n')[0]}); bash bench/install_peers.sh`);
  }
  const ref = rows[rows.length - 1]!;
  const scale = ref.y.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  console.log(machineLine(machineInfo({})));
  console.log(`${LAYERS} layers of [${BATCH}, ${D}] × [${D}, ${D}] + bias + relu, median of ${RUNS} calls\n`);
  console.log('| runtime | per call | vs last row | max abs diff vs last row (max abs ' + scale.toPrecision(3) + ') |\n|:--|--:|--:|--:|');
  for (const r of rows) {
    let d = 0;
    for (let i = 0; i < r.y.length; i++) d = Math.max(d, Math.abs(r.y[i]! - ref.y[i]!));
    console.log(`| ${r.name} | ${r.ms.toFixed(2)} ms | ${(r.ms / ref.ms).toFixed(2)}× | ${d.toExponential(2)} |`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

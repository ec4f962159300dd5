// CPU per-call time of a deep MLP at a small batch, beside onnxruntime-node: 12 layers of
// [batch, 2048] × [2048, 2048] + bias + relu (50M float32 parameters, 201 MB in one external data
// file), batch 4, as MatMul + Add + Relu (weights [K, N]: rows contiguous) and as
// Gemm(transB = 1) + Relu (weights [N, K], read transposed). Every GEMM has M = 4: the weights'
// traffic is the call.
//
// Variants, each on a fresh cache directory, all loaded and warmed first, then measured in
// alternating rounds (--rounds of --runs/--rounds calls each), so that the machine's load
// falls on all of them alike:
//   kiln packed    KILN_CPU_FEW_ROW_GEMM=0: the earlier kernel, B packed into panels per call
//   kiln before    --before <dist/src/index.js of another kiln build>: that build's default (to
//                  compare two kernels that cannot both live in one build)
//   kiln, read     the default kernel (src/backends/cpu/few_rows.ts), weights read into memory
//                  (KILN_EXTERNAL_DATA=region)
//   kiln, mapped   the default kernel and reader: weights are views of the mapped data file
//   onnxruntime-node (bench/install_peers.sh; skipped when absent), default threads
// Per call: median of the variant's calls (after 3 warm-up calls); kiln's includes reading the
// output. Also a floor: a kiln kernel that only sums all the weights (each read once), in the
// same rounds.
//
// In one process, each runtime's idle threads (libgomp's, ORT's pool) spin while the other
// runs: --only kiln or --only ort runs one of them, for runs alternating between processes.
//
//   node dist/bench/cpu_weights.js [--runs 40] [--rounds 8] [--layers 12] [--d 2048] [--batch 4] [--before path] [--only kiln|ort]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machineInfo, machineLine, median, numberFlag } from './common.js';
import { mulberry32 } from '../src/graph/random.js';
import { ExternalDataWriter } from '../test/fixtures/external_data.js';
import { NDArray, type Tensor, compile, loadOnnx } from '../src/index.js';

const RUNS = numberFlag('--runs', 40);
const ROUNDS = numberFlag('--rounds', 8);
const LAYERS = numberFlag('--layers', 12);
const D = numberFlag('--d', 2048);
const BATCH = numberFlag('--batch', 4);
/** --only kiln | ort: run only kiln's default variant (and the floor) or only onnxruntime-node, so that neither's idle threads spin in the other's process. */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const BEFORE = process.argv.includes('--before') ? process.argv[process.argv.indexOf('--before') + 1] : undefined;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function randomF32(n: number, seed: number, scale: number): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/**
 * The MLP as MatMul + Add + Relu (transB false) or Gemm(transB = 1) + Relu, the same weights,
 * all in one external data file `<name>.data` beside the model (as exporters store big models).
 */
async function deepMlp(transB: boolean, dir: string, name: string): Promise<Uint8Array> {
  const { default: onnxProto } = await import('onnx-proto');
  const { onnx } = onnxProto;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const data = new ExternalDataWriter(dir, `${name}.data`);
  const node = [];
  const initializer = [];
  let x = 'x';
  for (let l = 0; l < LAYERS; l++) {
    const w = randomF32(D * D, 100 + l, Math.sqrt(3 / D));
    const b = randomF32(D, 200 + l, 0.1);
    initializer.push(data.add(`w${l}`, [D, D], w), data.add(`b${l}`, [D], b));
    const y = l === LAYERS - 1 ? 'y' : `r${l}`;
    if (transB) {
      node.push({ opType: 'Gemm', input: [x, `w${l}`, `b${l}`], output: [`a${l}`], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }, { opType: 'Relu', input: [`a${l}`], output: [y] });
    } else {
      node.push({ opType: 'MatMul', input: [x, `w${l}`], output: [`m${l}`] }, { opType: 'Add', input: [`m${l}`, `b${l}`], output: [`a${l}`] }, { opType: 'Relu', input: [`a${l}`], output: [y] });
    }
    x = y;
  }
  data.close();
  const shape = { dim: [{ dimValue: BATCH }, { dimValue: D }] };
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'kiln bench/cpu_weights.ts',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'deep_mlp', node, initializer, input: [{ name: 'x', type: { tensorType: { elemType: FLOAT, shape } } }], output: [{ name: 'y', type: { tensorType: { elemType: FLOAT, shape } } }] },
  });
  return onnx.ModelProto.encode(m).finish();
}

interface Variant {
  name: string;
  call: () => Promise<Float32Array<ArrayBufferLike>>;
  times: number[];
  y?: Float32Array<ArrayBufferLike>;
}

type Kiln = { loadOnnx: typeof loadOnnx; NDArray: typeof NDArray };

/** `f` with the environment variables `env` set (undefined: unset), then restored. */
async function withEnv<T>(env: Record<string, string | undefined>, f: () => Promise<T>): Promise<T> {
  const was = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (e: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(e)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  try {
    return await f();
  } finally {
    set(was);
  }
}

/** A kiln variant, loaded and compiled with `env` (the GEMM setting is read at code generation, the reader at load). */
function kilnVariant(kiln: Kiln, name: string, file: string, cacheDir: string, env: Record<string, string | undefined>, xData: Float32Array): Promise<Variant> {
  return withEnv(env, async () => {
    const model = kiln.loadOnnx(file, { cacheDir });
    const feeds = { x: kiln.NDArray.from(xData, [BATCH, D]) };
    const call = async () => (await ((await model.run(feeds)).y as NDArray).toTypedArray()) as Float32Array;
    await call(); // compiles, with this variant's kernel
    return { name, call, times: [] };
  });
}

/** The floor's kernel: one pass over all the weights, summing them (threads split the rows). */
async function floorVariant(weights: NDArray[], cacheDir: string): Promise<Variant> {
  const f = compile((...ws: Tensor[]) => ws.map((w) => w.sum()).reduce((a, b) => a.add(b)), { cacheDir });
  const call = async () => (await (await f(...weights)).toTypedArray()) as Float32Array;
  return { name: `floor: one read of the ${((LAYERS * D * D * 4) / 1e6).toFixed(0)} MB of weights (a sum)`, call, times: [] };
}

const tmp = mkdtempSync(join(tmpdir(), 'kiln-cpu-weights-'));
try {
  const xData = randomF32(BATCH * D, 7, 1);
  const req = createRequire(join(ROOT, 'bench', '.peers', 'node_modules', 'index.js'));
  let ort: any;
  if (ONLY !== 'kiln') try {
    ort = req('onnxruntime-node');
    ort.env.logLevel = 'error';
  } catch (e) {
    console.log(`onnxruntime-node not run (${(e as Error).message.split('\n')[0]}); bash bench/install_peers.sh`);
  }
  const before = BEFORE ? ((await import(pathToFileURL(BEFORE).href)) as Kiln) : undefined;
  const weights = Array.from({ length: LAYERS }, (_, l) => NDArray.from(randomF32(D * D, 100 + l, 1), [D, D]));
  const variants: Variant[] = ONLY === 'ort' ? [] : [await floorVariant(weights, join(tmp, 'floor'))];
  const models: { label: string; variants: Variant[] }[] = [];
  for (const transB of [false, true]) {
    const label = transB ? 'Gemm(transB=1) + Relu' : 'MatMul + Add + Relu';
    const file = join(tmp, `deep_mlp_${transB ? 'gemm' : 'matmul'}.onnx`);
    writeFileSync(file, await deepMlp(transB, tmp, `deep_mlp_${transB ? 'gemm' : 'matmul'}`));
    const vs: Variant[] = [];
    const region = { KILN_EXTERNAL_DATA: 'region' };
    if (ONLY === undefined) {
      vs.push(await kilnVariant({ loadOnnx, NDArray }, 'kiln, B packed per call (KILN_CPU_FEW_ROW_GEMM=0), weights read', file, join(tmp, `packed${transB}`), { ...region, KILN_CPU_FEW_ROW_GEMM: '0' }, xData));
      if (before) vs.push(await kilnVariant(before, `kiln before (${BEFORE}), weights read`, file, join(tmp, `before${transB}`), {}, xData));
      vs.push(await kilnVariant({ loadOnnx, NDArray }, 'kiln, B read in place, weights read (KILN_EXTERNAL_DATA=region)', file, join(tmp, `region${transB}`), region, xData));
    }
    if (ONLY !== 'ort') vs.push(await kilnVariant({ loadOnnx, NDArray }, 'kiln, B read in place, weights mapped (default)', file, join(tmp, `inplace${transB}`), {}, xData));
    if (ort) {
      const s = await ort.InferenceSession.create(file);
      const feeds = { x: new ort.Tensor('float32', xData, [BATCH, D]) };
      const v: Variant = { name: `onnxruntime-node ${(req('onnxruntime-node/package.json') as { version: string }).version}, default threads`, call: async () => (await s.run(feeds)).y.data as Float32Array, times: [] };
      vs.push(v);
    }
    models.push({ label, variants: vs });
    variants.push(...vs);
  }
  for (const v of variants) for (let i = 0; i < 3; i++) v.y = await v.call();
  const per = Math.max(1, Math.round(RUNS / ROUNDS));
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) {
      for (let i = 0; i < per; i++) {
        const t = performance.now();
        v.y = await v.call();
        v.times.push(performance.now() - t);
      }
    }
  }
  console.log(machineLine(machineInfo({})));
  console.log(`${LAYERS} layers of [${BATCH}, ${D}] × [${D}, ${D}] + bias + relu; median of ${per * ROUNDS} calls per variant, in ${ROUNDS} alternating rounds\n`);
  if (ONLY !== 'ort') console.log(`${variants[0]!.name}: ${median(variants[0]!.times).toFixed(2)} ms (${((LAYERS * D * D * 4) / 1e6 / median(variants[0]!.times)).toFixed(1)} GB/s)\n`);
  for (const m of models) {
    const ref = m.variants[m.variants.length - 1]!;
    const scale = ref.y!.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    console.log(`${m.label}\n\n| runtime | per call | vs last row | max abs diff vs last row (max abs ${scale.toPrecision(3)}) |\n|:--|--:|--:|--:|`);
    for (const v of m.variants) {
      let d = 0;
      for (let i = 0; i < v.y!.length; i++) d = Math.max(d, Math.abs(v.y![i]! - ref.y![i]!));
      console.log(`| ${v.name} | ${median(v.times).toFixed(2)} ms | ${(median(v.times) / median(ref.times)).toFixed(2)}× | ${d.toExponential(2)} |`);
    }
    console.log('');
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

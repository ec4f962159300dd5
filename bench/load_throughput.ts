// Load throughput of big generated models on the CPU, beside onnxruntime-node's session create.
//
// The model: an MLP of --layers (12) MatMul+Add+Relu layers of --d × --d (2048) float32 weights
// and biases, every initializer in one external data file (12 × 2048² × 4 B = 201 MB), written
// into a temporary directory (removed at the end, never committed). The data file is read
// once before measuring, so every measurement reads it from the page cache.
//
// Each measurement runs in a fresh child process (this script with --child):
//   kiln load   loadOnnx(path): protobuf decode, external data read, graph conversion and
//               constant folding (no compile: the graph is traced on first compile/run)
//   ORT create  InferenceSession.create(path), default options (skipped without bench/.peers)
// For each: wall time (median of --reps children), weights / time as GB/s, and peak host memory
// of the child (maxRSS) minus its RSS before loading, as a fraction of the weights' size.
//
//   npx tsc -p . && node dist/bench/load_throughput.js [--json] [--reps 3] [--layers 12] [--d 2048] [--keep 1 (leave the model in its temp dir)]
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
}

interface ChildResult {
  ms: number;
  rssBefore: number;
  maxRss: number;
}

async function child(kind: string, file: string): Promise<void> {
  // kiln's modules (and onnx-proto, loaded on first use) are imported before the clock starts:
  // this measures the load, not Node's module loader (ORT's addon likewise loads first).
  const { loadOnnx } = await import('../src/api/load_onnx.js');
  await import('onnx-proto');
  const req = createRequire(join(PEERS, 'node_modules', 'index.js'));
  const ort = kind === 'ort' ? (req('onnxruntime-node') as { InferenceSession: { create(p: string): Promise<unknown> } }) : undefined;
  const rssBefore = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  let keep: unknown;
  if (kind === 'kiln') {
    keep = loadOnnx(file, { cacheDir: join(dirname(file), 'cache') });
  } else {
    keep = await ort!.InferenceSession.create(file);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const maxRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ ms, rssBefore, maxRss } satisfies ChildResult) + '\n');
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
  const a = parseArgs<Args>(argv, { json: false, device: 'cpu', reps: 3, layers: 12, d: 2048, keep: false }, {
    '--keep': (x, v) => (x.keep = v === '1'),
    '--reps': (x, v) => (x.reps = Number(v)),
    '--layers': (x, v) => (x.layers = Number(v)),
    '--d': (x, v) => (x.d = Number(v)),
  });
  const dir = mkdtempSync(join(tmpdir(), 'kiln-load-bench-'));
  try {
    const { file, bytes } = await writeModel(dir, a.layers, a.d);
    readFileSync(join(dir, 'mlp.onnx.data')); // into the page cache
    const rows: Record<string, unknown>[] = [];
    for (const kind of hasOrt() ? ['kiln', 'ort'] : ['kiln']) {
      const runs: ChildResult[] = [];
      for (let i = 0; i < a.reps; i++) {
        const r = spawnSync(process.execPath, [THIS, '--child', kind, file], { encoding: 'utf8', env: { ...process.env, KILN_NO_CACHE: '1' } });
        if (r.status !== 0) throw new Error(`${kind} child failed:\n${r.stderr}`);
        runs.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult);
      }
      const ms = median(runs.map((r) => r.ms));
      const peak = median(runs.map((r) => r.maxRss - r.rssBefore));
      rows.push({ kind: kind === 'kiln' ? 'kiln loadOnnx' : 'ORT session create', ms, gbPerS: bytes / 1e6 / ms, peakOverWeights: peak / bytes, runsMs: runs.map((r) => r.ms) });
    }
    const info = machineInfo({ layers: a.layers, d: a.d, weightsBytes: bytes });
    if (a.json) {
      process.stdout.write(JSON.stringify({ machine: info, rows }, null, 2) + '\n');
      return;
    }
    console.log(`${machineLine(info)}`);
    console.log(`MLP ${a.layers} × ${a.d}² float32, ${(bytes / 1e6).toFixed(0)} MB in one external file, page cache warm; median of ${a.reps} processes`);
    for (const r of rows) {
      console.log(`  ${String(r.kind).padEnd(20)} ${(r.ms as number).toFixed(0).padStart(6)} ms  ${(r.gbPerS as number).toFixed(2)} GB/s  peak RSS growth ${((r.peakOverWeights as number) * 100).toFixed(0)}% of weights  (${(r.runsMs as number[]).map((x) => x.toFixed(0)).join(', ')})`);
    }
  } finally {
    if (a.keep) console.error(`model kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

await main();

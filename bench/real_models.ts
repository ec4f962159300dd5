// The real-model suite on one device: for each export (scripts/real_models.py's folders), a
// cold process on an empty cache and then --warm-repeat warm processes on the same cache (the
// median shown), each timing loadOnnx → first result; then per-call time, kernel count and max
// relative error against PyTorch's saved outputs. On CUDA each process starts its context
// (cuInit + primary context) before the clock and reports it apart ("ctx"): the issue's
// targets exclude it. Where the time goes comes from KILN_TRACE spans inside the timed region:
// load = loadOnnx (decode, structure hash, stored-conversion lookup, or the graph's build),
// build = the ONNX graph's conversion (0 on a warm start), lookup = the graph-cache read,
// modules = kernel loads (and, cold, waiting for compiles), upload = CUDA weight upload, run =
// the first run of the plan. With --bisect, a model over the tolerance is compiled again with
// every realized node as an output to name the first wrong node (bench/model_bisect.ts).
//
//   node dist/bench/real_models.js [--dir test/fixtures/models] [--device cpu|cuda] [--only a,b]
//        [--repeat 20] [--warm-repeat 1] [--bisect 1] [--json]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { type BenchArgs, list, machineInfo, machineLine, median, medianCallMs, onDevice, parseArgs } from './common.js';
import { listSuite, maxRelError, suiteInputs, suiteOutputs, type SuiteModel } from './model_suite.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOL = 1e-4;

interface Args extends BenchArgs {
  dir: string;
  only: string[] | undefined;
  repeat: number;
  warmRepeat: number;
  bisect: boolean;
  one: string | undefined;
  cache: string | undefined;
}

/** The spans summed into each phase of the timed region (see the top of this file). */
const PHASES: Record<string, string[]> = {
  build: ['onnx graph build'],
  lookup: ['graph cache lookup'],
  modules: ['all kernels'],
  upload: ['weights upload'],
  run: ['cpu plan', 'cuda plan'],
};

interface OneResult {
  model: string;
  /** CUDA context start, before the clock (0 on the CPU). */
  contextMs: number;
  loadMs: number;
  firstResultMs: number;
  /** ms per phase (PHASES) inside loadOnnx → first result. */
  phases: Record<string, number>;
  /** Per call; on CUDA with the inputs on the GPU (as torch.compile's figure). */
  perCallMs: number;
  /** Per call with host inputs (copied in by each call). */
  hostInputsMs: number;
  kernels: number;
  relError: number;
  graphCacheHit: boolean;
  counters: Record<string, number>;
  bisect?: unknown;
  error?: string;
}

/** One model in this process: load, first result, steady state, error. */
async function runOne(m: SuiteModel, a: Args): Promise<OneResult> {
  const { loadOnnx, counters } = await import('../src/index.js');
  const { configureTrace, traceEvents, nowUs } = await import('../src/observe/trace.js');
  // Spans for the phase breakdown (written to nowhere at exit).
  configureTrace(os.devNull);
  const feeds = suiteInputs(m);
  const options = { device: a.device, cacheDir: a.cache! };
  const driver = a.device === 'cuda' ? await import('../src/backends/cuda/driver.js') : undefined;
  const sync = driver ? driver.ctxSynchronize : () => {};
  let contextMs = 0;
  if (driver) {
    const t = performance.now();
    driver.initCuda();
    contextMs = performance.now() - t;
  }
  const startUs = nowUs();
  const t0 = performance.now();
  const model = loadOnnx(path.join(m.dir, 'model.onnx'), options);
  const loadMs = performance.now() - t0;
  const outs = await model.run(feeds);
  const firstName = m.meta.outputs[0]!.name;
  await (outs[firstName] as { toTypedArray(): Promise<unknown> }).toTypedArray();
  const firstResultMs = performance.now() - t0;
  const endUs = nowUs();
  const phases: Record<string, number> = {};
  for (const [phase, names] of Object.entries(PHASES)) {
    const first = phase === 'run' ? 1 : Infinity; // the first run only
    const spans = traceEvents().filter((e) => names.includes(e.name) && e.ts >= startUs && e.ts + e.dur <= endUs);
    phases[phase] = spans.slice(0, first).reduce((t, e) => t + e.dur / 1000, 0);
  }
  let relError = 0;
  for (const { name, want } of suiteOutputs(m)) {
    const got = outs[name] as { toArray(): Promise<number[]> };
    relError = Math.max(relError, maxRelError(await got.toArray(), want.toArraySync()));
  }
  /** Median ms per call (synchronised, results left where they are, as torch_models.py times). */
  const perCall = (f: typeof feeds) => medianCallMs(() => model.run(f), a.repeat, sync);
  const hostInputsMs = await perCall(feeds);
  // On CUDA, the steady state with the inputs already on the GPU, as PyTorch's `.cuda()`
  // inputs in torch_models.py: the figure compared with torch.compile. The host-input figure
  // adds one copy of each input per call.
  const perCallMs = a.device === 'cuda' ? await perCall(await onDevice(feeds)) : hostInputsMs;
  const c = counters();
  const prog = await model.compile(feeds);
  const r: OneResult = { model: m.name, contextMs, loadMs, firstResultMs, phases, perCallMs, hostInputsMs, kernels: prog.kernelCount, relError, graphCacheHit: (c.graph_cache_hits ?? 0) > 0, counters: c };
  if (a.bisect && !(relError <= TOL)) {
    const { bisectModel } = await import('./model_bisect.js');
    r.bisect = await bisectModel(model, feeds, options, TOL);
  }
  return r;
}

/** The warm run of median first-result time, with each phase the median over the runs. */
function medianRun(runs: OneResult[]): OneResult {
  const sorted = [...runs].sort((x, y) => x.firstResultMs - y.firstResultMs);
  const mid = sorted[(sorted.length - 1) >> 1]!;
  const phases = Object.fromEntries(Object.keys(PHASES).map((p) => [p, median(runs.map((r) => r.phases[p] ?? 0))]));
  return { ...mid, loadMs: median(runs.map((r) => r.loadMs)), contextMs: median(runs.map((r) => r.contextMs)), phases };
}

function breakdown(r: OneResult): string {
  const parts = [`load ${r.loadMs.toFixed(0)}`, ...Object.entries(r.phases).map(([p, ms]) => `${p} ${ms.toFixed(0)}`)];
  if (r.contextMs > 0) parts.unshift(`ctx ${r.contextMs.toFixed(0)} apart`);
  return parts.join(', ');
}

function child(m: SuiteModel, a: Args, cache: string, bisect: boolean): OneResult {
  const args = [fileURLToPath(import.meta.url), '--one', m.dir, '--cache', cache, '--device', a.device, '--repeat', String(a.repeat), ...(bisect ? ['--bisect', 'x'] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 600_000 });
  const line = r.stdout.split('\n').reverse().find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) return { model: m.name, error: (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(-6).join(' | ').slice(0, 600) } as OneResult;
  return JSON.parse(line) as OneResult;
}

async function main() {
  const a = parseArgs<Args>(process.argv.slice(2), { json: false, device: 'cpu', dir: path.join(here, '../../test/fixtures/models'), only: undefined, repeat: 20, warmRepeat: 1, bisect: false, one: undefined, cache: undefined }, {
    '--dir': (a, v) => (a.dir = v!),
    '--only': (a, v) => (a.only = list(v)),
    '--repeat': (a, v) => (a.repeat = Number(v)),
    '--warm-repeat': (a, v) => (a.warmRepeat = Number(v)),
    '--bisect': (a) => (a.bisect = true),
    '--one': (a, v) => (a.one = v),
    '--cache': (a, v) => (a.cache = v),
  });
  if (a.one) {
    const m = listSuite(path.dirname(a.one)).find((s) => s.dir === path.resolve(a.one!) || s.dir === a.one)!;
    try {
      console.log(JSON.stringify(await runOne(m, a)));
    } catch (e) {
      console.log(JSON.stringify({ model: m.name, error: String((e as Error).message ?? e).slice(0, 1500) }));
    }
    process.exit(0);
  }
  const models = listSuite(a.dir).filter((m) => !a.only || a.only.some((o) => m.name.startsWith(o)));
  const rows: { model: string; cold: OneResult; warm?: OneResult; warmRuns?: OneResult[] }[] = [];
  for (const m of models) {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-real-'));
    const cold = child(m, a, cache, a.bisect);
    const warmRuns = cold.error ? [] : Array.from({ length: a.warmRepeat }, () => child(m, a, cache, false)).filter((w) => !w.error);
    const warm = warmRuns.length ? medianRun(warmRuns) : undefined;
    fs.rmSync(cache, { recursive: true, force: true });
    rows.push({ model: m.name, cold, ...(warm ? { warm, warmRuns } : {}) });
    if (!a.json) {
      const ok = !cold.error && cold.relError <= TOL;
      console.log(
        cold.error
          ? `${m.name.padEnd(28)} ERROR ${cold.error}`
          : `${m.name.padEnd(28)} ${ok ? 'ok  ' : 'FAIL'} err ${cold.relError.toExponential(2)}  kernels ${String(cold.kernels).padStart(4)}  cold ${cold.firstResultMs.toFixed(0).padStart(6)} ms (${breakdown(cold)})  warm ${warm?.firstResultMs.toFixed(0).padStart(5) ?? '?'} ms${warm ? ` (${breakdown(warm)}; builds ${warm.counters.onnx_graph_builds ?? '?'})` : ''}  per call ${cold.perCallMs.toFixed(3)} ms${a.device === 'cuda' ? ` (host inputs ${cold.hostInputsMs.toFixed(3)})` : ''}`,
      );
      if (cold.bisect) console.log(JSON.stringify(cold.bisect, null, 1));
    }
  }
  const info = machineInfo({ device: a.device, dir: a.dir });
  if (a.json) console.log(JSON.stringify({ machine: info, rows }));
  else console.log(`\n${machineLine(info)}`);
}

await main();

// CPU kernel throughput beside a plain JavaScript loop doing the same work, plus compile time
// per kernel and in total for the 32-layer program.
//
// - pointwise: sigmoid(relu(x*y + 0.5) * 1.7), 5 ops reading 2 inputs, [4096, 4096] (16M elements)
// - softmax:   row softmax of [4096, 4096]
// - column sums: x.sum(0) of [4096, 4096] (a reduction over the leading axis)
// Bytes = inputs read once + outputs written once (pointwise 3 × 64 MiB, softmax 2 × 64 MiB).
// Both sides allocate their output each call (as kiln's API returns a fresh array). Median of
// --runs timed calls after 2 warm-up calls; kiln's time is the whole `await f(x)` (input
// checks, output allocation, kernel calls through koffi).
//
//   node dist/bench/cpu_throughput.js [--json] [--runs 7] [--no-compile-time (kernel rows only)]
// - whole sum, row sums of [64, 262144], column sums of [65536, 256]: float32 sums long enough
//   to accumulate in blocks
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../src/index.js';
import { NDArray } from '../src/graph/ndarray.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { randnArray, resultOf, runChild } from '../test/fixtures/programs.js';
import { machineInfo, machineLine, median } from './common.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 7;
const JSON_OUT = process.argv.includes('--json');
const R = 4096;
const C = 4096;
const N = R * C;

async function timeIt(fn: () => Promise<Float32Array> | Float32Array): Promise<{ ms: number; out: Float32Array }> {
  let out = await fn();
  out = await fn();
  const ts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    out = await fn();
    ts.push(performance.now() - t0);
  }
  return { ms: median(ts), out };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function jsPointwise(x: Float32Array, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = Math.max(x[i]! * y[i]! + 0.5, 0) * 1.7;
    out[i] = 1 / (1 + Math.exp(-v));
  }
  return out;
}

function jsSoftmax(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < R; r++) {
    const o = r * C;
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, x[o + j]!);
    let s = 0;
    for (let j = 0; j < C; j++) {
      const e = Math.exp(x[o + j]! - m);
      out[o + j] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let j = 0; j < C; j++) out[o + j] = out[o + j]! * inv;
  }
  return out;
}

/** Row by row into a float64 accumulator per column: the cache-friendly order in JS. */
function jsColumnSums(x: Float32Array): Float32Array {
  const acc = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    const o = r * C;
    for (let j = 0; j < C; j++) acc[j]! += x[o + j]!;
  }
  return Float32Array.from(acc);
}

interface Row {
  name: string;
  bytes: number;
  kilnMs: number;
  jsMs: number;
  kilnGBs: number;
  jsGBs: number;
  maxAbsDiff: number;
}

async function main(): Promise<void> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'kiln-bench-tp-'));
  try {
    const x = randnArray([R, C], 1);
    const y = randnArray([R, C], 2);
    const xs = x.toTypedArraySync() as Float32Array;
    const ys = y.toTypedArraySync() as Float32Array;
    const rows: Row[] = [];

    const pw = compile((a: Tensor, b: Tensor) => a.mul(b).add(0.5).relu().mul(1.7).sigmoid(), { device: 'cpu', cacheDir });
    const kp = await timeIt(async () => (await ((await pw(x, y)) as NDArray).toTypedArray()) as Float32Array);
    const jp = await timeIt(() => jsPointwise(xs, ys));
    rows.push({ name: 'pointwise 5-op chain, 2 inputs [4096,4096]', bytes: 3 * 4 * N, kilnMs: kp.ms, jsMs: jp.ms, kilnGBs: 0, jsGBs: 0, maxAbsDiff: maxAbsDiff(kp.out, jp.out) });

    const sm = compile((a: Tensor) => a.softmax(-1), { device: 'cpu', cacheDir });
    const ks = await timeIt(async () => (await ((await sm(x)) as NDArray).toTypedArray()) as Float32Array);
    const js = await timeIt(() => jsSoftmax(xs));
    rows.push({ name: 'row softmax [4096,4096]', bytes: 2 * 4 * N, kilnMs: ks.ms, jsMs: js.ms, kilnGBs: 0, jsGBs: 0, maxAbsDiff: maxAbsDiff(ks.out, js.out) });

    const cs = compile((a: Tensor) => a.sum(0), { device: 'cpu', cacheDir });
    const kc = await timeIt(async () => (await ((await cs(x)) as NDArray).toTypedArray()) as Float32Array);
    const jc = await timeIt(() => jsColumnSums(xs));
    rows.push({ name: 'column sums [4096,4096] → [4096]', bytes: 4 * N, kilnMs: kc.ms, jsMs: jc.ms, kilnGBs: 0, jsGBs: 0, maxAbsDiff: maxAbsDiff(kc.out, jc.out) });
    // Whole-tensor sum and long-row sums (float32 sums over more than 4096 points accumulate in
    // blocks: issue 14 item 9), against a float64 JS loop.
    const jsSum = (a: Float32Array, rowsOf: number) => {
      const n = a.length / rowsOf;
      const out = new Float32Array(rowsOf);
      for (let r = 0; r < rowsOf; r++) {
        let acc = 0;
        for (let i = r * n; i < (r + 1) * n; i++) acc += a[i]!;
        out[r] = acc;
      }
      return out;
    };
    const ws = compile((a: Tensor) => a.sum(), { device: 'cpu', cacheDir });
    const kw = await timeIt(async () => (await ((await ws(x)) as NDArray).toTypedArray()) as Float32Array);
    const jw = await timeIt(() => jsSum(xs, 1));
    rows.push({ name: 'whole sum [4096,4096] → []', bytes: 4 * N, kilnMs: kw.ms, jsMs: jw.ms, kilnGBs: 0, jsGBs: 0, maxAbsDiff: maxAbsDiff(kw.out, jw.out) });
    const x2 = NDArray.from(xs, [64, N / 64]);
    const lr = compile((a: Tensor) => a.sum(-1), { device: 'cpu', cacheDir });
    const kl = await timeIt(async () => (await ((await lr(x2)) as NDArray).toTypedArray()) as Float32Array);
    const jl = await timeIt(() => jsSum(xs, 64));
    rows.push({ name: 'row sums [64,262144] → [64]', bytes: 4 * N, kilnMs: kl.ms, jsMs: jl.ms, kilnGBs: 0, jsGBs: 0, maxAbsDiff: maxAbsDiff(kl.out, jl.out) });
    const x3 = NDArray.from(xs, [N / 256, 256]);
    const lc = compile((a: Tensor) => a.sum(0), { device: 'cpu', cacheDir });
    const kcl = await timeIt(async () => (await ((await lc(x3)) as NDArray).toTypedArray()) as Float32Array);
    const jcl = await timeIt(() => {
      const out = new Float64Array(256);
      for (let r = 0; r < N / 256; r++) for (let c = 0; c < 256; c++) out[c]! += xs[r * 256 + c]!;
      return Float32Array.from(out);
    });
    rows.push({ name: 'column sums [65536,256] → [256]', bytes: 4 * N, kilnMs: kcl.ms, jsMs: jcl.ms, kilnGBs: 0, jsGBs: 0, maxAbsDiff: maxAbsDiff(kcl.out, jcl.out) });
    if (process.argv.includes('--no-compile-time')) {
      for (const r of rows) console.log(`${r.name.padEnd(44)} kiln ${r.kilnMs.toFixed(2).padStart(8)} ms  js ${r.jsMs.toFixed(2).padStart(8)} ms  max|diff| ${r.maxAbsDiff.toExponential(2)}`);
      return;
    }
    for (const r of rows) {
      r.kilnGBs = r.bytes / (r.kilnMs * 1e6);
      r.jsGBs = r.bytes / (r.jsMs * 1e6);
    }

    // Compile time of the 32-layer program, cold, default workers, in a fresh process.
    const traceFile = join(cacheDir, 'trace.json');
    const run = resultOf(await runChild({ programs: [{ kind: 'distinct', n: 32 }], check: false }, { KILN_NO_CACHE: '1', KILN_TRACE: traceFile }));
    const events = (JSON.parse(readFileSync(traceFile, 'utf8')) as { traceEvents: { cat: string; dur: number }[] }).traceEvents;
    const perKernel = events.filter((e) => e.cat === 'compile').map((e) => e.dur / 1000);
    const compileTime = {
      program: '32 distinct layers',
      kernels: perKernel.length,
      workers: run.counters.workers_spawned,
      totalMs: run.programs![0]!.firstResultMs,
      perKernelMedianMs: median(perKernel),
      perKernelMeanMs: perKernel.reduce((a, b) => a + b, 0) / perKernel.length,
      perKernelSumMs: perKernel.reduce((a, b) => a + b, 0),
    };

    const machine = machineInfo({ runs: RUNS });
    if (JSON_OUT) {
      process.stdout.write(JSON.stringify({ bench: 'cpu_throughput', machine, rows, compileTime }, null, 2) + '\n');
      return;
    }
    console.log(`CPU throughput, median of ${RUNS} after 2 warm-up; ${machineLine(machine)}`);
    console.log('| workload | MB moved | kiln ms | kiln GB/s | JS loop ms | JS GB/s | kiln / JS | max |diff| |');
    console.log('|:--|--:|--:|--:|--:|--:|--:|--:|');
    for (const r of rows) {
      console.log(
        `| ${r.name} | ${(r.bytes / 1e6).toFixed(0)} | ${r.kilnMs.toFixed(1)} | ${r.kilnGBs.toFixed(2)} | ${r.jsMs.toFixed(1)} | ${r.jsGBs.toFixed(2)} | ${(r.jsMs / r.kilnMs).toFixed(2)}× | ${r.maxAbsDiff.toExponential(1)} |`,
      );
    }
    console.log(
      `compile, ${compileTime.program}: ${compileTime.kernels} kernels, ${compileTime.workers} workers, total ${compileTime.totalMs.toFixed(0)} ms; ` +
        `per kernel (in a worker) median ${compileTime.perKernelMedianMs.toFixed(0)} ms, mean ${compileTime.perKernelMeanMs.toFixed(0)} ms, sum ${compileTime.perKernelSumMs.toFixed(0)} ms`,
    );
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

await main();

// Host cost of one call of small CPU programs: their kernels do almost no work, so the time
// is kiln's own per call (signature lookup, input checks, output allocation, binding buffers to
// kernels, the koffi calls). Two figures: `await f(...inputs)` (compile()'s function) and
// `await program.run(inputs)` (compileGraph's program: the executable alone, no signature
// lookup). Each is the mean of a batch of --calls calls, median of --batches batches, after
// --calls warm-up calls.
//
// - 1 kernel, 3 buffers: relu(x*y + 0.5) of two [4,24] inputs
// - 1 kernel, 49 buffers: a weighted sum of 48 [4,24] inputs (under the 64 parameters koffi
//   declares, so builds that pass buffers as parameters run it too)
// - the same, called with new NDArray objects (over the same data) every call: nothing known
//   about the arrays from an earlier call (made before each batch, outside the timing)
// - 1 kernel, 121 buffers: the same over 120 inputs ("refused" where the build cannot run it)
// - 32 kernels: the 32 distinct layers of test/fixtures/programs.ts on [4,24] (64 captured
//   parameters, temporaries between the layers)
//
//   node dist/bench/cpu_call.js [--json] [--calls 2000] [--batches 9]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileGraph } from '../src/api/program.js';
import { compile } from '../src/index.js';
import { NDArray } from '../src/graph/ndarray.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { type TracedFn, trace } from '../src/frontend/trace.js';
import { distinctLayers, randnArray } from '../test/fixtures/programs.js';
import { machineInfo, machineLine, median, numberFlag } from './common.js';

const CALLS = numberFlag('--calls', 2000);
const BATCHES = numberFlag('--batches', 9);
const JSON_OUT = process.argv.includes('--json');

interface Row {
  name: string;
  kernels: number;
  /** µs per call of compile()'s function, median of the batches; undefined when the build refused the program. */
  us?: number;
  minUs?: number;
  /** The same for program.run(). */
  runUs?: number;
  runMinUs?: number;
  error?: string;
}

type Case = { name: string; kernels: number; fn: TracedFn; inputs: NDArray[]; fresh?: boolean };

const weightedSum = (...xs: Tensor[]) => xs.reduce((acc, x, i) => acc.add(x.mul(i + 1)));
const many = (n: number) => Array.from({ length: n }, (_, i) => randnArray([4, 24], 100 + i));

/** The inputs of each call of a batch: the same arrays, or (fresh) new NDArrays over their data. */
function batchInputs(c: Case): NDArray[][] {
  if (!c.fresh) return new Array<NDArray[]>(CALLS).fill(c.inputs);
  return Array.from({ length: CALLS }, () => c.inputs.map((x) => NDArray.from(x.toTypedArraySync(), x.shape, { dtype: x.dtype })));
}

/** µs per call of `call`: median and min over the batches. */
async function time(c: Case, call: (inputs: NDArray[]) => Promise<unknown>): Promise<{ us: number; minUs: number }> {
  const batches: number[] = [];
  for (let b = -1; b < BATCHES; b++) {
    const sets = batchInputs(c);
    const t0 = performance.now();
    for (let i = 0; i < CALLS; i++) await call(sets[i]!);
    // Batch -1 is the warm-up.
    if (b >= 0) batches.push(((performance.now() - t0) * 1000) / CALLS);
  }
  return { us: median(batches), minUs: Math.min(...batches) };
}

async function measure(c: Case, cacheDir: string): Promise<Row> {
  const f = compile(c.fn, { device: 'cpu', cacheDir });
  try {
    await f(...c.inputs);
  } catch (e) {
    return { name: c.name, kernels: c.kernels, error: (e as Error).message.split('\n')[0]! };
  }
  const viaCompile = await time(c, (xs) => f(...xs));
  const program = await compileGraph(trace(c.fn, c.inputs.map((x) => ({ shape: x.shape, dtype: x.dtype }))), { device: 'cpu', cacheDir });
  const viaRun = await time(c, (xs) => program.run(xs));
  return { name: c.name, kernels: c.kernels, ...viaCompile, runUs: viaRun.us, runMinUs: viaRun.minUs };
}

async function main(): Promise<void> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'kiln-bench-call-'));
  try {
    const layers = distinctLayers(32);
    const cases: Case[] = [
      { name: '1 kernel, 3 buffers (pointwise, 2 inputs [4,24])', kernels: 1, fn: (x, y) => x.mul(y!).add(0.5).relu(), inputs: many(2) },
      { name: '1 kernel, 49 buffers (weighted sum of 48 inputs [4,24])', kernels: 1, fn: weightedSum, inputs: many(48) },
      { name: '1 kernel, 49 buffers, new NDArrays every call', kernels: 1, fn: weightedSum, inputs: many(48), fresh: true },
      { name: '1 kernel, 121 buffers (weighted sum of 120 inputs [4,24])', kernels: 1, fn: weightedSum, inputs: many(120) },
      { name: '32 kernels (32 distinct layers [4,24], 64 parameters)', kernels: 32, fn: layers.fn, inputs: layers.inputs() },
    ];
    const rows: Row[] = [];
    for (const c of cases) rows.push(await measure(c, cacheDir));
    const machine = machineInfo({ calls: CALLS, batches: BATCHES });
    if (JSON_OUT) {
      process.stdout.write(JSON.stringify({ bench: 'cpu_call', machine, rows }, null, 2) + '\n');
      return;
    }
    console.log(`CPU host cost per call, mean of ${CALLS} calls, median of ${BATCHES} batches; ${machineLine(machine)}`);
    console.log('| program | kernels | f(...) µs per call (median) | min | program.run() µs per call (median) | min |');
    console.log('|:--|--:|--:|--:|--:|--:|');
    const fmt = (v: number | undefined) => (v === undefined ? '' : v.toFixed(2));
    for (const r of rows) {
      if (r.us === undefined) console.log(`| ${r.name} | ${r.kernels} | refused: ${r.error} | | | |`);
      else console.log(`| ${r.name} | ${r.kernels} | ${fmt(r.us)} | ${fmt(r.minUs)} | ${fmt(r.runUs)} | ${fmt(r.runMinUs)} |`);
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

await main();

// Cold versus warm time to first result, each in a fresh child process
// (test/fixtures/child.mjs) over a fresh cache directory: the first (cold) process compiles
// and fills the cache, the next ones (warm, KILN_ASSERT_NO_COMPILE=1, so a compile would be
// an error) load the graph bundle. Programs: the 32-layer program of distinct layers, the
// bundled example (an MLP), and 100 distinct kernels (the "≤ 50 ms for 100 kernels" target).
//
// "kiln ms" is measured inside the child, from the compile() call to the first result
// (trace + graph key + cache read + load + run; on CUDA the context is started before that
// and shown apart as "context ms": the target excludes it); "process ms" is spawn to exit of the whole
// node process (node start-up and module import included). "load ms" is the part of kiln ms
// spent in the backend's loader (write .so + dlopen for C; cuModuleLoadData for CUDA).
//
// Cold is the median of --cold-repeat first processes, each on its own empty cache directory
// (one sample swung the ratio by a third: the first paid a cold page cache, the others
// a machine shared with other jobs); the warm processes read the first one's cache.
//
//   node dist/bench/warm.js [--json] [--device cpu|cuda] [--repeat 5] [--cold-repeat 3] [--workers N]
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChildResult, type ChildRun, type ProgramSpec, resultOf, runChild } from '../test/fixtures/programs.js';
import { type BenchArgs, machineInfo, machineLine, median, parseArgs } from './common.js';

interface Args extends BenchArgs {
  repeat: number;
  coldRepeat: number;
  workers: number;
}

function parseWarmArgs(argv: string[]): Args {
  const defaults: Args = { json: false, device: 'cpu', repeat: 5, coldRepeat: 3, workers: availableParallelism() };
  return parseArgs(argv, defaults, {
    '--repeat': (a, v) => (a.repeat = Number(v)),
    '--cold-repeat': (a, v) => (a.coldRepeat = Number(v)),
    '--workers': (a, v) => (a.workers = Number(v)),
  });
}

interface Sample {
  kilnMs: number;
  processMs: number;
  loadMs: number;
  loads: number;
  importMs: number;
  /** CUDA context start (before the timed region; not in kilnMs). */
  contextMs: number;
}

export interface WarmRow {
  program: string;
  kernels: number;
  cold: Sample;
  warm: Sample;
  /** warm kiln ms / cold kiln ms. */
  ratio: number;
  /** warm process ms / cold process ms. */
  processRatio: number;
}

function sample(run: ChildRun, r: ChildResult): Sample {
  return { kilnMs: r.programs![0]!.firstResultMs, processMs: run.wallMs, loadMs: r.loadMs, loads: r.loadCount, importMs: r.importMs, contextMs: r.contextMs ?? 0 };
}

function medianSample(xs: Sample[]): Sample {
  return {
    kilnMs: median(xs.map((x) => x.kilnMs)),
    processMs: median(xs.map((x) => x.processMs)),
    loadMs: median(xs.map((x) => x.loadMs)),
    loads: xs[0]!.loads,
    importMs: median(xs.map((x) => x.importMs)),
    contextMs: median(xs.map((x) => x.contextMs)),
  };
}

async function one(spec: ProgramSpec, name: string, args: Args): Promise<WarmRow> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-warm-'));
  try {
    const cfg = { programs: [spec], workers: args.workers, cacheDir: dir, device: args.device, timeLoads: true };
    const colds: Sample[] = [];
    let kernels = 0;
    for (let i = 0; i < Math.max(1, args.coldRepeat); i++) {
      // The first cold run fills `dir` for the warm runs; the others get empty directories of their own.
      const coldDir = i === 0 ? dir : mkdtempSync(join(tmpdir(), 'kiln-bench-cold-'));
      try {
        const coldRun = await runChild({ ...cfg, cacheDir: coldDir }, {}, { timeoutMs: 600_000 });
        const cold = resultOf(coldRun);
        if (cold.programs![0]!.correct === false || cold.counters.graph_cache_misses !== 1) throw new Error(`${name}: cold run ${i} is wrong or hit a cache`);
        kernels = cold.counters.kernels_generated!;
        colds.push(sample(coldRun, cold));
      } finally {
        if (coldDir !== dir) rmSync(coldDir, { recursive: true, force: true });
      }
    }
    const warms: Sample[] = [];
    for (let i = 0; i < args.repeat; i++) {
      const run = await runChild(cfg, { KILN_ASSERT_NO_COMPILE: '1' });
      const r = resultOf(run);
      if (r.counters.graph_cache_hits !== 1 || r.programs![0]!.correct === false) throw new Error(`${name}: warm run ${i} missed the cache or is wrong`);
      warms.push(sample(run, r));
    }
    const c = medianSample(colds);
    const w = medianSample(warms);
    return { program: name, kernels, cold: c, warm: w, ratio: w.kilnMs / c.kilnMs, processRatio: w.processMs / c.processMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseWarmArgs(process.argv.slice(2));
  const programs: [ProgramSpec, string][] = [
    [{ kind: 'distinct', n: 32 }, '32-layer program'],
    [{ kind: 'mlp' }, 'MLP example (784-128-64-10)'],
    [{ kind: 'distinct', n: 100 }, '100 distinct kernels'],
  ];
  const rows: WarmRow[] = [];
  for (const [spec, name] of programs) {
    rows.push(await one(spec, name, args));
    if (!args.json) process.stderr.write(`  ${name} done\n`);
  }
  const machine = machineInfo({ device: args.device, workers: args.workers, repeat: args.repeat, coldRepeat: args.coldRepeat });
  const hundred = rows.find((r) => r.program.startsWith('100'))!;
  // Issue 4 sets the 5% target for the 32-layer program and the bundled example, and the
  // 50 ms one for 100 kernels; the 100-kernel ratio is printed and reported apart.
  const ratioRows = rows.filter((r) => r !== hundred);
  const targets = {
    warmAtMost5PctOfCold: ratioRows.every((r) => r.ratio <= 0.05),
    hundredKernelsRatio: hundred.ratio,
    hundredKernelsWarmKilnMs: hundred.warm.kilnMs,
    hundredKernelsAtMost50ms: hundred.warm.kilnMs <= 50,
  };
  if (args.json) {
    process.stdout.write(JSON.stringify({ bench: 'warm', machine, rows, targets }, null, 2) + '\n');
    return;
  }
  console.log(`cold vs warm, ${args.device}, ${args.workers} workers; cold = median of ${args.coldRepeat}, warm = median of ${args.repeat} processes; ${machineLine(machine)}`);
  console.log('| program | kernels | cold kiln ms | warm kiln ms | warm/cold | of which load (count) | context ms (warm) | cold process ms | warm process ms | warm/cold (process) |');
  console.log('|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const r of rows) {
    console.log(
      `| ${r.program} | ${r.kernels} | ${r.cold.kilnMs.toFixed(0)} | ${r.warm.kilnMs.toFixed(1)} | ${(100 * r.ratio).toFixed(1)}% | ${r.warm.loadMs.toFixed(1)} (${r.warm.loads}) | ${r.warm.contextMs.toFixed(0)} | ${r.cold.processMs.toFixed(0)} | ${r.warm.processMs.toFixed(0)} | ${(100 * r.processRatio).toFixed(1)}% |`,
    );
  }
  console.log(
    `targets: warm ≤ 5% of cold (kiln ms) for the 32-layer program and the example: ${targets.warmAtMost5PctOfCold ? 'met' : 'MISSED'} ` +
      `(100 kernels: ${(100 * hundred.ratio).toFixed(1)}%); 100 kernels warm ≤ 50 ms: ${hundred.warm.kilnMs.toFixed(1)} ms, ${targets.hundredKernelsAtMost50ms ? 'met' : 'MISSED'}`,
  );
}

await main();

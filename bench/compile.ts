// Cold compile wall time for 32 and 128 distinct kernels with 1, 2, … N workers, early
// versus late submission (KILN_EARLY_COMPILE=0). Each configuration runs in a fresh child
// process (test/fixtures/child.mjs) with the disk cache off, so the env applies, the pool is
// fresh and every kernel really compiles. Wall time is measured inside the child: from the
// compile() call to the first result (CPU), or to the end of compileGraph (--device cuda,
// compile only: no GPU needed, NVRTC or nvcc must be installed).
//
//   node dist/bench/compile.js [--json] [--device cpu|cuda] [--kernels 32,128]
//                              [--workers 1,2,4] [--modes early,late] [--repeat 3] [--pool cold|warm]
//
// --pool warm: the child first compiles a small unrelated program and waits 2 s, so the pool
// is up (workers forked, NVRTC loaded) before the timed compile: the steady state of a
// long-lived process, where Inductor's pool is warmed at import. Without it the time includes
// starting the pool.
import { availableParallelism } from 'node:os';
import { type ChildConfig, resultOf, runChild } from '../test/fixtures/programs.js';
import { type BenchArgs, list, machineInfo, machineLine, median, parseArgs } from './common.js';

interface Args extends BenchArgs {
  kernels: number[];
  workers: number[];
  modes: ('early' | 'late')[];
  repeat: number;
  warmPool: boolean;
}

function parseCompileArgs(argv: string[]): Args {
  const N = availableParallelism();
  const defaults: Args = { json: false, device: 'cpu', kernels: [32, 128], workers: Array.from({ length: N }, (_, i) => i + 1), modes: ['early', 'late'], repeat: 3, warmPool: false };
  return parseArgs(argv, defaults, {
    '--kernels': (a, v) => (a.kernels = list(v).map(Number)),
    '--workers': (a, v) => (a.workers = list(v).map(Number)),
    '--modes': (a, v) => (a.modes = list(v) as Args['modes']),
    '--repeat': (a, v) => (a.repeat = Number(v)),
    '--pool': (a, v) => (a.warmPool = v === 'warm'),
  });
}

export interface CompileRow {
  kernels: number;
  workers: number;
  mode: 'early' | 'late';
  /** Median over repeats, ms. */
  wallMs: number;
  /** Fastest repeat, ms (least disturbed by other load). */
  minMs: number;
  runsMs: number[];
  speedup: number;
  efficiency: number;
  compiled: number;
}

async function main(): Promise<void> {
  const args = parseCompileArgs(process.argv.slice(2));
  const rows: CompileRow[] = [];
  for (const kernels of args.kernels) {
    for (const mode of args.modes) {
      for (const workers of args.workers) rows.push({ kernels, workers, mode, wallMs: 0, minMs: 0, runsMs: [], speedup: 0, efficiency: 0, compiled: 0 });
    }
  }
  // Round-robin over the configurations, so a burst of other load on the machine hits each
  // configuration once rather than all repeats of one.
  for (let r = 0; r < args.repeat; r++) {
    for (const row of rows) {
      const cfg: ChildConfig = { programs: [{ kind: 'distinct', n: row.kernels }], workers: row.workers, device: args.device, check: false };
      if (args.device === 'cuda') cfg.compileOnly = true;
      if (args.warmPool) {
        cfg.warmup = { kind: 'layers', indices: [9001, 9002] };
        cfg.settleMs = 2000;
      }
      const res = resultOf(await runChild(cfg, { KILN_NO_CACHE: '1', ...(row.mode === 'late' ? { KILN_EARLY_COMPILE: '0' } : {}) }, { timeoutMs: 600_000 }));
      row.runsMs.push(res.programs![0]!.firstResultMs);
      row.compiled = res.counters.compile_submitted!;
      if (!args.json) process.stderr.write(`  [${r + 1}/${args.repeat}] ${row.kernels} kernels, ${row.workers} workers, ${row.mode}: ${row.runsMs.at(-1)!.toFixed(0)} ms\n`);
    }
  }
  for (const row of rows) {
    row.wallMs = median(row.runsMs);
    row.minMs = Math.min(...row.runsMs);
  }
  for (const row of rows) {
    const base = rows.find((b) => b.kernels === row.kernels && b.mode === row.mode && b.workers === 1) ?? rows.find((b) => b.kernels === row.kernels && b.mode === row.mode)!;
    row.speedup = base.wallMs / row.wallMs;
    row.efficiency = row.speedup / (row.workers / base.workers);
  }
  const machine = machineInfo({ device: args.device, repeat: args.repeat });
  if (args.json) {
    process.stdout.write(JSON.stringify({ bench: 'compile', machine, rows }, null, 2) + '\n');
    return;
  }
  console.log(`cold compile, ${args.device}${args.device === 'cuda' ? ' (compile only)' : ''}; median of ${args.repeat}; ${machineLine(machine)}`);
  console.log('| kernels | workers | submit | wall ms (median) | min ms | speedup vs 1 worker | parallel efficiency | compiles | all runs ms |');
  console.log('|--:|--:|:--|--:|--:|--:|--:|--:|:--|');
  for (const r of rows) {
    console.log(
      `| ${r.kernels} | ${r.workers} | ${r.mode} | ${r.wallMs.toFixed(0)} | ${r.minMs.toFixed(0)} | ${r.speedup.toFixed(2)}× | ${(100 * r.efficiency).toFixed(0)}% | ${r.compiled} | ${r.runsMs.map((x) => x.toFixed(0)).join(', ')} |`,
    );
  }
  // What early submission gains: late wall / early wall at the same kernels and workers.
  const gains = rows
    .filter((r) => r.mode === 'early')
    .map((e) => ({ e, l: rows.find((l) => l.mode === 'late' && l.kernels === e.kernels && l.workers === e.workers) }))
    .filter((x) => x.l !== undefined)
    .map(({ e, l }) => `${e.kernels}k/${e.workers}w ${(l!.wallMs - e.wallMs).toFixed(0)} ms (${((l!.wallMs / e.wallMs - 1) * 100).toFixed(1)}%)`);
  if (gains.length > 0) console.log(`early vs late (late − early): ${gains.join('; ')}`);
}

await main();

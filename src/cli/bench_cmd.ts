// kiln bench model.onnx: cold compile (fresh cache directory), warm compile (same directory,
// a new process: what a restarted service pays), and steady-state time per call.
// Both compiles run in child processes so neither benefits from this process's memory.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { type OnnxValue, StringTensor } from '../onnx/string_tensor.js';
import { type CommonOpts, addCommonOptions, readInputFiles, collect, fmtMs, intArg, makeFeeds, median, ms, openModel, printJson } from './common.js';
import { setting } from '../config/read.js';
import { counters } from '../observe/counters.js';

interface BenchOpts extends CommonOpts {
  runs: number;
  warmup: number;
  input?: string[];
}

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

/** Runs `kiln compile --load --json` in a child process: its time to a runnable program (excluding Node's start). */
function childCompile(file: string, cacheDir: string, o: BenchOpts): number {
  const args = [MAIN, 'compile', file, '--load', '--json', '--cache-dir', cacheDir];
  if (o.device) args.push('--device', o.device);
  if (o.workers !== undefined) args.push('--workers', String(o.workers));
  for (const s of o.shape ?? []) args.push('--shape', s);
  for (const i of o.input ?? []) args.push('--input', i);
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return (JSON.parse(out) as { timeMs: number }).timeMs;
}

export function registerBench(program: Command): void {
  const cmd = program
    .command('bench')
    .description('measure cold compile, warm compile and steady-state run time')
    .argument('<model>', 'ONNX model file')
    .option('--runs <n>', 'timed runs (the median is reported)', intArg('--runs', 1), 20)
    .option('--warmup <n>', 'untimed runs first', intArg('--warmup'), 3)
    .option('-i, --input <name=file.npy>', 'input from a .npy file, which also sizes its symbolic dims (repeatable; others random)', collect);
  addCommonOptions(cmd);
  cmd.action(async (file: string, o: BenchOpts) => {
    const files = readInputFiles(o.input);
    const model = openModel(file, o, files);
    const { feeds } = makeFeeds(model, files);
    const fresh = mkdtempSync(path.join(tmpdir(), 'kiln-bench-'));
    let cold: number, warm: number;
    try {
      cold = childCompile(file, fresh, o);
      warm = childCompile(file, fresh, o);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
    const t0 = process.hrtime.bigint();
    await model.compile(feeds);
    const loadMs = ms(t0);
    for (let i = 0; i < o.warmup; i++) await readAll(await model.runValues(feeds));
    const times: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const t = process.hrtime.bigint();
      await readAll(await model.runValues(feeds));
      times.push(ms(t));
    }
    const result = {
      model: file,
      device: o.device ?? setting('KILN_DEVICE'),
      coldCompileMs: cold,
      warmCompileMs: warm,
      loadMs,
      runMs: { median: median(times), min: Math.min(...times), max: Math.max(...times), runs: o.runs },
      // This process's (the steady-state runs'): a run that built or compiled shows here.
      counters: counters(),
    };
    if (o.json) return printJson(result);
    console.log(`${file} on ${result.device}:`);
    console.log(`  cold compile  ${fmtMs(cold)}   (fresh cache directory, new process, load included)`);
    console.log(`  warm compile  ${fmtMs(warm)}   (same directory, new process, load included)`);
    console.log(`  run           ${fmtMs(result.runMs.median)} median of ${o.runs} (min ${fmtMs(result.runMs.min)}, max ${fmtMs(result.runMs.max)})`);
  });
}

/** Steady state includes getting results to the host (a CUDA run is otherwise asynchronous). */
async function readAll(outs: Record<string, OnnxValue>): Promise<void> {
  for (const a of Object.values(outs)) if (!(a instanceof StringTensor)) await a.toTypedArray();
}

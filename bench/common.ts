// What the benches share: their command-line parsing, the median, and the description of
// the machine and its load that heads every result.
import { availableParallelism, cpus, loadavg } from 'node:os';

/** 1-minute load average when the bench started: other work on the machine skews timings. */
export const LOAD0 = loadavg()[0]!;

/** The number after `name` on the command line, else `dflt` (a bench's numeric flag). */
export function numberFlag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Median ms of `repeat` calls, each synchronised (`sync`: the GPU's context on CUDA), after 3
 * calls that warm up: the per-call figure of the model benches, timed as torch_models.py times
 * PyTorch.
 */
export async function medianCallMs(call: () => Promise<unknown>, repeat: number, sync: () => void): Promise<number> {
  for (let i = 0; i < 3; i++) await call();
  sync();
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    await call();
    sync();
    times.push(performance.now() - t);
  }
  return median(times);
}

/**
 * The feeds' arrays copied to the GPU once (toDevice), so calls read them in place, as PyTorch's
 * `.cuda()` inputs are timed; other values pass through. Imported on use: CPU-only benches never
 * load the CUDA runtime.
 */
export async function onDevice<T extends Record<string, unknown>>(feeds: T): Promise<T> {
  const { NDArray, toDevice } = await import('../src/index.js');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(feeds)) out[k] = v instanceof NDArray ? await toDevice(v, 'cuda') : v;
  return out as T;
}

/** The machine (cores, CPU, node, date, load average before and now), then the bench's own `extra` fields. */
export function machineInfo<E extends object>(extra: E) {
  return { nproc: availableParallelism(), cpu: cpus()[0]?.model ?? '?', node: process.version, date: new Date().toISOString(), loadavgBefore: LOAD0, loadavgAfter: loadavg()[0]!, ...extra };
}

/** "16 cores, <cpu>, node v20…; load average 0.3 before, 1.2 after": the machine in a bench's heading. */
export function machineLine(m: ReturnType<typeof machineInfo>): string {
  return `${m.nproc} cores, ${m.cpu}, node ${m.node}; load average ${m.loadavgBefore.toFixed(1)} before, ${m.loadavgAfter.toFixed(1)} after`;
}

/** The flags every child-process bench takes. */
export interface BenchArgs {
  json: boolean;
  device: 'cpu' | 'cuda';
}

/** Sets a bench's own flag from the argument after it (undefined when there is none). */
export type FlagSetter<A> = (a: A, value: string | undefined) => void;

/**
 * Parses `--json`, `--device cpu|cuda` and the bench's own `--flag value` pairs into
 * `defaults` (which it fills and returns); any other argument is an error.
 */
export function parseArgs<A extends BenchArgs>(argv: readonly string[], defaults: A, flags: Record<string, FlagSetter<A>>): A {
  const a = defaults;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const v = argv[i + 1];
    if (arg === '--json') {
      a.json = true;
    } else if (arg === '--device') {
      if (v !== 'cpu' && v !== 'cuda') throw new Error('--device cpu|cuda');
      a.device = v;
      i++;
    } else {
      const set = Object.hasOwn(flags, arg) ? flags[arg] : undefined;
      if (set === undefined) throw new Error(`unknown argument ${arg}`);
      set(a, v);
      i++;
    }
  }
  return a;
}

/** A comma-separated flag value (`--workers 1,2,4`) as its items. */
export function list(v: string | undefined): string[] {
  return v!.split(',').map((s) => s.trim()).filter(Boolean);
}

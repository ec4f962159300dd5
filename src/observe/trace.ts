// Chrome trace (chrome://tracing, Perfetto) under KILN_TRACE=file.json.
//
// Every process stamps events on the same epoch clock (performance.timeOrigin +
// performance.now(), in µs), so spans from worker processes line up with the main
// process's. Workers never write the file: they return their compile span in the job reply
// and the main process records it with the worker's pid. The file names each process and its
// thread (metadata events, ph 'M'): the main process, and each compile worker by its pid, so
// a trace viewer shows "kiln main" and "kiln compile worker 2 (pid …)", not bare pids.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setting } from '../config/read.js';

export type TraceCategory = 'trace' | 'schedule' | 'codegen' | 'compile' | 'load' | 'run' | 'cache' | 'pool';

export interface TraceEvent {
  name: string;
  cat: TraceCategory;
  ph: 'X';
  /** Start, µs since the Unix epoch. */
  ts: number;
  /** Duration, µs. */
  dur: number;
  pid: number;
  tid: number;
  args: Record<string, unknown>;
}

/** Microseconds since the Unix epoch, comparable across processes. */
export function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

// undefined = not yet decided (read KILN_TRACE on first use); null = tracing off.
let path: string | null | undefined;
const events: TraceEvent[] = [];
let exitHookInstalled = false;

function tracePath(): string | null {
  if (path === undefined) path = setting('KILN_TRACE') ?? null;
  return path;
}

export function traceEnabled(): boolean {
  return tracePath() !== null;
}

/**
 * Overrides KILN_TRACE (which is otherwise read once): a path turns tracing on,
 * null turns it off. For the CLI and tests.
 */
export function configureTrace(file: string | null): void {
  path = file;
  if (file !== null) installExitHook();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => flushTrace());
}

/** Records a finished event (e.g. a worker's compile span). No-op when tracing is off. */
export function recordEvent(ev: TraceEvent): void {
  if (tracePath() === null) return;
  installExitHook();
  events.push(ev);
}

const noop = (): void => {};

/**
 * Starts a span; call the returned function to end and record it. Returns a shared no-op
 * when tracing is off, so untraced runs pay one branch.
 */
export function traceSpan(cat: TraceCategory, name: string, args?: Record<string, unknown>): (extra?: Record<string, unknown>) => void {
  if (tracePath() === null) return noop;
  const ts = nowUs();
  return (extra) => {
    recordEvent(makeSpan(cat, name, ts, nowUs(), extra ? { ...args, ...extra } : args));
  };
}

export function withSpan<T>(cat: TraceCategory, name: string, fn: () => T, args?: Record<string, unknown>): T {
  if (tracePath() === null) return fn();
  const end = traceSpan(cat, name, args);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    end();
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => end()) as T;
  }
  end();
  return result;
}

/** Builds an event without recording it (workers use this to ship spans to the main process). */
export function makeSpan(cat: TraceCategory, name: string, startUs: number, endUs: number, args?: Record<string, unknown>, pid = process.pid): TraceEvent {
  return { name, cat, ph: 'X', ts: startUs, dur: Math.max(0, endUs - startUs), pid, tid: 0, args: args ?? {} };
}

/** A Chrome trace metadata event (process_name, thread_name, process_sort_index). */
export interface TraceMetadata {
  name: 'process_name' | 'thread_name' | 'process_sort_index';
  ph: 'M';
  pid: number;
  tid: number;
  args: { name?: string; sort_index?: number };
}

/**
 * Names for every process in `spans`: this one is the main process; any other pid is a
 * compile worker (the only processes whose spans reach this one), numbered in order of
 * their first span. Sorted main first, then the workers in that order.
 */
export function processNames(spans: readonly TraceEvent[], mainPid = process.pid): TraceMetadata[] {
  const pids = [mainPid, ...new Set(spans.map((e) => e.pid).filter((p) => p !== mainPid))];
  return pids.flatMap((pid, i): TraceMetadata[] => {
    const main = pid === mainPid;
    return [
      { name: 'process_name', ph: 'M', pid, tid: 0, args: { name: main ? `kiln main (pid ${pid})` : `kiln compile worker ${i} (pid ${pid})` } },
      { name: 'process_sort_index', ph: 'M', pid, tid: 0, args: { sort_index: i } },
      { name: 'thread_name', ph: 'M', pid, tid: 0, args: { name: main ? 'main' : 'compile' } },
    ];
  });
}

/** Writes every event so far as `{"traceEvents":[...]}` after the process names; also runs at process exit. */
export function flushTrace(): void {
  const p = tracePath();
  if (p === null) return;
  try {
    writeFileSync(p, JSON.stringify({ traceEvents: [...processNames(events), ...events], displayTimeUnit: 'ms' }));
  } catch (e) {
    process.stderr.write(`kiln warning: could not write trace ${p}: ${(e as Error).message}\n`);
  }
}

/** The events recorded so far (a copy), for tests and the CLI. */
export function traceEvents(): TraceEvent[] {
  return events.slice();
}

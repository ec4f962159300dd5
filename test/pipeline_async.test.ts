// End-to-end tests of the async compile pipeline (DESIGN.md invariants 1–3), each scenario in
// its own child process (test/fixtures/child.mjs) so KILN_TRACE / KILN_EARLY_COMPILE apply
// cleanly and the pool is fresh: compiles run only in workers; early submission overlaps
// codegen (and late submission does not); each distinct kernel compiles exactly once, also
// for two graphs sharing kernels compiled at the same time; every plan kernel is found in the
// future cache; a SIGKILLed worker costs one retry, not the result; workers die with their
// parent; workers: 0 compiles inline.
//
// The disk cache is off (KILN_NO_CACHE=1) so every kernel really compiles.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { type ChildConfig, type ChildResult, type ProgramSpec, type TraceSpan, resultOf, runChild, runChildTraced } from './fixtures/programs.js';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-pipeline-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let traceN = 0;
/** Runs the child with KILN_TRACE on; returns its result and trace events. */
async function traced(cfg: ChildConfig, env: Record<string, string> = {}): Promise<{ r: ChildResult; events: TraceSpan[]; stderr: string }> {
  const file = join(tmp, `trace${traceN++}.json`);
  const { run, events } = await runChildTraced(cfg, file, { KILN_NO_CACHE: '1', ...env });
  return { r: resultOf(run), events, stderr: run.stderr };
}

function assertCorrect(r: ChildResult): void {
  for (const p of [...(r.warmup ? [r.warmup] : []), ...(r.programs ?? [])]) {
    assert.equal(p.correct, true, `${p.name}: result differs from the reference (worst excess ${p.worstExcess})`);
    assert.ok(p.nonzero! > 0, `${p.name}: all outputs are zero`);
  }
}

/** counters after − counters at warm-up end. */
function diff(r: ChildResult): Record<string, number> {
  const base = r.countersAfterWarmup ?? {};
  return Object.fromEntries(Object.entries(r.counters).map(([k, v]) => [k, v - (base[k] ?? 0)]));
}

/** The kernel keys a compile span compiled (a compile group's members, else its own key). */
function keysOf(s: TraceSpan): string[] {
  return Array.isArray(s.args.kernels) ? s.args.kernels.map(String) : [String(s.args.kernel)];
}

/** Per kernel key, how many compile spans compiled it. */
function compilesPerKey(spans: TraceSpan[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of spans) for (const k of keysOf(s)) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
// Two warm-up layers, so the pool is up (both workers forked and ready) when the measured
// program's codegen starts: cold node startup of a worker (~80 ms here) is longer than codegen
// of 32 kernels (~10 ms), so without it no compile could start during codegen in either mode.
const WARMUP: ProgramSpec = { kind: 'layers', indices: [1001, 1002] };
// 32 distinct layers, then the same 32 three more times: 128 kernels to generate (~20 ms of
// codegen here), 32 distinct to compile. The repeats keep codegen going long after the
// first submission, so "a compile started during codegen" does not hinge on a few ms of
// scheduling luck on a loaded 2-core machine; they also check dedup within one graph.
const REPEATED: ProgramSpec = { kind: 'layers', indices: [0, 1, 2, 3].flatMap(() => range(0, 32)) };

function overlapCheck(r: ChildResult, events: TraceSpan[]) {
  const main = events.filter((e) => e.ts >= r.mainStartUs);
  const codegen = main.filter((e) => e.cat === 'codegen');
  const compiles = main.filter((e) => e.cat === 'compile');
  const lastCodegenEnd = Math.max(...codegen.map((e) => e.ts + e.dur));
  const startedBefore = compiles.filter((e) => e.ts < lastCodegenEnd);
  return { codegen, compiles, lastCodegenEnd, startedBefore };
}

test('early submission: ≥30 distinct kernels compile once each, only in workers, overlapping codegen', async (t) => {
  const { r, events } = await traced({ warmup: WARMUP, programs: [REPEATED], workers: 2 });
  assertCorrect(r);
  const d = diff(r);
  const { codegen, compiles, lastCodegenEnd, startedBefore } = overlapCheck(r, events);

  // Codegen spans carry the kernel key; 32 distinct keys.
  const keys = new Set(codegen.map((e) => String(e.args.kernel)));
  assert.equal(codegen.length, 128);
  assert.equal(keys.size, 32, 'the 32 layers should give 32 distinct kernels');

  // No compile in the main process, ever (warm-up included).
  const allCompiles = events.filter((e) => e.cat === 'compile');
  assert.ok(allCompiles.length > 0);
  for (const e of allCompiles) {
    assert.notEqual(e.pid, r.pid, `compile span ${e.name} ran in the main process`);
    assert.notEqual(e.args.inline, true);
  }
  assert.ok(new Set(allCompiles.map((e) => e.pid)).size <= 2, 'more worker pids than workers');

  // Exactly once per distinct kernel.
  const per = compilesPerKey(compiles);
  assert.deepEqual([...per.keys()].sort(), [...keys].sort(), 'compiled keys ≠ generated keys');
  for (const [k, n] of per) assert.equal(n, 1, `kernel ${k} compiled ${n} times`);
  assert.equal(d.compile_submitted, 32);
  assert.equal(d.kernels_generated, 128);
  assert.equal(d.compile_inline, 0);
  assert.equal(d.future_cache_hits, 128, 'every plan kernel is looked up in the future cache');

  // Early: a compile started while codegen was still going.
  const firstCompile = Math.min(...compiles.map((e) => e.ts));
  t.diagnostic(`${startedBefore.length}/32 compiles started during codegen; first ${((lastCodegenEnd - firstCompile) / 1000).toFixed(1)} ms before codegen ended`);
  assert.ok(
    startedBefore.length >= 1,
    `no compile started before codegen ended (first compile ${((Math.min(...compiles.map((e) => e.ts)) - lastCodegenEnd) / 1000).toFixed(1)} ms after)`,
  );
});

test('KILN_EARLY_COMPILE=0: no compile starts before the last kernel is generated', async () => {
  const { r, events } = await traced({ warmup: WARMUP, programs: [REPEATED], workers: 2 }, { KILN_EARLY_COMPILE: '0' });
  assertCorrect(r);
  const { codegen, compiles, startedBefore } = overlapCheck(r, events);
  assert.equal(codegen.length, 128);
  assert.equal(compiles.flatMap(keysOf).length, 32);
  assert.equal(startedBefore.length, 0, `${startedBefore.length} compiles started before codegen ended`);
  assert.equal(diff(r).compile_submitted, 32);
});

test('two graphs sharing kernels, compiled at the same time: each distinct kernel compiles once', async () => {
  // A = layers 0..31; B = layers 31..16 (reversed) then 100..115: 16 shared, 48 distinct in all.
  const a: ProgramSpec = { kind: 'layers', indices: range(0, 32) };
  const b: ProgramSpec = { kind: 'layers', indices: [...range(16, 16).reverse(), ...range(100, 16)] };
  const { r, events } = await traced({ programs: [a, b], concurrent: true, workers: 2 });
  assertCorrect(r);
  const codegenKeys = new Set(events.filter((e) => e.cat === 'codegen').map((e) => String(e.args.kernel)));
  assert.equal(codegenKeys.size, 48);
  const compiles = events.filter((e) => e.cat === 'compile');
  const per = compilesPerKey(compiles);
  assert.equal(per.size, 48);
  for (const [k, n] of per) assert.equal(n, 1, `kernel ${k} compiled ${n} times`);
  for (const e of compiles) assert.notEqual(e.pid, r.pid);
  assert.equal(r.counters.kernels_generated, 64);
  assert.equal(r.counters.compile_submitted, 48);
  assert.equal(r.counters.future_cache_hits, 64);
});

test('a worker SIGKILLed mid-job during compile() costs one retry; the result is still right', async () => {
  const run = await runChild({ programs: [{ kind: 'layers', indices: range(200, 12) }], workers: 2, killWorkerMidJob: true }, { KILN_NO_CACHE: '1' });
  const r = resultOf(run);
  assertCorrect(r);
  assert.ok(r.killed, 'no worker was killed');
  assert.ok(r.counters.worker_crashes! >= 1, `worker_crashes ${r.counters.worker_crashes}`);
  assert.ok(r.counters.compile_retries! >= 1, `compile_retries ${r.counters.compile_retries}`);
  assert.equal(r.counters.compile_submitted, 12, 'a retry is not a new submission');
  assert.ok(r.counters.workers_spawned! >= 3, 'the dead worker was replaced');
});

function alive(pid: number): boolean {
  try {
    // A zombie (dead, not yet reaped by whoever adopted it) counts as gone.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Every descendant of `pid` (e.g. a worker's running cc), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(d), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) (out.push(c), walk(c));
  };
  walk(pid);
  return out;
}

test('no worker survives its parent: SIGKILL the compiling process, workers are gone within 3 s', async () => {
  let pids: number[] = [];
  let grandchildren: number[] = [];
  const run = await runChild(
    { programs: [{ kind: 'layers', indices: range(400, 16) }], workers: 2, printPidsThenWait: true, check: false },
    { KILN_NO_CACHE: '1' },
    {
      onLine(line, child) {
        const m = JSON.parse(line) as { workerPids?: number[] };
        if (!m.workerPids) return;
        pids = m.workerPids;
        grandchildren = pids.flatMap(descendants);
        child.kill('SIGKILL');
      },
    },
  );
  assert.equal(run.signal, 'SIGKILL', 'the child finished before it could be killed');
  assert.equal(pids.length, 2);
  const all = [...pids, ...grandchildren];
  const stop = Date.now() + 3000;
  while (Date.now() < stop && all.some(alive)) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(all.filter(alive), [], `still alive 3 s after the parent died (workers ${pids.join(',')}, their children ${grandchildren.join(',') || 'none'})`);
});

test('workers: 0 compiles inline: no worker spawned, compile spans in the main process', async () => {
  const { r, events } = await traced({ programs: [{ kind: 'layers', indices: range(300, 4) }], workers: 0 });
  assertCorrect(r);
  assert.equal(r.counters.compile_inline, 4);
  assert.equal(r.counters.compile_submitted, 0);
  assert.equal(r.counters.workers_spawned, 0);
  const compiles = events.filter((e) => e.cat === 'compile');
  assert.equal(compiles.length, 4);
  for (const e of compiles) assert.equal(e.pid, r.pid);
});

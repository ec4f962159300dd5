// The async compile pipeline end to end: real C kernels compiled in worker processes,
// loaded with koffi in this process and checked on random data; crashes, kills, hangs and
// compiler errors cost one job at most, never the pool.
import assert from 'node:assert/strict';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import '../src/backends/register.js';
import { AsyncCompile } from '../src/compile/async_compile.js';
import { makeCompileRequest } from '../src/compile/key.js';
import { cCompilerIdentity } from '../src/backends/cpu/compiler.js';
import { counters, resetCounters } from '../src/observe/counters.js';
import { configureTrace, flushTrace, type TraceEvent } from '../src/observe/trace.js';
import { MemoryStore, checkScale, scaleRequest, setWorkerTestHooks } from './compile_fixtures.test.js';

// The slow, hung and crashing jobs below (scaleRequest names its kernel k_<tag>_<n>).
setWorkerTestHooks({
  k_killed_5: { sleepMs: 800 },
  k_ahead_slow_13: { sleepMs: 1500 },
  k_ahead_hung_17: { sleepMs: 60_000 },
  k_crash_7: { crash: 'exit' },
  k_crash_8: { crash: 'sigkill' },
  k_crash_9: { crash: 'exit', crashAttempts: 2 },
  k_hung_11: { sleepMs: 60_000 },
});

const traceDir = mkdtempSync(join(tmpdir(), 'kiln-trace-'));
after(() => rmSync(traceDir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('32 distinct kernels compile in workers, run correctly, and trace with worker pids', async () => {
  resetCounters();
  const tracePath = join(traceDir, `trace-${Math.random().toString(36).slice(2)}.json`);
  configureTrace(tracePath);
  const ac = new AsyncCompile({ workers: 2 });
  try {
    const reqs = Array.from({ length: 32 }, (_, i) => scaleRequest(i + 2, 'many'));
    for (const r of reqs) void ac.submit(r); // fire and forget, as codegen does
    const loaded = await Promise.all(reqs.map((r) => ac.lookup(r.key)));
    loaded.forEach((l, i) => checkScale(l, i + 2));
    const c = counters();
    assert.equal(c.compile_submitted, 32);
    assert.equal(c.compile_inline, 0);
    assert.equal(c.future_cache_hits, 32);
    assert.ok(c.workers_spawned >= 1 && c.workers_spawned <= 2, `workers_spawned ${c.workers_spawned}`);
    assert.ok(ac.compiledFor(reqs[0]!.key)!.binary.length > 0);

    flushTrace();
    const trace = JSON.parse(readFileSync(tracePath, 'utf8')) as { traceEvents: TraceEvent[] };
    const compiles = trace.traceEvents.filter((e) => e.cat === 'compile');
    assert.equal(compiles.length, 32);
    const keys = new Set(reqs.map((r) => r.key));
    for (const e of compiles) {
      assert.equal(e.ph, 'X');
      assert.notEqual(e.pid, process.pid, 'compile spans come from worker processes');
      assert.ok(keys.has(e.args.kernel as string), 'args.kernel is the kernel key');
      assert.ok(e.dur > 0 && e.ts > 1.5e15, 'µs since the epoch');
    }
    assert.deepEqual(new Set(compiles.map((e) => e.args.kernel)), keys);
    const loads = trace.traceEvents.filter((e) => e.cat === 'load');
    assert.equal(loads.length, 32);
    assert.ok(loads.every((e) => e.pid === process.pid));
    // One clock: every load starts after its own compile ended (in another process).
    for (const l of loads) {
      const c2 = compiles.find((e) => e.args.kernel === l.args.kernel)!;
      // 10 ms slack: each process's timeOrigin is read separately and a loaded 2-core machine
      // delays that by a few ms; misaligned clocks would be off by far more (seconds).
      assert.ok(l.ts >= c2.ts + c2.dur - 10000, 'load after compile on the shared clock (10 ms slack)');
    }
    // Every process is named (metadata events): the main process and each worker by its pid.
    const meta = (trace.traceEvents as unknown as { ph: string; name: string; pid: number; args: { name?: string } }[]).filter((e) => e.ph === 'M');
    const nameOf = (kind: string, pid: number) => meta.find((e) => e.name === kind && e.pid === pid)?.args.name;
    assert.match(nameOf('process_name', process.pid) ?? '', new RegExp(`^kiln main \\(pid ${process.pid}\\)$`));
    assert.equal(nameOf('thread_name', process.pid), 'main');
    const workerPids = [...new Set(compiles.map((e) => e.pid))];
    for (const pid of workerPids) {
      assert.match(nameOf('process_name', pid) ?? '', new RegExp(`^kiln compile worker [12] \\(pid ${pid}\\)$`));
      assert.equal(nameOf('thread_name', pid), 'compile');
    }
    assert.equal(meta.filter((e) => e.name === 'process_name').length, 1 + workerPids.length, 'one name per process, no more');
  } finally {
    configureTrace(null);
    ac.shutdown();
  }
});

test('the same key submitted twice or concurrently compiles once', async () => {
  resetCounters();
  const ac = new AsyncCompile({ workers: 2 });
  try {
    const r = scaleRequest(3, 'dup');
    const twin = makeCompileRequest({ backend: 'c', meta: { params: 2 }, kernelName: r.kernelName, source: r.source, compilerIdentity: cCompilerIdentity() });
    assert.equal(twin.key, r.key);
    const [a, b] = await Promise.all([ac.submit(r), ac.submit(twin)]);
    assert.equal(a, b);
    assert.equal(await ac.submit(r), a);
    checkScale(a, 3);
    assert.equal(counters().compile_submitted, 1);
  } finally {
    ac.shutdown();
  }
});

test('a worker SIGKILLed mid-job: the job is retried once and the result is right', async () => {
  resetCounters();
  const ac = new AsyncCompile({ workers: 2 });
  try {
    const slow = scaleRequest(5, 'killed');
    const other = scaleRequest(6, 'bystander');
    const p = ac.submit(slow);
    const busy = await waitFor('the slow job to be running', () => ac.workerPool!.busyJobs().find((j) => j.key === slow.key));
    assert.equal(busy.attempt, 1);
    process.kill(busy.pid, 'SIGKILL');
    const q = ac.submit(other);
    checkScale(await p, 5);
    checkScale(await q, 6);
    const c = counters();
    assert.equal(c.worker_crashes, 1);
    assert.equal(c.compile_retries, 1);
    assert.ok(!ac.workerPool!.workerPids().includes(busy.pid));
  } finally {
    ac.shutdown();
  }
});

test('a job handed ahead to a worker that dies is requeued without spending an attempt', async () => {
  resetCounters();
  const ac = new AsyncCompile({ workers: 1 });
  try {
    const slow = scaleRequest(13, 'ahead_slow');
    const rest = [14, 15, 16].map((n) => scaleRequest(n, 'ahead'));
    const p = ac.submit(slow);
    const q = rest.map((r) => ac.submit(r));
    // With a full round waiting (3 jobs, 1 worker), the worker holds its next job too.
    const busy = await waitFor('the slow job to run with one job ahead', () => ac.workerPool!.busyJobs().find((j) => j.key === slow.key && j.ahead === 1));
    assert.equal(ac.workerPool!.queued, 2);
    process.kill(busy.pid, 'SIGKILL');
    checkScale(await p, 13);
    (await Promise.all(q)).forEach((l, i) => checkScale(l, 14 + i));
    const c = counters();
    assert.equal(c.worker_crashes, 1);
    assert.equal(c.compile_retries, 1, 'only the running job was retried');
    assert.equal(c.compile_submitted, 4);
  } finally {
    ac.shutdown();
  }
});

test('a hung job does not hold up the job handed ahead behind it', async () => {
  resetCounters();
  const ac = new AsyncCompile({ workers: 1, compileTimeoutMs: 600 });
  try {
    const hung = scaleRequest(17, 'ahead_hung');
    const rest = [18, 19].map((n) => scaleRequest(n, 'behind_hung'));
    const h = ac.submit(hung);
    const q = rest.map((r) => ac.submit(r));
    await waitFor('the hung job with a job ahead', () => ac.workerPool!.busyJobs().find((j) => j.key === hung.key && j.ahead === 1));
    await assert.rejects(h, /timed out after 600 ms/);
    (await Promise.all(q)).forEach((l, i) => checkScale(l, 18 + i));
    assert.equal(counters().compile_timeouts, 1);
  } finally {
    ac.shutdown();
  }
});

test('a crash hook (exit and self-SIGKILL) crashes only the first attempt; a second crash fails the job clearly', async () => {
  resetCounters();
  const ac = new AsyncCompile({ workers: 2 });
  try {
    const [a, b] = await Promise.all([
      ac.submit(scaleRequest(7, 'crash')),
      ac.submit(scaleRequest(8, 'crash')),
    ]);
    checkScale(a, 7);
    checkScale(b, 8);
    assert.equal(counters().worker_crashes, 2);
    assert.equal(counters().compile_retries, 2);

    const twice = scaleRequest(9, 'crash');
    await assert.rejects(ac.submit(twice), (e: Error) => {
      assert.match(e.message, /died 2 times compiling kernel k_crash_9/);
      return true;
    });
    // The pool still serves.
    checkScale(await ac.submit(scaleRequest(10, 'crash')), 10);
  } finally {
    ac.shutdown();
  }
});

test('a hung compile times out with a clear error, and the pool keeps serving', async () => {
  resetCounters();
  const ac = new AsyncCompile({ workers: 1, compileTimeoutMs: 700 });
  try {
    const hung = scaleRequest(11, 'hung');
    const next = scaleRequest(12, 'after_hang');
    const t0 = Date.now();
    const h = ac.submit(hung);
    const n = ac.submit(next); // queued behind the hung job on the only worker
    await assert.rejects(h, (e: Error) => {
      assert.match(e.message, /kernel k_hung_11/);
      assert.match(e.message, /timed out after 700 ms/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
    checkScale(await n, 12);
    assert.equal(counters().compile_timeouts, 1);
    // A failed future is replaced on resubmit (here it would hang again, so use a fresh kernel).
    assert.equal(ac.has(hung.key), false);
  } finally {
    ac.shutdown();
  }
});

test('a C syntax error names the kernel, shows the compiler message and keeps the source', async () => {
  const ac = new AsyncCompile({ workers: 1 });
  try {
    const bad = makeCompileRequest({ backend: 'c', meta: { params: 1 }, kernelName: 'k_broken', source: 'void k_broken(float* o) { o[0] = ; }\n', compilerIdentity: cCompilerIdentity() });
    void ac.submit(bad);
    await assert.rejects(ac.lookup(bad.key), (e: Error) => {
      assert.match(e.message, /kernel k_broken/);
      assert.match(e.message, /error/i);
      assert.match(e.message, /expected expression/);
      const m = /source kept at (\S+)/.exec(e.message);
      assert.ok(m, e.message);
      assert.ok(existsSync(m[1]!), 'the failing source is still on disk');
      assert.equal(readFileSync(m[1]!, 'utf8'), bad.source);
      rmSync(dirname(m[1]!), { recursive: true, force: true });
      return true;
    });
    checkScale(await ac.submit(scaleRequest(13, 'after_error')), 13);
  } finally {
    ac.shutdown();
  }
});

test('workers: 0 compiles inline, in this process', async () => {
  resetCounters();
  const tracePath = join(traceDir, `trace-${Math.random().toString(36).slice(2)}.json`);
  configureTrace(tracePath);
  const ac = new AsyncCompile({ workers: 0 });
  try {
    checkScale(await ac.submit(scaleRequest(14, 'inline')), 14);
    const c = counters();
    assert.equal(c.compile_inline, 1);
    assert.equal(c.compile_submitted, 0);
    assert.equal(c.workers_spawned, 0);
    assert.equal(ac.workerPool, undefined);
    flushTrace();
    const ev = (JSON.parse(readFileSync(tracePath, 'utf8')) as { traceEvents: TraceEvent[] }).traceEvents;
    assert.ok(ev.some((e) => e.cat === 'compile' && e.pid === process.pid));
  } finally {
    configureTrace(null);
  }
});

test('KILN_ASSERT_NO_COMPILE=1 rejects any compile (worker or inline), but not a store hit', async () => {
  resetCounters();
  const store = new MemoryStore();
  const warm = new AsyncCompile({ workers: 0, store });
  const r = scaleRequest(15, 'assert');
  await warm.submit(r);
  assert.equal(store.puts, 1);
  process.env.KILN_ASSERT_NO_COMPILE = '1';
  try {
    for (const workers of [0, 1]) {
      const ac = new AsyncCompile({ workers });
      await assert.rejects(ac.submit(scaleRequest(16, `assert${workers}`)), /KILN_ASSERT_NO_COMPILE=1.*k_assert\d_16/);
      ac.shutdown();
    }
    assert.equal(counters().workers_spawned, 0);
    const cached = new AsyncCompile({ workers: 1, store });
    checkScale(await cached.submit(r), 15);
    cached.shutdown();
  } finally {
    delete process.env.KILN_ASSERT_NO_COMPILE;
  }
});

test('a kernel store hit never starts a worker; a miss compiles and puts', async () => {
  resetCounters();
  const store = new MemoryStore();
  const first = new AsyncCompile({ workers: 1, store });
  const r = scaleRequest(17, 'store');
  checkScale(await first.submit(r), 17);
  first.shutdown();
  assert.equal(counters().kernel_cache_misses, 1);
  assert.equal(store.puts, 1);
  resetCounters();
  const second = new AsyncCompile({ workers: 1, store });
  checkScale(await second.submit(r), 17);
  const c = counters();
  assert.equal(c.kernel_cache_hits, 1);
  assert.equal(c.compile_submitted, 0);
  assert.equal(c.workers_spawned, 0);
  assert.equal(second.workerPool, undefined);
});

test('preload (warm-start bundle) loads without any worker; lookup finds it; unknown keys fail clearly', async () => {
  resetCounters();
  const source = new AsyncCompile({ workers: 0 });
  const r = scaleRequest(18, 'bundle');
  await source.submit(r);
  const bundled = source.compiledFor(r.key)!;
  const ac = new AsyncCompile({ workers: 1 });
  process.env.KILN_ASSERT_NO_COMPILE = '1';
  try {
    await ac.preload(bundled);
    checkScale(await ac.lookup(r.key), 18);
    assert.equal(await ac.submit(r), await ac.lookup(r.key));
    assert.equal(ac.workerPool, undefined);
    await assert.rejects(ac.lookup('f'.repeat(64)), /never submitted/);
  } finally {
    delete process.env.KILN_ASSERT_NO_COMPILE;
  }
});

test('idle workers exit after idleTimeoutMs and come back on demand', async () => {
  resetCounters();
  const ac = new AsyncCompile({ workers: 1, idleTimeoutMs: 200 });
  try {
    checkScale(await ac.submit(scaleRequest(19, 'idle')), 19);
    const [pid] = ac.workerPool!.workerPids();
    await waitFor('the idle worker to exit', () => (ac.workerPool!.workerPids().length === 0 ? true : undefined), 3000);
    checkScale(await ac.submit(scaleRequest(20, 'idle')), 20);
    assert.notEqual(ac.workerPool!.workerPids()[0], pid);
    assert.equal(counters().workers_spawned, 2);
    assert.equal(counters().worker_crashes, 0, 'retiring an idle worker is not a crash');
  } finally {
    ac.shutdown();
  }
});

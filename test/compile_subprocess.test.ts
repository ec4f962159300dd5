// Compilers run in process groups of their own and never outlive what started them
// (src/compile/subprocess.ts, pool.ts, worker_main.ts): a worker SIGKILLed or past its
// deadline while its compiler hangs, a main process SIGKILLed under its workers, a
// workers: 0 process sent SIGTERM mid-compile: afterwards no process of that compiler
// remains (checked in /proc) and no temporary directory of it is left. Also: a caller's
// compileTimeoutMs holds per call, on a pool shared with callers of other deadlines.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import '../src/backends/register.js';
import { AsyncCompile, getAsyncCompile } from '../src/compile/async_compile.js';
import { makeCompileRequest } from '../src/compile/key.js';
import { cCompilerIdentity } from '../src/backends/cpu/compiler.js';
import type { CompileOptions } from '../src/compile/types.js';
import { setWorkerTestHooks } from './compile_fixtures.test.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-subproc-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// The second caller's kernel hangs in its worker until the caller's deadline kills it.
setWorkerTestHooks({ k_second_caller: { sleepMs: 60_000 } });

async function waitFor<T>(what: string, f: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

let n = 0;
/** A fake `cc` that records its pid and its child's (think cc1) in <log>/pids, then hangs. */
function hungCompiler(): { cc: string; pids: () => number[] } {
  const dir = fs.mkdtempSync(path.join(root, `cc${n++}-`));
  const cc = path.join(dir, 'cc');
  fs.writeFileSync(cc, `#!/bin/sh\necho $$ >> '${dir}/pids'\nsleep 600 &\necho $! >> '${dir}/pids'\nwait\n`, { mode: 0o755 });
  return {
    cc,
    pids: () => (fs.existsSync(path.join(dir, 'pids')) ? fs.readFileSync(path.join(dir, 'pids'), 'utf8').split('\n').filter((l) => l !== '').map(Number) : []),
  };
}

/** Alive = has a /proc entry that is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Job directories anywhere under the system temporary directory that hold `file`. */
function leftovers(file: string): string[] {
  const tmp = os.tmpdir();
  const out: string[] = [];
  const look = (dir: string, depth: number): void => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith('kiln-')) continue;
      const p = path.join(dir, name);
      if (fs.existsSync(path.join(p, file))) out.push(p);
      if (depth < 1) look(p, depth + 1);
    }
  };
  look(tmp, 0);
  return out;
}

function request(name: string, options: CompileOptions = {}) {
  const source = `void ${name}(float* o){o[0]=1.0f;}\n`;
  return makeCompileRequest({ backend: 'c', meta: { params: 1 }, kernelName: name, source, compilerIdentity: cCompilerIdentity(), options });
}

function workerTmp(pid: number): string {
  const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  const v = env.find((e) => e.startsWith('KILN_WORKER_TMP='));
  assert.ok(v !== undefined, 'the worker has a temporary root of its own');
  return v.slice('KILN_WORKER_TMP='.length);
}

test('a worker SIGKILLed, then its retry past the deadline, with a hung compiler: no compiler process and no temp dir of it remain', { timeout: 60_000 }, async () => {
  const fake = hungCompiler();
  const saved = process.env.KILN_CC;
  process.env.KILN_CC = fake.cc; // read by the workers forked below
  const ac = new AsyncCompile({ workers: 1, compileTimeoutMs: 3000 });
  try {
    const req = request('k_hung_cc');
    const p = ac.submit(req);
    p.catch(() => {});
    // First attempt: the compiler hangs; SIGKILL its worker from outside.
    await waitFor('the fake compiler and its child', () => (fake.pids().length >= 2 ? true : undefined));
    const [first] = ac.workerPool!.busyJobs();
    assert.ok(first);
    const firstTmp = workerTmp(first.pid);
    // The worker writes the marker once spawn() returns; the compiler may have started (and
    // recorded its pids) before that on a loaded machine, so wait for it rather than expect it.
    await waitFor('the worker to name its compiler group in its root', () => (fs.readdirSync(firstTmp).some((f) => f.startsWith('pgid-')) ? true : undefined));
    process.kill(first.pid, 'SIGKILL');
    // The retry hangs the same way, until the deadline kills its worker.
    await waitFor('the retry to start its compiler', () => (fake.pids().length >= 4 ? true : undefined));
    const retry = await waitFor('the retry', () => ac.workerPool!.busyJobs().find((j) => j.attempt === 2));
    const retryTmp = workerTmp(retry.pid);
    await assert.rejects(p, /timed out after 3000 ms/);
    const pids = fake.pids();
    assert.equal(pids.length, 4);
    await waitFor('every compiler process to be gone', () => (pids.every((q) => !alive(q)) ? true : undefined), 5000).catch(() => {
      assert.fail(`compiler processes still running: ${pids.filter(alive).join(', ')}`);
    });
    assert.equal(fs.existsSync(firstTmp), false, 'the SIGKILLed worker’s temporary root is removed');
    assert.equal(fs.existsSync(retryTmp), false, 'the timed-out worker’s temporary root is removed');
    assert.deepEqual(leftovers('k_hung_cc.c'), []);
  } finally {
    ac.shutdown();
    if (saved === undefined) delete process.env.KILN_CC;
    else process.env.KILN_CC = saved;
  }
});

const asyncCompileModule = path.resolve(here, '../src/compile/async_compile.js');
const keyModule = path.resolve(here, '../src/compile/key.js');
const registerModule = path.resolve(here, '../src/backends/register.js');

/** A process compiling one kernel with a hung compiler (`workers` 0 = inline); resolves once the compiler runs. */
async function hungProcess(workers: number, name: string) {
  const fake = hungCompiler();
  const script = `
    import ${JSON.stringify(registerModule)};
    import { AsyncCompile } from ${JSON.stringify(asyncCompileModule)};
    import { makeCompileRequest } from ${JSON.stringify(keyModule)};
    const ac = new AsyncCompile({ workers: ${workers} });
    ac.submit(makeCompileRequest({ backend: 'c', meta: { params: 1 }, kernelName: '${name}', source: 'void ${name}(float* o){o[0]=1.0f;}\\n', compilerIdentity: 'test' })).catch(() => {});
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore', env: { ...process.env, KILN_CC: fake.cc } });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await waitFor('the fake compiler to run', () => (fake.pids().length >= 2 ? true : undefined));
  return { child, exited, pids: fake.pids() };
}

test('a main process SIGKILLed while its worker compiles: the worker, its compiler and its temp dir all go', { timeout: 60_000 }, async () => {
  const { child, exited, pids } = await hungProcess(1, 'k_orphan_cc');
  const jobDirs = leftovers('k_orphan_cc.c');
  assert.equal(jobDirs.length, 1, 'the job directory exists while the compiler runs');
  child.kill('SIGKILL');
  await exited;
  await waitFor('the compiler processes to be gone', () => (pids.every((q) => !alive(q)) ? true : undefined), 10_000).catch(() => {
    assert.fail(`compiler processes still running: ${pids.filter(alive).join(', ')}`);
  });
  await waitFor('the job directory to be removed', () => (leftovers('k_orphan_cc.c').length === 0 ? true : undefined), 5000);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`workers: 0: ${signal} mid-compile kills the compiler's group and removes its job directory; the process dies of ${signal}`, { timeout: 60_000 }, async () => {
    const name = `k_inline_${signal.toLowerCase()}`;
    const { child, exited, pids } = await hungProcess(0, name);
    assert.equal(leftovers(`${name}.c`).length, 1);
    child.kill(signal);
    assert.deepEqual(await exited, { code: null, signal });
    await waitFor('the compiler processes to be gone', () => (pids.every((q) => !alive(q)) ? true : undefined), 5000).catch(() => {
      assert.fail(`compiler processes still running: ${pids.filter(alive).join(', ')}`);
    });
    assert.deepEqual(leftovers(`${name}.c`), []);
  });
}

test("each caller's compileTimeoutMs holds for its own compiles on a shared pool, not the first caller's", { timeout: 60_000 }, async () => {
  const a = getAsyncCompile({ workers: 1, cacheDir: path.join(root, 'a') });
  const b = getAsyncCompile({ workers: 1, cacheDir: path.join(root, 'b') });
  assert.equal(a.workerPool, b.workerPool, 'one pool for both');
  try {
    // The first caller, with a long deadline, compiles first.
    await a.submit(request('k_first_caller'), { compileTimeoutMs: 120_000 });
    const t0 = Date.now();
    await assert.rejects(b.submit(request('k_second_caller'), { compileTimeoutMs: 800 }), /timed out after 800 ms/);
    assert.ok(Date.now() - t0 < 10_000);
  } finally {
    a.shutdown();
  }
});

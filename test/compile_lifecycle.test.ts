// Process lifecycle of the compile pool, tested from the outside with child node scripts:
// workers never outlive their parent (clean exit or SIGKILL), an idle pool never keeps its
// parent alive, and nothing is drawn on a stderr that is not a TTY.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const distSrc = new URL('../src/', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'kiln-lifecycle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes an ESM script that can import kiln's built modules as `${SRC}compile/...`. */
function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `const SRC = ${JSON.stringify(distSrc)};\n${body}`);
  return path;
}

function runNode(path: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; exitedAt: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, exitedAt: Date.now() }));
  });
}

/** Alive and not a zombie (a container's init may be slow to reap orphans). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const orphanScript = script(
  'orphan.mjs',
  `
await import(SRC + 'backends/register.js');
const { WorkerPool } = await import(SRC + 'compile/pool.js');
const { makeCompileRequest } = await import(SRC + 'compile/key.js');
process.env.KILN_TEST_WORKER_HOOKS = JSON.stringify({ slow1: { sleepMs: 60000 }, slow2: { sleepMs: 60000 } });
const pool = new WorkerPool({ workers: 2 });
for (const n of [1, 2]) {
  const req = makeCompileRequest({ backend: 'c', meta: { params: 0 }, kernelName: 'slow' + n, source: 'void slow' + n + '(void){}', compilerIdentity: 'x' });
  pool.submit(req).catch(() => {});
}
while (pool.busyJobs().length < 2) await new Promise((r) => setTimeout(r, 20));
console.log(JSON.stringify(pool.workerPids()));
if (process.argv[2] === 'sigkill') process.kill(process.pid, 'SIGKILL');
else process.exit(0);
`,
);

for (const mode of ['exit', 'sigkill'] as const) {
  test(`no worker survives its parent (parent ${mode === 'exit' ? 'calls process.exit' : 'is SIGKILLed'} mid-compile)`, async () => {
    const r = await runNode(orphanScript, [mode]);
    if (mode === 'sigkill') assert.equal(r.signal, 'SIGKILL');
    else assert.equal(r.code, 0, r.stderr);
    const pids = JSON.parse(r.stdout.trim()) as number[];
    assert.equal(pids.length, 2);
    const deadline = r.exitedAt + 5000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(pids.filter(alive), [], 'workers still alive 5 s after their parent died');
  });
}

test('an idle pool never keeps its parent alive, a non-TTY stderr stays silent, KILN_TRACE is written at exit', async () => {
  const path = script(
    'idle.mjs',
    `
await import(SRC + 'backends/register.js');
const { AsyncCompile } = await import(SRC + 'compile/async_compile.js');
const { makeCompileRequest } = await import(SRC + 'compile/key.js');
const { cCompilerIdentity } = await import(SRC + 'backends/cpu/compiler.js');
const { counters } = await import(SRC + 'observe/counters.js');
const ac = new AsyncCompile({ workers: 2 }); // idle timeout 30 s: must not hold the exit
const reqs = [2, 3, 4, 5].map((n) => makeCompileRequest({ backend: 'c', meta: { params: 1 }, kernelName: 'k' + n, compilerIdentity: cCompilerIdentity(),
  source: 'void k' + n + '(float* o, const float* a, long n){for(long i=0;i<n;i++)o[i]=a[i]*' + n + ';}' }));
for (const r of reqs) void ac.submit(r);
const libs = await Promise.all(reqs.map((r) => ac.lookup(r.key)));
const f = libs[3].lib.func('void k5(_Out_ float* o, const float* a, long n)');
const o = new Float32Array(3);
f(o, new Float32Array([1, 2, 3]), 3);
console.log(JSON.stringify({ o: [...o], pids: ac.workerPool.workerPids(), c: counters(), t: Date.now() }));
`,
  );
  const tracePath = join(dir, 'idle-trace.json');
  const r = await runNode(path, [], { ...process.env, KILN_TRACE: tracePath });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'nothing on a non-TTY stderr (no progress bar)');
  const out = JSON.parse(r.stdout.trim()) as { o: number[]; pids: number[]; c: Record<string, number>; t: number };
  assert.deepEqual(out.o, [5, 10, 15]);
  assert.equal(out.c.compile_submitted, 4);
  assert.ok(out.pids.length >= 1);
  assert.ok(r.exitedAt - out.t < 3000, `parent took ${r.exitedAt - out.t} ms to exit after its last compile`);
  const trace = JSON.parse(readFileSync(tracePath, 'utf8')) as { traceEvents: { cat: string; pid: number; args: { kernel?: string } }[] };
  const compiles = trace.traceEvents.filter((e) => e.cat === 'compile');
  assert.equal(compiles.length, 4);
  assert.ok(compiles.every((e) => out.pids.includes(e.pid) && /^[0-9a-f]{64}$/.test(e.args.kernel ?? '')), 'compile spans carry worker pids and keys');
  const deadline = Date.now() + 5000;
  while (out.pids.some(alive) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(out.pids.filter(alive), []);
});

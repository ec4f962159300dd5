// Entry point of a compile worker: a long-lived child process that compiles one kernel at a
// time and sends back the binary. This is the only place (besides workers: 0) where a
// compiler runs. Forked by pool.ts with serialization: 'advanced'.
import { compiledKeys } from './compile_group.js';
import { setting } from '../config/read.js';
import { makeSpan, nowUs } from '../observe/trace.js';
import type { FromWorker, JobMessage, ToWorker } from './protocol.js';
import { rmSync } from 'node:fs';
import { holdCleanup, runCleanupsNow } from '../util/exit_cleanup.js';
import { importCompiler, type CompilerModules } from './registry.js';
import { runCompiler } from './run_compiler.js';
import { workerTempRoot } from './subprocess.js';

// The backends' compiler modules, as the pool registered them (compile/registry.ts): a worker
// imports a backend's module at its first job for that backend (or to warm it).
const compilers = JSON.parse(process.argv[2] ?? '{}') as CompilerModules;

function send(msg: FromWorker): void {
  // If the parent is gone there is nobody to tell; the disconnect handler exits us.
  if (process.connected) process.send!(msg);
}

// Die with the parent. 'disconnect' covers a parent that exits or is SIGKILLed (the IPC
// pipe closes); the ppid poll covers anything that leaves the channel half-open.
// Compilers run in process groups of their own (compile/subprocess.ts), each held as a
// cleanup that kills its group: dying, we run those cleanups (killing any half-finished
// cc/nvcc), remove our temporary root, then take down our own group (the pool forks us
// detached, as a group leader).
const tmpRoot = workerTempRoot();
function removeTmpRoot(): void {
  if (tmpRoot !== undefined) rmSync(tmpRoot, { recursive: true, force: true });
}
// Held for the worker's life: on exit, SIGTERM (the pool retiring an idle worker), SIGINT or
// SIGHUP, the root goes after the compilers' own cleanups, and the signal is re-raised.
holdCleanup(removeTmpRoot);

function die(): never {
  runCleanupsNow();
  removeTmpRoot();
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // not a group leader (started by hand): just exit
  }
  process.exit(0);
}
process.on('disconnect', die);
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) die();
}, 1000).unref();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function runJob(job: JobMessage): Promise<void> {
  const { req, attempt } = job;
  const start = nowUs();
  // kernels: what the job compiles (a compile group's members, else the one kernel).
  const args = { kernel: req.key, kernels: compiledKeys(req), kernelName: req.kernelName, backend: req.backend, attempt };
  try {
    // Tests of crash recovery and deadlines (KILN_TEST_WORKER_HOOKS); never part of a request.
    const hook = setting('KILN_TEST_WORKER_HOOKS')[req.kernelName];
    if (hook?.crash !== undefined && attempt <= (hook.crashAttempts ?? 1)) {
      if (hook.crash === 'sigkill') process.kill(process.pid, 'SIGKILL');
      process.exit(1);
    }
    if (hook?.sleepMs !== undefined && hook.sleepMs > 0) await sleep(hook.sleepMs);
    const result = await runCompiler((await importCompiler(req.backend, compilers)).compileKernel, req);
    send({ type: 'done', id: job.id, pid: process.pid, result, span: makeSpan('compile', req.kernelName, start, nowUs(), args) });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    send({ type: 'failed', id: job.id, pid: process.pid, message, span: makeSpan('compile', req.kernelName, start, nowUs(), { ...args, error: true }) });
  }
}

// The pool may hand a job ahead while one runs: jobs run one at a time, in arrival order.
let running: Promise<void> = Promise.resolve();
process.on('message', (msg: ToWorker) => {
  if (msg.type === 'job') running = running.then(() => runJob(msg));
});

send({ type: 'ready', pid: process.pid });

// Warm the compiler while no job is here yet (pool.warm(backend)), if its module can: NVRTC's
// first compile in a process costs ~150 ms of library start-up (backends/cuda/compiler.ts).
const warmBackend = setting('KILN_WORKER_WARM');
if (warmBackend !== undefined) {
  setImmediate(() => {
    void importCompiler(warmBackend, compilers)
      .then((c) => c.warmCompiler?.())
      .catch(() => {
        // A failed warm-up changes nothing: the real compile reports real errors.
      });
  });
}

// A pool of long-lived compile worker processes (Inductor's compile_worker, minus its
// poisoned-pool failure mode): a queue in the main process hands jobs to ready workers. While
// at least a full round of jobs is waiting, a busy worker is also handed its next job ahead
// (it runs its jobs one after another), so it starts that job the moment the previous one
// ends instead of waiting for the main process to answer its reply: with 16 workers on 16
// cores, that round trip cost ~0.8 ms per job. A worker that crashes costs its job one retry on another worker; a job past
// its deadline gets its worker SIGKILLed and fails alone. The pool never keeps the main
// process alive when idle, and workers die with their parent. Each worker gets a temporary
// root of its own (KILN_WORKER_TMP) holding its job directories and the group ids of the
// compilers it runs, so a worker that is SIGKILLed leaves neither (cleanupWorkerFiles).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setting } from '../config/read.js';
import { bump } from '../observe/counters.js';
import { makeSpan, nowUs, recordEvent, type TraceEvent } from '../observe/trace.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { compilerModules } from './registry.js';
import type { BackendName, CompilerResult } from '../cache/compiled_kernel.js';
import type { CompileJob } from './types.js';

export interface WorkerPoolOptions {
  /** Worker processes (>= 1). Default: KILN_WORKERS, else defaultWorkerCount(). */
  workers?: number;
  /** Per-job deadline, from the job's start in its worker. Default KILN_COMPILE_TIMEOUT_MS or 60 s. */
  compileTimeoutMs?: number;
  /** An idle worker exits after this long and is re-forked on demand. Default KILN_WORKER_IDLE_MS or 30 s. */
  idleTimeoutMs?: number;
}

export interface PoolResult {
  /** The binary; the caller, which holds the job, knows whose it is. */
  result: CompilerResult;
  /** The worker that compiled it. */
  pid: number;
  /** The worker's compile span, on the shared epoch clock. */
  span: TraceEvent;
}

/** A compile that failed in the worker (compiler error): the message is the compiler's. */
export class WorkerCompileError extends Error {
  constructor(
    message: string,
    readonly kernelKey: string,
    readonly span?: TraceEvent,
  ) {
    super(message);
    this.name = 'WorkerCompileError';
  }
}

/** Memory a worker plus its compiler may take; bounds the default pool size. */
const BYTES_PER_WORKER = 300 * 1024 * 1024;
/** A job is retried once after its worker dies under it; the second death fails it. */
const MAX_ATTEMPTS = 2;
/** Workers dying before their readiness handshake this many times in a row means they cannot start. */
const MAX_START_FAILURES = 3;

let defaultCount: number | undefined;

/**
 * Cores, bounded by free memory at ~300 MB per worker, at least 1. Computed once per
 * process so the pool size (and getAsyncCompile's instance key) doesn't drift with freemem.
 */
export function defaultWorkerCount(): number {
  defaultCount ??= Math.max(1, Math.min(availableParallelism(), Math.floor(freemem() / BYTES_PER_WORKER)));
  return defaultCount;
}

/** The default compile deadline: KILN_COMPILE_TIMEOUT_MS, else 60 s. */
export function resolveCompileTimeoutMs(): number {
  return setting('KILN_COMPILE_TIMEOUT_MS');
}

/** Option, else KILN_WORKERS, else the default. 0 means "compile inline" (no pool). */
export function resolveWorkerCount(workers?: number): number {
  return workers ?? setting('KILN_WORKERS') ?? defaultWorkerCount();
}

// Through ../compile/: the same path from this file and from the library bundle (dist/src/bundle/).
const WORKER_SCRIPT = fileURLToPath(new URL('../compile/worker_main.js', import.meta.url));

interface Job {
  id: number;
  req: CompileJob;
  attempt: number;
  /** This job's deadline (ms from its start in a worker). */
  timeoutMs: number;
  resolve(r: PoolResult): void;
  reject(e: Error): void;
  deadline?: NodeJS.Timeout;
}

type WorkerState = 'starting' | 'idle' | 'busy' | 'gone';

/** Jobs a worker holds at most: the one it runs and the one handed to it ahead. */
const JOBS_PER_WORKER = 2;

interface Worker {
  child: ChildProcess;
  pid: number;
  state: WorkerState;
  /** Sent to this worker, in order; jobs[0] is the one running (its deadline is armed). */
  jobs: Job[];
  /** When it was forked (trace clock, µs): its 'worker start' span runs from here to its ready message. */
  forkedUs: number;
  idleTimer?: NodeJS.Timeout;
  /**
   * The worker's temporary root (its KILN_WORKER_TMP): every job directory of the worker is
   * under it, and `pgid-<n>` files in it name the process groups of the compilers it runs.
   * Removed, and those groups killed, once the worker is gone or being killed.
   */
  tmpRoot: string | undefined;
}

// Every live worker of every pool, so a process exit can take them all down synchronously.
const liveWorkers = new Set<Worker>();
let exitHookInstalled = false;

/**
 * Kills the compilers a worker left (their groups, from its temporary root) and removes the
 * root: for a worker that is gone or being SIGKILLed, which cannot clean up after itself.
 * Idempotent; synchronous (it also runs in the process's 'exit' hook).
 */
function cleanupWorkerFiles(w: Worker): void {
  const root = w.tmpRoot;
  if (root === undefined) return;
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    // already removed
  }
  for (const name of names) {
    const m = /^pgid-(\d+)$/.exec(name);
    if (m === null) continue;
    try {
      process.kill(-Number(m[1]), 'SIGKILL');
    } catch {
      // the compiler is already gone
    }
  }
  try {
    rmSync(root, { recursive: true, force: true });
  } catch {
    // best effort
  }
}

function killGroup(w: Worker, signal: NodeJS.Signals): void {
  // Workers are forked detached (their own process group), so -pid reaches anything of the
  // worker's that is not detached; its compilers have groups of their own, which
  // cleanupWorkerFiles kills. Fall back to the pid alone if the group is already gone.
  try {
    process.kill(-w.pid, signal);
  } catch {
    try {
      w.child.kill(signal);
    } catch {
      // already dead
    }
  }
}

export class WorkerPool {
  /** Backend whose compiler new workers start ahead of the first job (see warm()). */
  private warmBackend: BackendName | undefined;
  readonly size: number;
  readonly compileTimeoutMs: number;
  readonly idleTimeoutMs: number;
  private readonly workers = new Set<Worker>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private startFailures = 0;

  constructor(opts: WorkerPoolOptions = {}) {
    const n = resolveWorkerCount(opts.workers);
    if (n < 1) throw new Error('WorkerPool needs at least 1 worker (workers: 0 means compile inline, without a pool)');
    this.size = n;
    this.compileTimeoutMs = opts.compileTimeoutMs ?? resolveCompileTimeoutMs();
    this.idleTimeoutMs = opts.idleTimeoutMs ?? setting('KILN_WORKER_IDLE_MS');
  }

  /**
   * Queues one compile; resolves with the worker's binary, rejects with the compiler's error.
   * `timeoutMs` is this job's deadline (default: the pool's compileTimeoutMs).
   */
  submit(req: CompileJob, opts: { timeoutMs?: number } = {}): Promise<PoolResult> {
    return new Promise<PoolResult>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, req, attempt: 1, timeoutMs: opts.timeoutMs ?? this.compileTimeoutMs, resolve, reject });
      this.pump();
    });
  }

  /**
   * Starts workers now, before their first job, up to `upTo` (default: all) so the first
   * compiles skip the fork. With `backend`, each new worker also imports that backend's
   * compiler module and runs its warmCompiler while it waits for work (compile/registry.ts;
   * CUDA's loads NVRTC and compiles a trivial kernel, ~150 ms a worker), so the first real
   * compile does not pay the compiler's start-up.
   */
  warm(backend?: BackendName, upTo = this.size): void {
    if (backend !== undefined) this.warmBackend = backend;
    while (this.workers.size < Math.min(this.size, upTo)) this.spawn();
    this.refreshRefs();
  }

  /** Pids of live workers (starting, idle or busy). */
  workerPids(): number[] {
    return [...this.workers].filter((w) => w.state !== 'gone').map((w) => w.pid);
  }

  /** Which worker runs which job right now, and how many more it was handed ahead; for tests and diagnostics. */
  busyJobs(): { pid: number; key: string; kernelName: string; attempt: number; ahead: number }[] {
    const out: { pid: number; key: string; kernelName: string; attempt: number; ahead: number }[] = [];
    for (const w of this.workers) {
      const job = w.jobs[0];
      if (w.state === 'busy' && job) out.push({ pid: w.pid, key: job.req.key, kernelName: job.req.kernelName, attempt: job.attempt, ahead: w.jobs.length - 1 });
    }
    return out;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Kills every worker and fails queued and running jobs. A later submit forks afresh, so
   * a pool shared between AsyncCompile instances is never left unusable.
   */
  shutdown(): void {
    const err = new Error('compile worker pool is shut down');
    for (const job of this.queue.splice(0)) job.reject(err);
    for (const w of [...this.workers]) {
      const jobs = w.jobs;
      this.retire(w, 'SIGKILL');
      for (const job of jobs) {
        clearTimeout(job.deadline);
        job.reject(err);
      }
    }
  }

  private spawn(): Worker {
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      // Workers exit on their own when the IPC channel closes; this just makes it immediate
      // and takes any compiler they are running with them.
      process.on('exit', () => {
        for (const w of liveWorkers) {
          killGroup(w, 'SIGKILL');
          cleanupWorkerFiles(w);
        }
      });
    }
    let tmpRoot: string | undefined;
    try {
      tmpRoot = mkdtempSync(join(tmpdir(), 'kiln-worker-'));
    } catch {
      // No temporary directory: the worker's jobs fall back to the system's (and a SIGKILLed
      // worker's files are not removed by us).
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...(this.warmBackend ? { KILN_WORKER_WARM: this.warmBackend } : {}),
      ...(tmpRoot !== undefined ? { KILN_WORKER_TMP: tmpRoot } : {}),
    };
    // Only the main process writes the trace file; workers ship their spans in replies.
    delete env.KILN_TRACE;
    const forkedUs = nowUs();
    // The worker imports the backends' compilers from the modules they registered.
    const child = fork(WORKER_SCRIPT, [JSON.stringify(compilerModules())], {
      serialization: 'advanced',
      detached: true,
      execArgv: [],
      env,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    bump('workers_spawned');
    const w: Worker = { child, pid: child.pid ?? -1, state: 'starting', jobs: [], forkedUs, tmpRoot };
    this.workers.add(w);
    liveWorkers.add(w);
    child.on('message', (msg: FromWorker) => this.onMessage(w, msg));
    child.on('exit', (code, signal) => {
      // Whatever the worker left (a SIGKILL gives it no chance to clean up): its compilers'
      // groups, then its files.
      cleanupWorkerFiles(w);
      this.onExit(w, code === null ? `signal ${signal}` : `exit code ${code}`);
    });
    child.on('error', (e) => {
      cleanupWorkerFiles(w);
      this.onExit(w, `error ${e.message}`);
    });
    return w;
  }

  private onMessage(w: Worker, msg: FromWorker): void {
    if (w.state === 'gone') return;
    switch (msg.type) {
      case 'ready':
        recordEvent(makeSpan('pool', 'worker start', w.forkedUs, nowUs(), { worker: w.pid }));
        this.startFailures = 0;
        this.becomeIdle(w);
        break;
      case 'done':
      case 'failed': {
        const job = w.jobs[0];
        if (!job || job.id !== msg.id) return;
        clearTimeout(job.deadline);
        w.jobs.shift();
        const next = w.jobs[0];
        if (next) this.armDeadline(w, next);
        else this.becomeIdle(w);
        if (msg.type === 'done') job.resolve({ result: msg.result, pid: msg.pid, span: msg.span });
        else job.reject(new WorkerCompileError(msg.message, job.req.key, msg.span));
        break;
      }
      default:
        msg satisfies never;
    }
    this.pump();
  }

  private becomeIdle(w: Worker): void {
    w.state = 'idle';
    clearTimeout(w.idleTimer);
    w.idleTimer = setTimeout(() => {
      if (w.state === 'idle') {
        this.retire(w, 'SIGTERM');
        this.refreshRefs();
      }
    }, this.idleTimeoutMs);
    w.idleTimer.unref();
  }

  /** Removes a worker on purpose (idle, timeout, shutdown): its exit is then not a crash. */
  private retire(w: Worker, signal: NodeJS.Signals): void {
    w.state = 'gone';
    clearTimeout(w.idleTimer);
    for (const job of w.jobs) clearTimeout(job.deadline);
    w.jobs = [];
    this.workers.delete(w);
    liveWorkers.delete(w);
    killGroup(w, signal);
    // A SIGKILLed worker cannot kill its compilers nor remove its files: we do, now (and again
    // at its exit). One sent SIGTERM (idle) does both itself, and its exit event finishes.
    if (signal === 'SIGKILL') cleanupWorkerFiles(w);
    // The exit event may arrive later; don't let this dead handle hold the process.
    w.child.unref();
    w.child.channel?.unref();
  }

  private onExit(w: Worker, how: string): void {
    if (w.state === 'gone') return;
    const wasStarting = w.state === 'starting';
    const [job, ...ahead] = w.jobs;
    w.jobs = [];
    w.state = 'gone';
    clearTimeout(w.idleTimer);
    this.workers.delete(w);
    liveWorkers.delete(w);
    bump('worker_crashes');
    // Jobs handed ahead never started: back to the front of the queue, no attempt spent.
    this.queue.unshift(...ahead);
    if (job) {
      clearTimeout(job.deadline);
      if (job.attempt < MAX_ATTEMPTS) {
        bump('compile_retries');
        job.attempt++;
        this.queue.unshift(job);
      } else {
        job.reject(
          new Error(
            `compile worker died ${job.attempt} times compiling kernel ${job.req.kernelName} (key ${job.req.key.slice(0, 16)}); last worker pid ${w.pid} ended with ${how}`,
          ),
        );
      }
    } else if (wasStarting && ++this.startFailures >= MAX_START_FAILURES) {
      const err = new Error(`compile workers fail to start (${WORKER_SCRIPT}: ${how}); is dist/ built?`);
      for (const q of this.queue.splice(0)) q.reject(err);
    }
    this.pump();
  }

  private onDeadline(w: Worker, job: Job): void {
    if (w.jobs[0] !== job) return;
    bump('compile_timeouts');
    const pid = w.pid;
    const ahead = w.jobs.slice(1);
    this.retire(w, 'SIGKILL');
    this.queue.unshift(...ahead);
    job.reject(
      new Error(
        `compile of kernel ${job.req.kernelName} (key ${job.req.key.slice(0, 16)}) timed out after ${job.timeoutMs} ms ` +
          `(deadline: compileTimeoutMs / KILN_COMPILE_TIMEOUT_MS); its worker pid ${pid} was killed`,
      ),
    );
    this.pump();
  }

  /**
   * Hands queued jobs to idle workers, then (while a full round is still waiting) one job
   * ahead to each busy worker, and forks more workers (up to size) for the rest.
   */
  private pump(): void {
    for (const w of this.workers) {
      if (this.queue.length === 0) break;
      if (w.state === 'idle') this.send(w, this.queue.shift()!);
    }
    // Only a full round ahead: near the end, a job handed ahead could wait behind a slow
    // compile while another worker sits idle.
    for (const w of this.workers) {
      if (this.queue.length < this.size) break;
      if (w.state === 'busy' && w.jobs.length < JOBS_PER_WORKER) this.send(w, this.queue.shift()!);
    }
    let starting = 0;
    for (const w of this.workers) if (w.state === 'starting') starting++;
    let need = this.queue.length - starting;
    while (need > 0 && this.workers.size < this.size) {
      this.spawn();
      need--;
    }
    this.refreshRefs();
  }

  private send(w: Worker, job: Job): void {
    w.state = 'busy';
    w.jobs.push(job);
    clearTimeout(w.idleTimer);
    // The deadline runs from the moment the job starts: at once, or when the job ahead ends.
    if (w.jobs.length === 1) this.armDeadline(w, job);
    const msg: ToWorker = { type: 'job', id: job.id, attempt: job.attempt, req: job.req };
    // A failed send means the worker is dying; its exit event requeues the job.
    w.child.send(msg, (err) => {
      if (err) killGroup(w, 'SIGKILL');
    });
  }

  private armDeadline(w: Worker, job: Job): void {
    job.deadline = setTimeout(() => this.onDeadline(w, job), job.timeoutMs);
  }

  /**
   * A worker holds the event loop open only while it has (or is about to get) work: an idle
   * pool never keeps the main process alive, and a pending compile always does.
   */
  private refreshRefs(): void {
    const waiting = this.queue.length > 0;
    for (const w of this.workers) {
      const hold = w.state === 'busy' || (w.state === 'starting' && waiting);
      if (hold) {
        w.child.ref();
        w.child.channel?.ref();
      } else {
        w.child.unref();
        w.child.channel?.unref();
      }
    }
  }
}

// AsyncCompile: Inductor's CompiledTritonKernels future cache. The scheduler submits each
// kernel the moment its source is final and goes on generating the next one; the host plan
// later looks each kernel up by key and finds it in flight or done. One future per key per
// instance, so identical kernels (from any graph) compile once.
//
// Compiles run in the worker pool; the main process only loads binaries (dlopen,
// cuModuleLoadData) through the loader the backend registered (compile/registry.ts).
import { setting } from '../config/read.js';
import { bump } from '../observe/counters.js';
import { CompileProgress } from '../observe/progress.js';
import { recordEvent, traceSpan } from '../observe/trace.js';
import { WorkerCompileError, WorkerPool, resolveCompileTimeoutMs, resolveWorkerCount, type WorkerPoolOptions } from './pool.js';
import { compiledKernel, groupRequest, splitGroup } from './compile_group.js';
import { binaryProblem, importCompiler, loaderFor } from './registry.js';
import { runCompiler } from './run_compiler.js';
import type { BackendName, CompiledGroup, CompiledKernel, CompilerResult } from '../cache/compiled_kernel.js';
import type { CompileJob, CompileRequest, KernelStoreLike } from './types.js';

export interface AsyncCompileOptions extends WorkerPoolOptions {
  /** 0 = compile inline in this process (the only way a compiler runs outside a worker). */
  workers?: number;
  /** Persistent kernel cache; a hit never starts a worker. */
  store?: KernelStoreLike;
  /** Share a pool between instances (getAsyncCompile does); otherwise one is made on first use. */
  pool?: WorkerPool;
}

/** Per-call settings of submit/submitGroup/compileBinaryGroup. */
export interface CompileCallOptions {
  /**
   * This call's compile deadline (ms), for its jobs in the pool and for the staleness of its
   * cross-process markers. Default: the instance's compileTimeoutMs, else the pool's, else
   * KILN_COMPILE_TIMEOUT_MS, else 60 s. A future shared with an earlier call keeps that call's.
   */
  compileTimeoutMs?: number;
}

interface Entry {
  promise: Promise<unknown>;
  /** Waiting on a compile (not a store hit or preload): what the progress bar counts. */
  compiling: boolean;
  settled: boolean;
  failed: boolean;
}

function assertNoCompile(): boolean {
  return setting('KILN_ASSERT_NO_COMPILE');
}


export class AsyncCompile {
  readonly workers: number;
  private store: KernelStoreLike | undefined;
  private readonly poolOptions: WorkerPoolOptions;
  private pool: WorkerPool | undefined;
  private readonly futures = new Map<string, Entry>();
  private readonly compiled = new Map<string, CompiledKernel>();
  private readonly binaries = new Map<string, Promise<CompiledKernel>>();
  /** Keys needsCompile() found missing from the store: the submit that follows does not read it again. */
  private readonly missed = new Set<string>();
  private readonly progress = new CompileProgress();
  // Progress accounting for the current burst of compiles (reset when none is outstanding).
  private outstanding = 0;
  private burstTotal = 0;
  private burstDone = 0;
  private awaited = false;

  constructor(opts: AsyncCompileOptions = {}) {
    this.workers = opts.pool?.size ?? resolveWorkerCount(opts.workers);
    this.store = opts.store;
    this.pool = opts.pool;
    this.poolOptions = { workers: this.workers, compileTimeoutMs: opts.compileTimeoutMs, idleTimeoutMs: opts.idleTimeoutMs };
  }

  /**
   * The future of a loaded kernel. Same key → same future (no new work). Otherwise: kernel
   * store, else a worker (or inline when workers = 0), then store.put, then load. A failed
   * future is replaced on the next submit, so a transient failure can be retried.
   */
  submit<T = unknown>(req: CompileRequest, call: CompileCallOptions = {}): Promise<T> {
    const existing = this.futures.get(req.key);
    if (existing !== undefined && !existing.failed) return existing.promise as Promise<T>;
    const cached = this.storeHit(req.key);
    return this.track<T>(req.key, cached !== undefined ? Promise.resolve(cached) : this.compile(req, this.deadline(call)), cached === undefined);
  }

  /**
   * submit() for several kernels at once: those that still need a compiler are compiled
   * together as one program by one worker (compile_group.ts); each keeps its own future.
   */
  submitGroup(reqs: readonly CompileRequest[], call: CompileCallOptions = {}): void {
    const todo: CompileRequest[] = [];
    for (const req of uniqueByKey(reqs)) {
      const existing = this.futures.get(req.key);
      if (existing !== undefined && !existing.failed) continue;
      const cached = this.storeHit(req.key);
      if (cached !== undefined) this.track(req.key, Promise.resolve(cached), false);
      else todo.push(req);
    }
    const kernels = this.compileGroup(todo, this.deadline(call));
    todo.forEach((req, i) => this.track(req.key, kernels[i]!, true));
  }

  /** A future for `key` that loads `kernel` once it is compiled (or read). */
  private track<T>(key: string, kernel: Promise<CompiledKernel>, compiling: boolean): Promise<T> {
    const promise = kernel.then((k) => this.load(k));
    const entry: Entry = { promise, compiling, settled: false, failed: false };
    this.futures.set(key, entry);
    if (compiling) {
      this.outstanding++;
      this.burstTotal++;
    }
    // Submitters often don't await (fire and forget during codegen); the plan's lookup does.
    // Marking the promise handled keeps a failed compile from being an unhandled rejection.
    promise.then(
      () => this.settle(entry, false),
      () => this.settle(entry, true),
    );
    return promise as Promise<T>;
  }

  /** The future for a key the scheduler submitted, when the plan loads. */
  lookup<T = unknown>(key: string): Promise<T> {
    const e = this.futures.get(key);
    if (e === undefined) {
      return Promise.reject(
        new Error(`kernel ${key} was never submitted to this AsyncCompile: the plan names a kernel that codegen did not compile (is the source at load byte-identical to the source at codegen?)`),
      );
    }
    bump('future_cache_hits');
    if (e.compiling && !e.settled) {
      this.awaited = true;
      this.progress.update(this.burstDone, this.burstTotal);
    }
    return e.promise as Promise<T>;
  }

  /** A resolved entry from a warm-start bundle: loaded here, no worker, no compiler. */
  preload<T = unknown>(kernel: CompiledKernel): Promise<T> {
    const existing = this.futures.get(kernel.key);
    if (existing !== undefined && !existing.failed) return existing.promise as Promise<T>;
    this.compiled.set(kernel.key, kernel);
    const promise = this.load(kernel);
    const entry: Entry = { promise, compiling: false, settled: false, failed: false };
    this.futures.set(kernel.key, entry);
    promise.then(
      () => this.settle(entry, false),
      () => this.settle(entry, true),
    );
    return promise as Promise<T>;
  }

  /**
   * Compiles (or fetches from the store) without loading: for compile-only runs on a machine
   * without the target device (kiln compile --device cuda on a CI box). Kernels that need a
   * compiler are compiled together (compile_group.ts); in-flight work is shared.
   */
  compileBinaryGroup(reqs: readonly CompileRequest[], call: CompileCallOptions = {}): Promise<CompiledKernel>[] {
    // fromStore() records a hit in `compiled`, so after this filter every request is known,
    // in flight, or in `todo`.
    const todo = uniqueByKey(reqs).filter((r) => !this.compiled.has(r.key) && !this.binaries.has(r.key) && this.storeHit(r.key) === undefined);
    const kernels = this.compileGroup(todo, this.deadline(call));
    todo.forEach((req, i) => {
      const p = kernels[i]!;
      this.binaries.set(req.key, p);
      p.catch(() => this.binaries.delete(req.key));
    });
    return reqs.map((r) => {
      const done = this.compiled.get(r.key);
      return done !== undefined ? Promise.resolve(done) : this.binaries.get(r.key)!;
    });
  }

  /** The binary behind a key (after a compile, store hit or preload), for graph-cache bundles. */
  compiledFor(key: string): CompiledKernel | undefined {
    return this.compiled.get(key);
  }

  has(key: string): boolean {
    const e = this.futures.get(key);
    return e !== undefined && !e.failed;
  }

  /** Resolves when every future so far has settled (successfully or not). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.futures.values()].map((e) => e.promise));
  }

  /** Sets the kernel store consulted before compiling and filled after. */
  useStore(store: KernelStoreLike): void {
    this.store = store;
  }

  /** Forks up to `upTo` workers (default: the pool's size) ahead of the first compile. No-op inline. */
  warm(backend?: BackendName, upTo?: number): void {
    if (this.workers > 0) this.getPool().warm(backend, upTo);
  }

  /** The pool, if one was started (undefined inline); for tests and diagnostics. */
  get workerPool(): WorkerPool | undefined {
    return this.pool;
  }

  /** Kills the pool's workers and fails its pending compiles; a later submit re-forks. */
  shutdown(): void {
    this.pool?.shutdown();
    this.progress.stop();
  }

  /** The deadline of a call: its own, else this instance's, else the pool's, else the environment's or 60 s. */
  private deadline(call: CompileCallOptions): number {
    return call.compileTimeoutMs ?? this.poolOptions.compileTimeoutMs ?? this.pool?.compileTimeoutMs ?? resolveCompileTimeoutMs();
  }

  private getPool(): WorkerPool {
    this.pool ??= new WorkerPool(this.poolOptions);
    return this.pool;
  }

  /**
   * Whether submitting `key` would need a compiler: not in flight, done, nor in the kernel
   * store (read now, counted once: the submit that follows takes the answer). Lets a caller
   * fork workers at the first kernel that needs one, and never when none does.
   */
  needsCompile(key: string): boolean {
    if (this.has(key) || this.compiled.has(key) || this.binaries.has(key) || this.missed.has(key)) return this.missed.has(key);
    if (this.fromStore(key) !== undefined) return false;
    this.missed.add(key);
    return true;
  }

  /** The kernel store's answer for a key, or needsCompile()'s if it already asked. */
  private storeHit(key: string): CompiledKernel | undefined {
    const known = this.compiled.get(key);
    if (known !== undefined) return known;
    if (this.missed.delete(key)) return undefined;
    return this.fromStore(key);
  }

  private fromStore(key: string): CompiledKernel | undefined {
    if (this.store === undefined) return undefined;
    const end = traceSpan('cache', 'kernel store get', { kernel: key });
    let k: CompiledKernel | undefined;
    try {
      k = usableBinary(this.store.get(key));
    } catch {
      // The contract says get never throws; if a store does, treat it as a miss.
      k = undefined;
    }
    end({ hit: k !== undefined });
    if (k === undefined) {
      bump('kernel_cache_misses');
      return undefined;
    }
    bump('kernel_cache_hits');
    this.compiled.set(key, k);
    return k;
  }

  private async compile(req: CompileRequest, deadlineMs: number): Promise<CompiledKernel> {
    if (assertNoCompile()) {
      throw new Error(`KILN_ASSERT_NO_COMPILE=1, but kernel ${req.kernelName} (key ${req.key}) is not cached and would need a compile`);
    }
    // Another process sharing the cache directory may be compiling this very kernel: wait for
    // its entry instead of compiling it a second time.
    let lock = this.store?.lockForCompile?.(req.key, deadlineMs) ?? { kind: 'owner' as const, release: () => {} };
    while (lock.kind === 'busy') {
      await new Promise<void>((r) => setTimeout(r, 25));
      const theirs = this.storedMeanwhile(req.key);
      if (theirs !== undefined) return theirs;
      lock = this.store!.lockForCompile!(req.key, deadlineMs);
    }
    try {
      // The holder we waited for (or one that finished just before we looked) may have
      // stored it already: checked again now that no one else can be compiling it.
      return (this.store?.lockForCompile ? this.storedMeanwhile(req.key) : undefined) ?? (await this.compileOwned(req, deadlineMs));
    } finally {
      lock.release();
    }
  }

  /** The entry another process sharing the cache stored while we looked (a hit), if any. */
  private storedMeanwhile(key: string): CompiledKernel | undefined {
    const k = usableBinary(this.store!.get(key));
    if (k === undefined) return undefined;
    bump('kernel_cache_hits');
    this.compiled.set(key, k);
    return k;
  }

  private async compileOwned(req: CompileRequest, deadlineMs: number): Promise<CompiledKernel> {
    const kernel = compiledKernel(req, await this.runJob(req, 1, deadlineMs));
    this.keep(kernel);
    return kernel;
  }

  /** One job: in a worker, or inline for workers: 0. `kernels`: how many it compiles (a group's members). */
  private async runJob(req: CompileJob, kernels: number, deadlineMs: number): Promise<CompilerResult> {
    if (this.workers === 0) {
      bump('compile_inline', kernels);
      return compileInline(req);
    }
    bump('compile_submitted', kernels);
    try {
      const r = await this.getPool().submit(req, { timeoutMs: deadlineMs });
      recordEvent(r.span);
      return r.result;
    } catch (e) {
      if (e instanceof WorkerCompileError && e.span !== undefined) recordEvent(e.span);
      throw e;
    }
  }

  /** Remembers a compiled kernel and writes it to the kernel store. */
  private keep(kernel: CompiledKernel): void {
    this.compiled.set(kernel.key, kernel);
    this.putStore(kernel);
  }

  private putStore(kernel: CompiledKernel | CompiledGroup): void {
    if (this.store === undefined) return;
    const end = traceSpan('cache', 'kernel store put', { kernel: kernel.key });
    try {
      this.store.put(kernel);
    } catch {
      // put must not throw by contract; a broken store must not fail a good compile.
    }
    end();
  }

  /**
   * Compiles `members` as one program; one promise per member. Each member's cross-process
   * compile lock is taken first, as compile() does for one kernel: a member another process
   * is compiling is waited for alone (compile()), and one whose entry has just appeared is
   * read. If the program fails (one member's error fails them all), the locks are released
   * and each member is compiled alone, so an error names its own kernel and the other
   * members still load.
   */
  private compileGroup(members: CompileRequest[], deadlineMs: number): Promise<CompiledKernel>[] {
    if (members.length <= 1) return members.map((m) => this.compile(m, deadlineMs));
    if (assertNoCompile()) {
      const refused = Promise.reject(new Error(`KILN_ASSERT_NO_COMPILE=1, but kernels ${members.map((m) => m.kernelName).join(', ')} are not cached and would need a compile`));
      refused.catch(() => {});
      return members.map(() => refused);
    }
    const out: Promise<CompiledKernel>[] = [];
    const owned: { index: number; req: CompileRequest; release: () => void }[] = [];
    members.forEach((req, index) => {
      const lock = this.store?.lockForCompile?.(req.key, deadlineMs) ?? { kind: 'owner' as const, release: () => {} };
      if (lock.kind === 'busy') {
        out[index] = this.compile(req, deadlineMs);
        return;
      }
      const stored = this.store?.lockForCompile ? this.storedMeanwhile(req.key) : undefined;
      if (stored !== undefined) {
        lock.release();
        out[index] = Promise.resolve(stored);
        return;
      }
      owned.push({ index, req, release: lock.release });
    });
    if (owned.length === 0) return out;
    const reqs = owned.map((o) => o.req);
    const compiled = (async (): Promise<CompiledKernel[] | undefined> => {
      try {
        let kernels: CompiledKernel[];
        if (reqs.length === 1) kernels = [compiledKernel(reqs[0]!, await this.runJob(reqs[0]!, 1, deadlineMs))];
        else {
          const job = groupRequest(reqs);
          const group: CompiledGroup = { key: job.key, backend: job.backend, kernelName: job.kernelName, groupMembers: job.groupMembers, ...(await this.runJob(job, reqs.length, deadlineMs)) };
          // The group's binary is stored once, in an entry of its own; members' entries name it.
          this.putStore(group);
          kernels = splitGroup(reqs, group);
        }
        for (const k of kernels) this.keep(k);
        return kernels;
      } catch (e) {
        if (reqs.length === 1) throw e;
        return undefined;
      } finally {
        for (const o of owned) o.release();
      }
    })();
    owned.forEach((o, j) => {
      out[o.index] = compiled.then((ks) => ks?.[j] ?? this.compile(o.req, deadlineMs));
    });
    return out;
  }

  private async load(k: CompiledKernel): Promise<unknown> {
    const loader = await loaderFor(k.backend);
    const end = traceSpan('load', k.kernelName, { kernel: k.key });
    try {
      return await loader(k);
    } finally {
      end();
    }
  }

  private settle(e: Entry, failed: boolean): void {
    e.settled = true;
    e.failed = failed;
    if (!e.compiling) return;
    this.outstanding--;
    this.burstDone++;
    if (this.awaited) this.progress.update(this.burstDone, this.burstTotal);
    if (this.outstanding === 0) {
      this.progress.stop();
      this.burstDone = 0;
      this.burstTotal = 0;
      this.awaited = false;
    }
  }
}

/**
 * A stored kernel whose binary is the ELF kind its loader takes (its backend's check: compile/registry.ts), or
 * undefined: a checksum-valid entry with a damaged binary is counted corrupt and compiled
 * again (the compile's put replaces it), never handed to dlopen.
 */
function usableBinary(k: CompiledKernel | undefined): CompiledKernel | undefined {
  if (k === undefined || binaryProblem(k.backend, k.binary) === undefined) return k;
  // Counted once per key: the same entry is read again under the compile lock.
  if (!badBinaries.has(k.key)) bump('cache_corrupt');
  badBinaries.add(k.key);
  return undefined;
}
const badBinaries = new Set<string>();

/** One item per key, in first-seen order (a program cannot define a kernel twice; a bundle stores each once). */
export function uniqueByKey<T extends { key: string }>(items: readonly T[]): T[] {
  return [...new Map(items.map((x) => [x.key, x] as const)).values()];
}

/** workers: 0: the compiler runs in this process, loaded only now (never at import). */
async function compileInline(req: CompileJob): Promise<CompilerResult> {
  const compiler = await importCompiler(req.backend);
  const end = traceSpan('compile', req.kernelName, { kernel: req.key, kernelName: req.kernelName, backend: req.backend, inline: true });
  try {
    return await runCompiler(compiler.compileKernel, req);
  } finally {
    end();
  }
}

const instances = new Map<string, AsyncCompile>();
const sharedPools = new Map<number, WorkerPool>();

/**
 * The process-wide instance for (workers, cacheDir). Instances with the same worker count
 * share one pool, so two cache dirs don't double the worker processes. `store` is used only
 * when the instance is created. Neither has a deadline of its own: each caller passes its
 * compileTimeoutMs with its submits (CompileCallOptions), so no caller's deadline (the
 * first's, say) becomes everyone's.
 */
export function getAsyncCompile(options: { workers?: number; cacheDir?: string; store?: KernelStoreLike } = {}): AsyncCompile {
  const workers = resolveWorkerCount(options.workers);
  const id = `${workers}|${options.cacheDir ?? ''}`;
  let ac = instances.get(id);
  if (ac === undefined) {
    let pool: WorkerPool | undefined;
    if (workers > 0) {
      pool = sharedPools.get(workers);
      if (pool === undefined) {
        pool = new WorkerPool({ workers });
        sharedPools.set(workers, pool);
      }
    }
    ac = new AsyncCompile({ workers, store: options.store, pool });
    instances.set(id, ac);
  } else if (options.store !== undefined) {
    // An instance first made without a store (a diagnostic lookup, say) must not leave later
    // compiles uncached: the caller's store is the one that counts.
    ac.useStore(options.store);
  }
  return ac;
}

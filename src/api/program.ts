// compileGraph: a traced graph → a runnable Program. The graph cache is consulted first (a
// hit loads the bundled plan and binaries: no lowering, no codegen, no worker); on a miss the
// graph is scheduled, each kernel is generated and submitted for compilation as soon as its
// source is final, and the plan loads every kernel through the future cache.

import type { Backend, Executable } from '../schedule/backend.js';
import { CpuBackend } from '../backends/cpu/backend.js';
// The backends' compilers and loaders, registered with compile/ (the registration imports no backend).
import '../backends/register.js';
import { openCache } from '../cache/open_cache.js';
import { graphKey } from '../cache/graph_key.js';
import { codeSettings } from '../config/read.js';
import type { GraphBundle } from '../cache/graph_bundle.js';
import { getAsyncCompile, uniqueByKey, type AsyncCompile } from '../compile/async_compile.js';
import { CompileGrouper, groupSize, maxGroupSize } from '../compile/compile_group.js';
import { binaryProblem } from '../compile/registry.js';
import type { CompiledKernel } from '../cache/compiled_kernel.js';
import type { CompileRequest } from '../compile/types.js';
import type { NDArray } from '../graph/ndarray.js';
import type { Traced } from '../frontend/trace.js';
import { bump } from '../observe/counters.js';
import { CompileProgress } from '../observe/progress.js';
import { debugEnabled, debugPrint, debugStages } from '../observe/log.js';
import { traceSpan, withSpan } from '../observe/trace.js';
import { fmtPlan, type Plan } from '../schedule/plan.js';
import { planAccepts } from '../schedule/plan_sizes.js';
import { schedule } from '../schedule/schedule.js';
import { fmtGraph } from '../graph/print.js';
import { type GraphSource, tracedSource } from './graph_source.js';
import { type IndexCheckOutputs, checkedOutputs } from './index_checks.js';
import { type CompileOptions, resolveDevice } from './options.js';

export type { CompileOptions } from './options.js';

export interface Program {
  run(inputs: readonly NDArray[]): Promise<NDArray[]>;
  readonly kernelCount: number;
  readonly graphKey: string;
  /** Whether the plan and binaries came from the graph cache ('hit') or were built now ('miss'). */
  readonly graphCache: 'hit' | 'miss';
  readonly plan: Plan;
  inspect(): { kernels: { name: string; kind: string; ops: string[] }[] };
  /**
   * Whether run() serves user inputs of these shapes: a static program exactly its own; one
   * over symbolic sizes every binding its guards admit (run() throws GuardFailure for others).
   */
  accepts(shapes: readonly (readonly number[])[]): boolean;
  /**
   * Frees what the program holds: on CUDA its device memory (arena, constants, scratch; the
   * weights' device copies belong to their NDArrays, see docs/architecture.md's known limits),
   * on the CPU its references. Outputs already returned stay valid. Afterwards run() rejects;
   * disposing again does nothing.
   */
  dispose(): void;
}

const backends = new Map<string, Backend>();

/** Workers forked when a compile is predicted, before the kernel count is known. */
const EARLY_WORKERS = 4;

/**
 * Forks the first workers now, before tracing (compile()) or keying (compileGraph), when a
 * compile is likely: the kernel cache holds no kernel at all (one readdir; a cold cache, a
 * disabled one). A cache with kernels in it forks nothing here: a warm start will hit the
 * graph cache, and a graph-cache miss forks at its first kernel that misses the kernel store
 * (so a miss whose kernels are all stored forks none). Returns the prediction.
 */
export function warmForCompile(options: CompileOptions = {}): boolean {
  const device = resolveDevice(options);
  const cache = openCache({ cacheDir: options.cacheDir });
  const ac = getAsyncCompile({ workers: options.workers, cacheDir: options.cacheDir, store: cache.kernels });
  if (ac.workers === 0) return false;
  if (!cache.kernels.isEmpty()) return false;
  ac.warm(device === 'cpu' ? 'c' : 'cuda', EARLY_WORKERS);
  return true;
}

async function backendFor(options: CompileOptions): Promise<Backend> {
  const device = resolveDevice(options);
  const id = `${device}:${options.arch ?? ''}:${options.allowTF32 ? 'tf32' : ''}`;
  let b = backends.get(id);
  if (!b) {
    if (device === 'cpu') b = new CpuBackend();
    else {
      // Loaded only for device 'cuda', so CPU users never load the CUDA modules.
      const { CudaBackend } = await import('../backends/cuda/backend.js');
      b = new CudaBackend({ arch: options.arch, compileOnly: options.compileOnly, allowTF32: options.allowTF32 });
    }
    backends.set(id, b!);
  }
  return b!;
}

export async function compileGraph(userTraced: Traced, options: CompileOptions = {}): Promise<Program> {
  return (await startCompileGraph(userTraced, options)).finish();
}

/**
 * A program whose plan is known and whose kernels are being compiled (or loaded from the
 * graph cache): `finish()` awaits them and instantiates the plan. In between, the main thread
 * is free while the workers compile: a symbolic compile checks its plan at other sizes there
 * (symbolic_compile.ts), off the cold start's critical path.
 */
export interface StartedProgram {
  readonly plan: Plan;
  finish(): Promise<Program>;
}

/** compileGraph up to the plan, every kernel's compile submitted: see StartedProgram. */
export function startCompileGraph(userTraced: Traced, options: CompileOptions = {}): Promise<StartedProgram> {
  // Forked before keying (which hashes the graph) when a compile is likely.
  const compileLikely = warmForCompile(options);
  // Run-time index checks become extra outputs of the compiled copy (index_checks.ts).
  return startSource(withSpan('cache', 'graph key', () => tracedSource(userTraced)), options, compileLikely);
}

/**
 * compileGraph for a graph known by its digest (graph_source.ts): the graph is built only on a
 * graph-cache miss, so an ONNX warm start neither converts nor folds its model.
 */
export async function compileGraphSource(source: GraphSource, options: CompileOptions = {}): Promise<Program> {
  return (await startSource(source, options, warmForCompile(options))).finish();
}

/** A program already whole (a compile-only run): finish() has nothing left to wait for. */
function started(program: Program): StartedProgram {
  return { plan: program.plan, finish: () => Promise.resolve(program) };
}

async function startSource(source: GraphSource, options: CompileOptions, compileLikely: boolean): Promise<StartedProgram> {
  const backend = await withSpan('load', 'backend', () => backendFor(options));
  const cache = withSpan('cache', 'open', () => openCache({ cacheDir: options.cacheDir }));
  const ac = getAsyncCompile({ workers: options.workers, cacheDir: options.cacheDir, store: cache.kernels });
  const call = { compileTimeoutMs: options.compileTimeoutMs };
  const endKey = traceSpan('cache', 'graph key');
  // codeSettings: the variables that change this backend's generated code (KILN_CPU_FEW_ROW_GEMM…).
  const key = graphKey([source.digest, backend.device, backend.identity, source.returnsArray, codeSettings(backend.name)]);
  endKey();

  const endLookup = traceSpan('cache', 'graph cache lookup');
  let bundle = cache.graphs.getBundle(key);
  // A checksum-valid bundle whose binaries are not this host's ELF kind (damaged, or from
  // another machine) is dropped as corrupt and recompiled, never handed to dlopen.
  if (bundle !== undefined && bundle.kernels.some((k) => binaryProblem(k.backend, k.binary) !== undefined)) {
    cache.graphs.dropCorrupt(key);
    bundle = undefined;
  }
  endLookup();
  let plan: Plan;
  let uploading: Promise<void> | undefined;
  if (bundle) {
    bump('graph_cache_hits');
    plan = bundle.plan as Plan;
    if (debugStages().length > 0) debugWarmStart(source, plan, key);
    if (options.compileOnly) return started(makeProgram(plan, key, 'hit', undefined, source.checks));
    // The weights' upload (CUDA) starts first: its copies run while the modules load.
    uploading = backend.prepareParams?.(plan, source.params);
    for (const k of bundle.kernels) ac.preload(k);
  } else {
    bump('graph_cache_misses');
    // With an empty kernel cache the first workers were forked before tracing or keying
    // (warmForCompile), so the first kernel's compile starts the moment its source is final
    // (a cold pool takes ~60-80 ms to come up); the rest once the kernel count is known. A
    // program of 4 kernels then starts 4 workers, not one per core all loading their compiler
    // at once. With kernels in the cache, workers are forked at the first kernel that misses
    // it, so a miss whose kernels are all stored forks none.
    // Start loading the code generator now; scheduling awaits it (and sees any failure) just
    // before codegen, so this early call only marks the promise handled.
    backend.prepareCodegen?.().catch(() => {});
    // Kernels reach the workers in compile groups (compile_group.ts) sized once the kernel
    // count is known, before codegen: one group per worker when there are more kernels than
    // workers, else one kernel per job. Only as many workers as jobs are started.
    const pending: Promise<CompiledKernel>[] = [];
    // A compile-only run awaits its binaries here, not through lookups: its own bar (TTY only).
    const bar = options.compileOnly ? new CompileProgress() : undefined;
    let done = 0;
    const submitGroup = options.compileOnly
      ? // Compile every kernel (filling the kernel cache) but load nothing: no device needed.
        (members: CompileRequest[]) => {
          for (const p of ac.compileBinaryGroup(members, call)) {
            // Awaited below, after codegen; until then a failure must not count as unhandled.
            p.then(
              () => bar!.update(++done, pending.length),
              () => {},
            );
            pending.push(p);
          }
        }
      : (members: CompileRequest[]) => ac.submitGroup(members, call);
    let grouper: CompileGrouper | undefined;
    let jobs = EARLY_WORKERS;
    let forked = compileLikely;
    const onKernels = (kernels: number) => {
      const size = groupSize(kernels, ac.workers, maxGroupSize(backend.maxCompileGroup));
      jobs = Math.ceil(kernels / size);
      if (forked) ac.warm(backend.name, jobs);
      grouper = new CompileGrouper(size, submitGroup, backend.compileGroupChars);
    };
    const add = (r: CompileRequest) => {
      if (!forked && ac.workers > 0 && ac.needsCompile(r.key)) {
        forked = true;
        ac.warm(backend.name, jobs);
      }
      grouper!.add(r);
    };
    const traced = source.checked().traced;
    const s = await schedule(traced.graph, backend, add, traced.returnsArray, onKernels);
    grouper?.flush();
    if (options.compileOnly) {
      const kernels = await Promise.all(pending).finally(() => bar!.stop());
      cache.graphs.putBundle(key, { plan: s.plan, kernels: uniqueByKey(kernels) } satisfies GraphBundle, options.label);
      return started(makeProgram(s.plan, key, 'miss', undefined, source.checks));
    }
    plan = s.plan;
    uploading = backend.prepareParams?.(plan, source.params);
  }
  // Awaited after the kernels; until then a failure must not count as unhandled.
  uploading?.catch(() => {});
  const planned = plan;
  const hit = bundle !== undefined;
  return {
    plan: planned,
    finish: async () => {
      const loaded = await withSpan('load', 'all kernels', () => Promise.all(planned.kernels.map((k) => ac.lookup(k.key))));
      await uploading;
      if (!hit) {
        const kernels = uniqueKernels(planned, ac);
        if (kernels) cache.graphs.putBundle(key, { plan: planned, kernels } satisfies GraphBundle, options.label);
      }
      const exe = await withSpan('load', 'instantiate', () => backend.instantiate(planned, loaded));
      return makeProgram(planned, key, hit ? 'hit' : 'miss', exe, source.checks, source.params);
    },
  };
}

/**
 * The plan a traced graph schedules to on this backend, without compiling or loading anything
 * (compile()'s check that a symbolic program does not depend on the sizes it was traced at).
 */
export async function planOnly(traced: Traced, options: CompileOptions = {}): Promise<Plan> {
  const backend = await backendFor(options);
  await backend.prepareCodegen?.();
  const checked = tracedSource(traced).checked().traced;
  return (await schedule(checked.graph, backend, undefined, checked.returnsArray)).plan;
}

/**
 * KILN_DEBUG on a graph-cache hit: the graph (when there is one: an ONNX warm start never
 * builds it, which one line says) and the cached plan are there to print; the stages in
 * between never ran, which one line says (silence looked like a broken KILN_DEBUG).
 */
function debugWarmStart(source: GraphSource, plan: Plan, key: string): void {
  if (debugEnabled('graph')) {
    if (source.built) debugPrint('graph', fmtGraph(source.checked().traced.graph));
    else process.stderr.write(`kiln debug: graph cache hit (${key.slice(0, 12)}): the ONNX model's graph was not built (its conversion came from the cache too); KILN_NO_CACHE=1 builds it\n`);
  }
  const skipped = debugStages().filter((s) => s === 'loops' || s === 'schedule' || s === 'source');
  if (skipped.length > 0) {
    process.stderr.write(
      `kiln debug: graph cache hit (${key.slice(0, 12)}): no lowering/codegen stages ran, so ${skipped.join(', ')} print nothing; ` +
        `KILN_DEBUG=plan shows the cached plan, KILN_NO_CACHE=1 runs every stage\n`,
    );
  }
  if (debugEnabled('plan')) debugPrint('plan', fmtPlan(plan));
}

/** Every binary the plan names, once each; undefined if one is missing (then nothing is bundled). */
function uniqueKernels(plan: Plan, ac: AsyncCompile): CompiledKernel[] | undefined {
  const found = plan.kernels.map((k) => ac.compiledFor(k.key));
  return found.every((c) => c !== undefined) ? uniqueByKey(found as CompiledKernel[]) : undefined;
}

function makeProgram(plan: Plan, key: string, graphCache: 'hit' | 'miss', compiled: Executable | undefined, checked: IndexCheckOutputs, params: readonly NDArray[] = []): Program {
  let exe = compiled;
  let disposed = false;
  return {
    plan,
    graphKey: key,
    graphCache,
    kernelCount: plan.kernels.length,
    run(inputs) {
      if (disposed) return Promise.reject(new Error(`this program (graph ${key.slice(0, 12)}) was disposed: it cannot run; compile it again`));
      if (!exe) return Promise.reject(new Error('this program was compiled with compileOnly: it cannot run'));
      return checked.checks.length ? exe.run(inputs, params).then((outs) => checkedOutputs(checked, outs)) : exe.run(inputs, params);
    },
    accepts(shapes) {
      return planAccepts(plan, shapes);
    },
    inspect() {
      return { kernels: plan.kernels.map((k, i) => ({ name: k.name, kind: plan.info[i]?.kind ?? '?', ops: plan.info[i]?.ops ?? [] })) };
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      exe?.dispose?.();
      // The CPU executable's arena, constants and kernels' pointer blocks go with the last reference.
      exe = undefined;
    },
  };
}

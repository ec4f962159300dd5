// Running a backend's compiler on a job, timed: shared by the compile worker (worker_main.ts)
// and by workers: 0 (async_compile.ts). Only types come from the compiler registry
// (registry.ts), so importing this loads no compiler.
import type { CompileFn } from './registry.js';
import type { CompilerResult } from '../cache/compiled_kernel.js';
import type { CompileJob } from './types.js';

/** Runs `compile` on `job`, timing it. */
export async function runCompiler(compile: CompileFn, job: CompileJob): Promise<CompilerResult> {
  const t0 = performance.now();
  const out = await compile(job);
  return { binary: out.binary, log: out.log, compileMs: performance.now() - t0 };
}

// Turning a compiler's output into the CompiledKernel that the cache stores and the loaders
// load: shared by the compile worker (worker_main.ts) and by workers: 0 (async_compile.ts).
import type { CompiledKernel } from '../cache/compiled_kernel.js';
import type { CompileFn } from './registry.js';
import type { CompileRequest } from './types.js';

/** Runs `compile` on `req`, timing it; the compiler's metadata is merged over the request's. */
export async function runCompiler(compile: CompileFn, req: CompileRequest): Promise<CompiledKernel> {
  const t0 = performance.now();
  const out = await compile(req);
  return {
    key: req.key,
    backend: req.backend,
    kernelName: req.kernelName,
    binary: out.binary,
    meta: out.meta !== undefined ? { ...req.meta, ...out.meta } : req.meta,
    log: out.log,
    compileMs: performance.now() - t0,
  };
}

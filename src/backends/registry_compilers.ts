// BackendName → the function that turns a kernel's source into a binary. Imported by the
// compile worker (and by the main process only for workers: 0). Backends are loaded lazily
// so a CPU-only run never touches CUDA code, and the CUDA compiler (which may dlopen NVRTC)
// is only ever loaded where compiles run.
import type { BackendName, CompileRequest, KernelMeta } from '../compile/types.js';

export interface CompilerOutput {
  binary: Uint8Array;
  log: string;
  /** Launch metadata the compiler learned (e.g. registers, shared memory); merged over the request's. */
  meta?: KernelMeta;
}

export type CompileFn = (req: CompileRequest) => Promise<CompilerOutput>;

async function compileWithC(req: CompileRequest): Promise<CompilerOutput> {
  const { compileC } = await import('./cpu/compiler.js');
  return compileC(req);
}

interface CudaCompilerModule {
  compileCuda(req: CompileRequest): Promise<CompilerOutput>;
}

async function compileWithCuda(req: CompileRequest): Promise<CompilerOutput> {
  // A computed specifier keeps tsc from resolving a file another engineer is still writing.
  const specifier = ['./cuda', 'compiler.js'].join('/');
  let mod: CudaCompilerModule;
  try {
    mod = (await import(specifier)) as CudaCompilerModule;
  } catch (e) {
    throw new Error(`CUDA compiler unavailable (could not load backends/cuda/compiler.js): ${(e as Error).message}`);
  }
  if (typeof mod.compileCuda !== 'function') throw new Error('backends/cuda/compiler.js does not export compileCuda');
  return mod.compileCuda(req);
}

export function compilerFor(backend: BackendName): CompileFn {
  switch (backend) {
    case 'c':
      return compileWithC;
    case 'cuda':
      return compileWithCuda;
    default:
      backend satisfies never;
      throw new Error(`unknown backend ${String(backend)}`);
  }
}

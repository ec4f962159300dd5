// BackendName → the function that turns a kernel's source into a binary. Imported by the
// compile worker (and by the main process only for workers: 0). Backends are loaded lazily
// so a CPU-only run never touches CUDA code, and the CUDA compiler (which may dlopen NVRTC)
// is only ever loaded where compiles run.
import type { BackendName, CompileJob } from '../compile/types.js';

export interface CompilerOutput {
  binary: Uint8Array;
  log: string;
}

export type CompileFn = (req: CompileJob) => Promise<CompilerOutput>;

async function compileWithC(req: CompileJob): Promise<CompilerOutput> {
  const { compileC } = await import('./cpu/compiler.js');
  return compileC(req);
}

async function compileWithCuda(req: CompileJob): Promise<CompilerOutput> {
  // Lazy: the CUDA compiler may dlopen NVRTC, which only a worker should ever do.
  const { compileCuda } = await import('./cuda/compiler.js');
  return compileCuda(req);
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

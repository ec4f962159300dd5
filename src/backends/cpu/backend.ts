// The C backend: loop IR → C (codegen.ts), compiled in workers (compiler.ts), loaded with
// dlopen through koffi (loader.ts), run on host buffers (runtime.ts).

import type { Backend, Executable, GeneratedSource } from '../../schedule/backend.js';
import type { Kernel } from '../../lower/loop_ir.js';
import type { Plan } from '../../schedule/plan.js';
import { generateC } from './codegen.js';
import { cCompilerIdentity } from './compiler.js';
import type { LoadedCKernel } from './loader.js';
import { CpuExecutable } from './runtime.js';

export class CpuBackend implements Backend {
  readonly name = 'c' as const;
  readonly device = 'cpu' as const;
  readonly identity = cCompilerIdentity();
  /** cc's fixed cost (start, headers, prelude) is about half of a small kernel's compile: 8 C kernels compiled ~1.9x faster as one unit. */
  readonly maxCompileGroup = 8;
  /**
   * Pools and direct (depthwise) convs read their input from a buffer, not recomputed per tap:
   * EfficientNet's depthwise convs computed their input's bias and SiLU 9 or 25 times an output.
   */
  readonly realizesWindowInputs = true;

  generate(k: Kernel): GeneratedSource {
    const c = generateC(k);
    // -z nodelete: an OpenMP kernel library (and so libgomp, which it holds) stays mapped even
    // when its handle is closed (koffi closes libraries at exit): libgomp's idle worker threads
    // may still be spinning in that code, and unmapping it under them crashed the process.
    const flags = [...(c.parallel ? ['-fopenmp', '-Wl,-z,nodelete'] : []), ...(c.flags ?? [])];
    return { source: c.body, options: flags.length ? { flags } : {}, backend: 'c', meta: { params: k.bufs.length } };
  }

  instantiate(plan: Plan, loaded: readonly unknown[]): Executable {
    return new CpuExecutable(plan, loaded as LoadedCKernel[]);
  }
}

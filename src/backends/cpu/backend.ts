// The C backend: loop IR → C (codegen.ts), compiled in workers (compiler.ts), loaded with
// dlopen through koffi (loader.ts), run on host buffers (runtime.ts).

import type { Backend, Executable, GeneratedSource, InstantiateOptions } from '../../schedule/backend.js';
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
   * A group's compile is one cc process for all its members, so its time is their sum:
   * grouping pays for small kernels (cc's fixed cost shared: a static kernel is 4-11 K
   * characters, ~35 ms of cc past the fixed cost) and hurts for big ones (a symbolic product
   * is 30-41 K: its tile, few-row function and per-call threads, 0.5-0.75 s of gcc; eight in
   * one group leave the other workers idle). On 2 workers (bench/RESULTS.md "Compile groups by
   * size"), cold to the first result: a symbolic GPT-2 small 7.6-7.9 s in groups of 8, 5.5-5.9
   * s in groups of 2, 6.1-6.5 s with this budget; the tiny GPT-2 export's symbolic program
   * 3.6-3.9, 3.3-3.4 and 2.9 s; its static program 1.0, 1.5 and 0.9-1.0 s. 48 K puts a big
   * kernel with at most one other and keeps four to eight small ones together.
   */
  readonly compileGroupChars = 48 * 1024;
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
    return { source: c.body, options: flags.length ? { flags } : {}, backend: 'c', meta: { params: k.bufs.length, ...(c.packB !== undefined ? { packB: c.packB } : {}), ...(c.packWhen !== undefined ? { packWhen: c.packWhen } : {}) } };
  }

  instantiate(plan: Plan, loaded: readonly unknown[], how?: InstantiateOptions): Executable {
    return new CpuExecutable(plan, loaded as LoadedCKernel[], how);
  }
}

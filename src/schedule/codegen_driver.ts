// The codegen loop (Inductor's Scheduler.codegen with async_compile ahead of time): each
// kernel's source is generated, named by its content, and submitted for compilation the
// moment it is final, while the next kernel is generated. KILN_EARLY_COMPILE=0 holds the
// submissions back until all codegen is done, to measure what early submission gains.
//
// The loop yields to the event loop after each kernel: a worker that finishes a compile
// while codegen is still going gets its next job at once, instead of sitting idle until the
// last kernel is generated (with 16 workers and ~15 ms NVRTC compiles, a loop that held the
// main thread left most workers idle for the whole of codegen).

import { createHash } from 'node:crypto';
import { KERNEL_NAME_PLACEHOLDER, type Backend } from './backend.js';
import { makeCompileRequest } from '../compile/key.js';
import { setting } from '../config/read.js';
import { targetOf } from '../cache/compiled_kernel.js';
import type { CompileRequest } from '../compile/types.js';
import { fmtKernel, type Kernel } from '../lower/loop_ir.js';
import { bump } from '../observe/counters.js';
import { debugEnabled, debugPrint } from '../observe/log.js';
import { traceSpan } from '../observe/trace.js';
import type { PlanKernel } from './plan.js';
import type { Guard } from '../graph/sym.js';
import { collectGuards } from '../lower/guard_record.js';

export function earlyCompile(): boolean {
  return setting('KILN_EARLY_COMPILE');
}

/** Name from content: identical kernels in different graphs get identical source and key. */
export function kernelName(sourceWithPlaceholder: string): string {
  return `kiln_${createHash('sha256').update(sourceWithPlaceholder).digest('hex').slice(0, 16)}`;
}

/** Starts a kernel's compile (called once per distinct kernel); what it returns is not awaited here. */
export type SubmitFn = (req: CompileRequest) => unknown;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function codegenAndSubmit(kernels: readonly Kernel[], backend: Backend, submit: SubmitFn | undefined): Promise<{ planKernels: PlanKernel[]; guards: Guard[] }> {
  const early = earlyCompile();
  const planKernels: PlanKernel[] = [];
  const guards: Guard[] = [];
  // Each distinct kernel is submitted once, early or late (a plan may launch one kernel twice).
  const unique: CompileRequest[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < kernels.length; i++) {
    const k = kernels[i]!;
    if (debugEnabled('loops')) debugPrint('loops', `kernel ${i}: ${fmtKernel(k)}`);
    const end = traceSpan('codegen', `kernel ${i}`);
    // A symbolic kernel's decisions from hints record guards (lower/guard_record.ts).
    const { value: gen, guards: kernelGuards } = collectGuards(() => backend.generate(k));
    for (const g of kernelGuards) if (!guards.some((h) => JSON.stringify(h) === JSON.stringify(g))) guards.push(g);
    const name = kernelName(gen.source);
    const source = gen.source.split(KERNEL_NAME_PLACEHOLDER).join(name);
    const req = makeCompileRequest({ ...targetOf(gen), kernelName: name, source, compilerIdentity: backend.identity, options: gen.options });
    bump('kernels_generated');
    end({ kernel: req.key });
    if (debugEnabled('source')) debugPrint('source', `// ${name} (key ${req.key})\n${source}`);
    planKernels.push({ key: req.key, name, ...targetOf(gen) });
    if (seen.has(req.key)) continue;
    seen.add(req.key);
    unique.push(req);
    if (early && submit) {
      submit(req);
      await yieldToEventLoop();
    }
  }
  if (!early && submit) for (const r of unique) submit(r);
  return { planKernels, guards };
}

// Runs a plan on the CPU: kernels are koffi functions over host buffers. Inputs and
// parameters are passed in place (no copy), temporaries live in one arena allocated once per
// program (dead buffers' bytes are reused, as the memory plan says), and each output is a
// fresh typed array that becomes the returned NDArray.

import { type AnyTypedArray, allocTyped, numbersToTyped, viewTyped } from '../../graph/dtype.js';
import { numel } from '../../graph/shape.js';
import { NDArray } from '../../frontend/ndarray.js';
import type { Plan, PlanBuffer } from '../../schedule/plan.js';
import type { Executable } from '../backend.js';
import type { LoadedCKernel } from './loader.js';
import { traceSpan } from '../../observe/trace.js';
import { checkInputs } from '../../schedule/check_inputs.js';

type KernelFn = (...args: unknown[]) => void;

export class CpuExecutable implements Executable {
  private readonly fns: KernelFn[];
  private readonly fixed: (AnyTypedArray | undefined)[];

  constructor(
    private readonly plan: Plan,
    loaded: readonly LoadedCKernel[],
  ) {
    this.fns = plan.kernels.map((pk, i) => {
      const n = plan.steps.find((s) => s.kernel === i)?.args.length ?? 0;
      return loaded[i]!.lib.func(pk.name, 'void', new Array<string>(n).fill('void *')) as KernelFn;
    });
    const arena = new ArrayBuffer(Math.max(plan.arenaBytes, 8));
    this.fixed = plan.buffers.map((b) => fixedBuffer(b, arena));
  }

  async run(inputs: readonly NDArray[], params: readonly NDArray[]): Promise<NDArray[]> {
    checkInputs(this.plan, inputs, params);
    const end = traceSpan('run', 'cpu plan');
    const bufs = this.plan.buffers.map((b, i) => {
      switch (b.kind) {
        case 'input':
          return inputs[b.index!]!.toTypedArraySync();
        case 'param':
          return params[b.index!]!.toTypedArraySync();
        case 'output':
          return allocTyped(b.dtype, numel(b.shape));
        default:
          return this.fixed[i]!;
      }
    });
    for (const step of this.plan.steps) this.fns[step.kernel]!(...step.args.map((a) => bufs[a]));
    end();
    return this.plan.outputs.map((o) => {
      const b = this.plan.buffers[o]!;
      return NDArray.from(bufs[o]!, b.shape, { dtype: b.dtype });
    });
  }
}

function fixedBuffer(b: PlanBuffer, arena: ArrayBuffer): AnyTypedArray | undefined {
  if (b.kind === 'temp') return viewTyped(b.dtype, arena, b.offset!, numel(b.shape));
  // Constants are kept as numbers in the plan (half types as values, encoded here).
  if (b.kind === 'const') return numbersToTyped(b.dtype, b.data!);
  return undefined;
}


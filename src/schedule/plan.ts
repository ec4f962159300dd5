// The host program ("plan"): which buffers exist, which kernel runs on which buffers, in
// order. It is plain JSON so the graph cache can store it beside the kernel binaries and a
// warm start can run it without lowering or codegen.

import type { KernelTarget } from '../cache/compiled_kernel.js';
import type { DType } from '../graph/dtype.js';

export type BufferKind = 'input' | 'param' | 'const' | 'temp' | 'output';

export interface PlanBuffer {
  id: number;
  kind: BufferKind;
  dtype: DType;
  shape: number[];
  /** For input/param buffers: position among the user inputs or among the parameters. */
  index?: number;
  /** For const buffers: the values. */
  data?: number[];
  /** For temp buffers: byte offset in the plan's arena (buffers whose lifetimes do not overlap share bytes). */
  offset?: number;
}

/** A kernel the plan launches: its key, name, and backend with its launch metadata. */
export type PlanKernel = KernelTarget & {
  key: string;
  name: string;
};

export interface PlanStep {
  kernel: number;
  /** Buffer id for each kernel parameter, in parameter order. */
  args: number[];
}

export interface Plan {
  device: 'cpu' | 'cuda';
  buffers: PlanBuffer[];
  kernels: PlanKernel[];
  steps: PlanStep[];
  /** Buffer id of each graph output, in order. */
  outputs: number[];
  arenaBytes: number;
  returnsArray: boolean;
  /** For `kiln inspect`: each kernel's kind and the graph ops it computes. */
  info: { kind: string; ops: string[] }[];
}

export function fmtPlan(p: Plan): string {
  const lines = [`plan (${p.device}) arena ${p.arenaBytes} B`];
  for (const b of p.buffers) {
    lines.push(`  buf${b.id} ${b.kind}${b.index !== undefined ? `#${b.index}` : ''} ${b.dtype}[${b.shape}]${b.offset !== undefined ? ` @${b.offset}` : ''}`);
  }
  for (const s of p.steps) lines.push(`  ${p.kernels[s.kernel]!.name}(${s.args.map((a) => `buf${a}`).join(', ')})`);
  lines.push(`  return ${p.outputs.map((o) => `buf${o}`).join(', ')}`);
  return lines.join('\n');
}

// schedule(): a graph → its kernels and the host plan. Realize (which nodes get buffers), fuse
// (kernel formation), finalize (stores, parameters, buffer table, arena), then codegen, each
// kernel submitted for compilation the moment its source is final (codegen_driver.ts).

import type { Graph } from '../graph/ir.js';
import { fmtGraph } from '../graph/print.js';
import { debugEnabled, debugPrint } from '../observe/log.js';
import { withSpan } from '../observe/trace.js';
import type { Backend } from './backend.js';
import { codegenAndSubmit, type SubmitFn } from './codegen_driver.js';
import { finalize } from './finalize.js';
import { formKernels } from './fuse.js';
import { fmtFusionPlan } from './fusion_plan.js';
import { fmtPlan, type Plan } from './plan.js';
import { realize } from './realize.js';
import { isSymbolic } from '../graph/ir.js';
import { planSymbols, rangeGuards, sliceGuards } from './plan_symbols.js';
import { addGuard } from '../graph/sym.js';

/**
 * Schedules a graph into kernels and the plan, submitting each kernel's compile during codegen.
 * `onKernels` hears how many kernels there will be as soon as that is known (before codegen).
 */
export async function schedule(
  graph: Graph,
  backend: Backend,
  submit: SubmitFn | undefined,
  returnsArray: boolean,
  onKernels?: (count: number) => void,
): Promise<{ plan: Plan }> {
  if (debugEnabled('graph')) debugPrint('graph', fmtGraph(graph));
  const r = withSpan('schedule', 'realize', () => realize(graph, { im2colMinMacs: backend.im2colMinMacs, im2colMaxTiles: backend.im2colMaxTiles, im2colMinDepth: backend.im2colMinDepth, windowInputs: backend.realizesWindowInputs }));
  const s = withSpan('schedule', 'fuse', () => formKernels(graph, r));
  const f = withSpan('schedule', 'finalize', () => finalize(graph, r, s));
  if (debugEnabled('schedule')) debugPrint('schedule', fmtFusionPlan(graph, s));
  onKernels?.(f.kernels.length);
  await backend.prepareCodegen?.();
  const { planKernels, guards } = await codegenAndSubmit(f.kernels, backend, submit);
  const plan: Plan = {
    device: backend.device,
    buffers: f.buffers,
    kernels: planKernels,
    steps: f.args.map((args, kernel) => (f.kernels[kernel]!.sym ? { kernel, args, sizes: f.kernels[kernel]!.sym!.sizes } : { kernel, args })),
    outputs: f.outputs,
    arenaBytes: f.arenaBytes,
    returnsArray,
    info: f.kernels.map((k, i) => ({ kind: k.kind, ops: f.kernelNodes[i]!.map((n) => graph.node(n).op) })),
  };
  if (isSymbolic(graph)) {
    plan.symbols = planSymbols(graph);
    plan.guards = [];
    for (const g of [...rangeGuards(plan.symbols), ...sliceGuards(graph), ...graph.guards, ...guards]) addGuard(plan.guards, g);
  }
  if (debugEnabled('plan')) debugPrint('plan', fmtPlan(plan));
  return { plan };
}

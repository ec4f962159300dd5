// The CUDA symbolic emulation harness shared by test/cuda_symbolic.test.ts (traced functions)
// and test/cuda_symbolic_models.test.ts (ONNX exports): a graph over symbolic sizes scheduled
// by the CUDA backend (compile only), and each call's buffers, launches and products as the
// CUDA runtime would make them under that call's sizes, for the block emulator.

import assert from 'node:assert/strict';

import { CudaBackend } from '../src/backends/cuda/backend.js';
import type { CudaKernelMeta } from '../src/backends/cuda/kernel_text.js';
import { symLaunchFn } from '../src/backends/cuda/sym_launch.js';
import { byteSize, numbersToTyped, type AnyTypedArray } from '../src/graph/dtype.js';
import type { NDArray } from '../src/graph/ndarray.js';
import { numel } from '../src/graph/shape.js';
import type { Traced } from '../src/frontend/trace.js';
import { checkInputs } from '../src/schedule/check_inputs.js';
import type { Plan } from '../src/schedule/plan.js';
import { planSizes, shapeUnder } from '../src/schedule/plan_sizes.js';
import { layOutSymbolicTemps } from '../src/schedule/memory_plan.js';
import { schedule } from '../src/schedule/schedule.js';
import type { EmulatedCall, EmulatedKernel } from './cuda_block_emulator.js';

export interface Scheduled {
  plan: Plan;
  sources: Map<string, string>;
  params: NDArray[];
}

/** A traced graph (symbolic dims in its inputs' `sym`) scheduled by the CUDA backend, compile only; `cublas`: products through cuBLAS (as where the library is installed). */
export async function scheduleTraced(t: Traced, cublas = false): Promise<Scheduled> {
  const saved = process.env.KILN_CUBLAS;
  // Any existing file makes the backend take cuBLAS for products (the library is only opened at run time).
  if (cublas) process.env.KILN_CUBLAS = process.execPath;
  try {
    const backend = new CudaBackend({ compileOnly: true, arch: 'sm_90' });
    const sources = new Map<string, string>();
    const { plan } = await schedule(t.graph, backend, (req) => sources.set(req.kernelName, req.source), true);
    return { plan, sources, params: t.params };
  } finally {
    if (saved === undefined) delete process.env.KILN_CUBLAS;
    else process.env.KILN_CUBLAS = saved;
  }
}

export const bytesOf = (a: AnyTypedArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The emulator's kernels: each plan kernel with its parameters' dtypes (from a step that launches it). */
export function emulatedKernels(s: Scheduled): EmulatedKernel[] {
  return s.plan.kernels.map((pk, i) => {
    const meta = pk.meta as CudaKernelMeta;
    const step = s.plan.steps.find((st) => st.kernel === i)!;
    const product = meta.gemm ?? meta.sym?.gemm;
    const params = step.args.map((a) => s.plan.buffers[a]!.dtype);
    // The epilogue's source takes the scratch even where the product is direct (never launched then).
    if (product) params.push('float32');
    return { name: pk.name, source: s.sources.get(pk.name)!, meta, params };
  });
}

/** One call of the plan at these inputs, as the CUDA runtime would make it. */
export function callOf(s: Scheduled, inputs: readonly NDArray[]): EmulatedCall {
  const binding = checkInputs(s.plan, inputs, s.params);
  const sizes = planSizes(s.plan);
  // Temporaries live in the plan's arena (static ones) and in the runtimes' arena of symbolic
  // ones, laid out for this binding as they lay it out: both go first, so the others can sit in them.
  const symTemps = layOutSymbolicTemps(s.plan, binding, 256);
  const arenas = [{ bytes: s.plan.arenaBytes }, { bytes: symTemps.bytes }];
  const buffers: EmulatedCall['buffers'] = [...arenas, ...s.plan.buffers.map((b) => {
    const shape = b.dims ? shapeUnder(sizes.buffers.get(b.id)!, binding) : b.shape;
    const bytes = numel(shape) * byteSize(b.dtype);
    if (b.kind === 'input') return { bytes, data: bytesOf(inputs[b.index!]!.toTypedArraySync()) };
    if (b.kind === 'param') return { bytes, data: bytesOf(s.params[b.index!]!.toTypedArraySync()) };
    if (b.kind === 'const') return { bytes, data: bytesOf(numbersToTyped(b.dtype, b.data!)) };
    if (b.kind === 'temp' && !b.dims) return { bytes, in: { buffer: 0, offset: b.offset! } };
    if (b.kind === 'temp' && symTemps.offsets.has(b.id)) return { bytes, in: { buffer: 1, offset: symTemps.offsets.get(b.id)! } };
    return { bytes };
  })];
  const id = (b: number) => b + arenas.length;
  const steps: EmulatedCall['steps'] = [];
  for (const step of s.plan.steps) {
    const meta = s.plan.kernels[step.kernel]!.meta as CudaKernelMeta;
    assert.ok(!meta.workspace, 'the emulator runs no split reductions');
    const sym = meta.sym ? symLaunchFn(meta)(binding) : undefined;
    const gemm = meta.gemm ?? sym?.gemm;
    const args = step.args.map(id);
    if (gemm) {
      const out = gemm.direct === undefined ? buffers.push({ bytes: gemm.batch * gemm.M * gemm.N * 4 }) - 1 : args[gemm.direct]!;
      steps.push({ kind: 'gemm', gemm, args: [...args], out });
      if (gemm.direct !== undefined) continue;
      args.push(out);
    }
    const { grid, block } = sym ?? meta.launch;
    if (grid[0] * grid[1] * grid[2] === 0) continue;
    steps.push({ kind: 'launch', kernel: step.kernel, grid, block, args, sizes: sym?.sizes ?? [] });
  }
  return { buffers, steps, outputs: s.plan.outputs.map(id) };
}

/** Output i of an emulated call, as an array of its shape under the call's sizes. */
export function outputShape(s: Scheduled, inputs: readonly NDArray[], i: number): number[] {
  const binding = checkInputs(s.plan, inputs, s.params);
  const b = s.plan.buffers[s.plan.outputs[i]!]!;
  return b.dims ? shapeUnder(planSizes(s.plan).buffers.get(b.id)!, binding) : [...b.shape];
}

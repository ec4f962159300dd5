// What the scheduler and the program need from a target: kernel source generation (with
// the compile options and launch metadata that go with it), the compiler's identity for
// cache keys, and a runtime that executes a plan with loaded kernels.

import type { BackendName, KernelTarget } from '../cache/compiled_kernel.js';
import type { CompileOptions } from '../compile/types.js';
import type { NDArray } from '../graph/ndarray.js';
import type { Kernel } from '../lower/loop_ir.js';
import type { Plan } from './plan.js';

export const KERNEL_NAME_PLACEHOLDER = '__KILN_KERNEL__';

/**
 * `text` behind an include guard. Kernels compiled as one program (a compile group,
 * compile/compile_group.ts) each carry their preludes, and each prelude must be defined once;
 * so must every other top-level name in a kernel's source (derive it from the kernel's name).
 */
export function includeGuarded(guard: string, text: string): string {
  return `#ifndef ${guard}\n#define ${guard}\n${text}${text.endsWith('\n') ? '' : '\n'}#endif\n`;
}

/** A generated kernel: its source, compile options, and the backend with its launch metadata. */
export type GeneratedSource = KernelTarget & {
  /** Source text with KERNEL_NAME_PLACEHOLDER where the kernel's name goes. */
  source: string;
  options: CompileOptions;
};

/** What a runtime may assume of a program's parameters. */
export interface InstantiateOptions {
  /** The parameters never change (an ONNX model's weights; Traced.immutableParams): a runtime may keep them in another layout too. */
  immutableParams?: boolean;
}

export interface Executable {
  run(inputs: readonly NDArray[], params: readonly NDArray[]): Promise<NDArray[]>;
  /**
   * Frees what the executable allocated for itself (CUDA: its arena, constants, scratch and
   * pointer tables); absent where dropping the references is enough (CPU: memory V8 collects).
   * Called once; the executable is not run afterwards.
   */
  dispose?(): void;
}

export interface Backend {
  readonly name: BackendName;
  readonly device: 'cpu' | 'cuda';
  /** Identifies compiler, version, flags and target: part of every kernel and graph key. */
  readonly identity: string;
  /**
   * Most kernels one compile may take together as one program (compile/compile_group.ts), for
   * backends whose sources can be concatenated; absent: each kernel is its own program.
   */
  readonly maxCompileGroup?: number;
  /** Characters of source at which a compile group is handed on before it is full (compile/compile_group.ts); none: count alone. */
  readonly compileGroupChars?: number;
  /**
   * Matmuls over a window view (convolutions) with at least this many multiply-adds
   * materialise that operand (im2col, one kernel) so a library GEMM can take them; absent:
   * every such operand is read through its index expression (an implicit GEMM). Part of the
   * identity when set, since it changes the plan.
   */
  readonly im2colMinMacs?: number;
  /** With im2colMinMacs: only products of fewer output tiles than this materialise im2col. */
  readonly im2colMaxTiles?: number;
  /** With im2colMaxTiles: products at least this deep materialise im2col whatever their tiles. */
  readonly im2colMinDepth?: number;
  /** Realize the computed value under a window view of several taps (realize.ts windowInputs). */
  readonly realizesWindowInputs?: boolean;
  generate(k: Kernel): GeneratedSource;
  /**
   * Loads what generate() needs, if the backend keeps its code generator out of a warm start
   * (CUDA: the codegen modules are imported on a graph-cache miss only). Called before the
   * first generate(); backends without it are always ready.
   */
  prepareCodegen?(): Promise<void>;
  /**
   * Starts moving the plan's parameters where its runtime reads them, before the kernels load
   * (CUDA: the weights' upload, beside the module loads). Optional: a runtime without it reads
   * parameters where they are, or moves them on its first run.
   */
  prepareParams?(plan: Plan, params: readonly NDArray[]): Promise<void>;
  /**
   * Builds the runtime for a plan once every kernel is loaded (`loaded[i]` for plan.kernels[i]).
   * May be async, to import what only some plans need (CUDA: cuBLAS's module).
   */
  instantiate(plan: Plan, loaded: readonly unknown[], how?: InstantiateOptions): Executable | Promise<Executable>;
}

// The CUDA backend: loop IR → CUDA C (codegen.ts), compiled to cubin by NVRTC or nvcc in the
// workers (compiler.ts), loaded with cuModuleLoadData (loader.ts), run by runtime.ts.

import { SymbolicUnsupportedError } from '../../graph/sym.js';
import { existsSync } from 'node:fs';
import { setting } from '../../config/read.js';
import { SETTINGS } from '../../config/settings.js';
import type { Kernel } from '../../lower/loop_ir.js';
import type { NDArray } from '../../graph/ndarray.js';
import type { Plan } from '../../schedule/plan.js';
import type { Backend, Executable, GeneratedSource } from '../../schedule/backend.js';
import { cudaCompilerIdentity, listDir } from './toolchain.js';
import type { Cublas } from './cublas.js';
import { deviceArch } from './driver.js';
import type { LoadedCudaKernel } from './loader.js';
// Imported with the backend, not by itself on the first kernel load: a warm start would
// otherwise wait on a second dynamic import (each costs ~0.5 ms of module loading).
import './loader.js';
import { CudaExecutable, planParams } from './runtime.js';
import { uploadParams } from './weights.js';

/** Whether a cuBLAS library file exists (checked without initialising CUDA). */
function cublasInstalled(): boolean {
  if (setting('KILN_CUDA_GEMM') === 'generated') return false;
  const explicit = setting('KILN_CUBLAS');
  if (explicit !== undefined) return existsSync(explicit);
  for (const dir of ['/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib', '/usr/lib/x86_64-linux-gnu']) {
    // listDir: the NVRTC search has usually read /usr/local/cuda/lib64 already.
    if (listDir(dir)?.some((f) => /^libcublas\.so\.\d+/.test(f))) return true;
  }
  return false;
}

/**
 * Below this many multiply-adds a product takes the generated GEMM with its epilogue fused:
 * one launch instead of a cuBLAS call plus an epilogue kernel, faster for small products
 * (launch-bound either way), and a program of small products never loads cuBLAS, whose
 * library load, handle and first call cost a warm start ~100 ms. KILN_CUBLAS_MIN_MACS
 * overrides it (0: every eligible product through cuBLAS).
 */
export const DEFAULT_CUBLAS_MIN_MACS = SETTINGS.KILN_CUBLAS_MIN_MACS.default;

/**
 * The code generator and its modules (split/column reductions, scans, …), imported on the first
 * graph-cache miss: a warm start never generates code, and importing them cost ~2–5 ms of it.
 */
let codegen: typeof import('./codegen.js') | undefined;
let loadingCodegen: Promise<void> | undefined;

/** One cuBLAS handle per math mode, shared by every plan of the process. */
/**
 * Which convolutions (matmuls over a window view) materialise their im2col matrix in one
 * kernel so cuBLAS takes the product: by default those of at least 1M multiply-adds whose
 * product has fewer than 128 of the generated GEMM's 64×64 output tiles (fewer blocks than
 * the GPU has SMs: ResNet-18's later layers at batch 1, 8–49 tiles each, ran 5.07 ms a call
 * as implicit GEMMs and 1.00 ms through cuBLAS on the H200, bench/RESULTS.md); the others stay
 * implicit GEMMs, which fill the GPU (MobileNetV2's stem: 1.10 ms implicit, 1.48 ms with every
 * conv through im2col), and those of a reduction at least 1024 deep whatever their tiles: the
 * generated GEMM stages a deep K in 16-deep slices from the window's index expression, and
 * Whisper's second conv (K = 1536, 192 tiles) took 0.28 ms of a 3.9 ms call that way on an
 * H100, where cuBLAS on its im2col took the call to 3.75 ms. KILN_IM2COL_MIN_MACS=N instead takes every conv of N or more
 * multiply-adds through im2col, whatever its tiles (for A/B runs).
 */
const IM2COL_DEFAULT_MIN_MACS = 1 << 20;
const IM2COL_DEFAULT_MAX_TILES = 128;
const IM2COL_DEFAULT_MIN_DEPTH = 1024;

/**
 * The settings of a program that the CUDA backend reads (api/ hands them over from the user's
 * CompileOptions): the backend knows nothing of the user-facing options type.
 */
export interface CudaBackendOptions {
  /** Target architecture, e.g. 'sm_90'; default: the device's (compileOnly: KILN_CUDA_ARCH, else sm_90). */
  arch?: string;
  /** Generate and compile only: no device is touched (there may be none). */
  compileOnly?: boolean;
  /** Let cuBLAS use TF32 tensor cores for float32 products. */
  allowTF32?: boolean;
}

export class CudaBackend implements Backend {
  readonly name = 'cuda' as const;
  readonly device = 'cuda' as const;
  readonly arch: string;
  readonly useCublas: boolean;
  /** Products with fewer multiply-adds take the generated GEMM (see cublasMinMacs). */
  readonly cublasMinMacs: number;
  readonly identity: string;
  readonly im2colMinMacs: number;
  readonly im2colMaxTiles?: number;
  readonly im2colMinDepth?: number;
  /** NVRTC's fixed cost is ~10 ms a program, a small kernel adds ~1 ms: groups of up to 8. */
  readonly maxCompileGroup = 8;

  constructor(private readonly options: CudaBackendOptions) {
    // Compile-only runs must not touch a device (there may be none); otherwise ask it.
    this.arch = options.arch ?? (options.compileOnly ? (setting('KILN_CUDA_ARCH') ?? 'sm_90') : deviceArch());
    this.useCublas = cublasInstalled();
    this.cublasMinMacs = setting('KILN_CUBLAS_MIN_MACS');
    // The threshold decides which kernels a plan has, so it is part of the graph key too.
    this.identity = `${cudaCompilerIdentity(this.arch)}|gemm=${this.useCublas ? `cublas>=${this.cublasMinMacs}` : 'generated'}|tf32=${options.allowTF32 ? 1 : 0}`;
    const im2col = setting('KILN_IM2COL_MIN_MACS');
    this.im2colMinMacs = im2col ?? IM2COL_DEFAULT_MIN_MACS;
    if (im2col === undefined) {
      this.im2colMaxTiles = IM2COL_DEFAULT_MAX_TILES;
      this.im2colMinDepth = IM2COL_DEFAULT_MIN_DEPTH;
    }
    this.identity += `|im2col>=${this.im2colMinMacs}${this.im2colMaxTiles === undefined ? '' : `,tiles<${this.im2colMaxTiles}|K>=${this.im2colMinDepth}`}`;
  }

  prepareCodegen(): Promise<void> {
    loadingCodegen ??= import('./codegen.js').then((m) => {
      codegen = m;
    });
    return loadingCodegen;
  }

  generate(k: Kernel): GeneratedSource {
    // Grids, workspaces and the cuBLAS thresholds are chosen by size: not per call yet.
    if (k.sym) throw new SymbolicUnsupportedError('CUDA kernels over symbolic sizes', k.sym.sizes);
    if (codegen === undefined) throw new Error('CudaBackend.generate() before prepareCodegen(): the code generator is loaded on a graph-cache miss');
    const g = codegen.generateCuda(k, this.useCublas ? this.cublasMinMacs : Infinity);
    return { source: g.source, options: { arch: this.arch }, backend: 'cuda', meta: g.meta };
  }

  /** Uploads the plan's weights in large transfers, overlapping the module loads that follow. */
  prepareParams(plan: Plan, params: readonly NDArray[]): Promise<void> {
    // cuBLAS's load and handle start on the thread pool now, beside the uploads and module
    // loads, instead of at instantiation (a plan whose products all took the generated GEMM
    // loads it for nothing: cheap, and such plans are small).
    if (this.useCublas && plan.info.some((i) => i.kind === 'matmul')) {
      const allowTF32 = this.options.allowTF32 === true;
      import('./cublas.js').then((m) => m.startCublasEarly(allowTF32), () => {});
    }
    return uploadParams(planParams(plan, params));
  }

  async instantiate(plan: Plan, loaded: readonly unknown[]): Promise<Executable> {
    const kernels = loaded as LoadedCudaKernel[];
    let cublas: Cublas | undefined;
    if (kernels.some((k) => k.meta.gemm)) {
      // Only plans with cuBLAS products import its module (and load the library).
      const { cublasFor } = await import('./cublas.js');
      cublas = await cublasFor(this.options.allowTF32 === true);
    }
    return new CudaExecutable(plan, kernels, cublas);
  }
}

// What every generated C kernel shares: the source record, the dialect (buffers are
// parameters b0, b1, …), the signatures named by the kernel-name placeholder (the body
// function's and the exported entry's), the header, and when a kernel is big enough to split
// across cores.
//
// A kernel's one exported symbol takes ONE argument, the block of its buffer pointers in
// parameter order (`void name(void *const *args)`), however many buffers it has: koffi
// declares at most 64 parameters a function, and fused kernels of real models pass that.
// The entry unpacks the block into the restrict-qualified typed parameters of the body
// function, which holds the loops exactly as before. The body is a function, not the entry
// with restrict locals, because gcc ignores restrict on local pointers: unpacked into locals,
// the pointwise and softmax loops were versioned for possible aliasing (more code, a runtime
// overlap check); and `noinline` so the body compiles to the same instructions it did as the
// exported function (inlined, gcc changed how the GEMM packs its B panel). The entry is a
// few loads and one call.

import type { PackWhen } from '../../cache/kernel_meta.js';
import { byteSize } from '../../graph/dtype.js';
import type { Kernel } from '../../lower/loop_ir.js';
import { includeGuarded, KERNEL_NAME_PLACEHOLDER } from '../../schedule/backend.js';
import { symCName } from '../../lower/sym_index.js';
import { C_HALF_PRELUDE, C_INT_PRELUDE, C_PRELUDE, type EmitDialect, cStorageType } from '../c_expr.js';

/** Work (elements touched) above which a kernel's outer loop runs on several threads. */
export const PARALLEL_MIN_WORK = 1 << 17;

export interface CSource {
  /** Source with the kernel name left as KERNEL_NAME_PLACEHOLDER (the name comes from its hash). */
  body: string;
  /** Whether the kernel uses OpenMP threads (needs -fopenmp). */
  parallel: boolean;
  /** Extra compiler flags this kernel wants. */
  flags?: string[];
  /** A symbolic kernel that chooses its threads per call itself (an OpenMP if clause): no second variant. */
  threadsInside?: boolean;
  /** A product that may read its B packed once (tiled_gemm.ts packedBFunctions): B's buffer index. */
  packB?: number;
  /** Such a product over a symbolic M that takes the few-row kernels at `above` rows or fewer: M's formula. */
  packWhen?: PackWhen;
}

/** The body's parameter, after the sizes, of a product that may read its B packed once (NULL: pack per call). */
export const PACKED_B_PARAM = 'kiln_bpre';

export const dialect: EmitDialect = {
  load: (buf, index) => `b${buf}[${index}]`,
  acc: (id) => `acc${id}`,
};

/** Buffer i's C pointer type: `const float*` for inputs, `float*` for outputs. */
function pointerType(k: Kernel, i: number): string {
  const b = k.bufs[i]!;
  return `${b.role === 'in' ? 'const ' : ''}${cStorageType(b.dtype)}*`;
}

/**
 * The body function's signature: buffers as restrict parameters b0, b1, …, then a symbolic
 * kernel's sizes (int64_t, named by lower/sym_index.ts's symCName), then, for a product that
 * may read its B packed once (`packedB`), the packed panels; entryPoint calls it.
 */
export function signature(k: Kernel, packedB = false): string {
  const params = k.bufs.map((_, i) => `${pointerType(k, i)} restrict b${i}`);
  for (const s of k.sym?.sizes ?? []) params.push(`const int64_t ${symCName(s)}`);
  if (packedB) params.push(`const float* restrict ${PACKED_B_PARAM}`);
  return `static __attribute__((noinline)) void ${KERNEL_NAME_PLACEHOLDER}_body(${params.join(', ')})`;
}

/**
 * The exported symbol: takes the block of buffer pointers and calls the body with them. A
 * symbolic kernel's sizes follow the pointers in the block, each a pointer-sized integer; then
 * a product's packed B (`packedB`: packedBSlot), a pointer or NULL.
 */
export function entryPoint(k: Kernel, packedB = false): string {
  const args = k.bufs.map((_, i) => `\n    (${pointerType(k, i)})args[${i}]`);
  (k.sym?.sizes ?? []).forEach((_, j) => args.push(`\n    (int64_t)(intptr_t)args[${k.bufs.length + j}]`));
  if (packedB) args.push(`\n    (const float*)args[${packedBSlot(k)}]`);
  return `void ${KERNEL_NAME_PLACEHOLDER}(void *const *args) {\n  ${KERNEL_NAME_PLACEHOLDER}_body(${args.join(',')});\n}\n`;
}

/**
 * The includes and helpers; the half and integer helpers only for kernels that call them.
 * Include-guarded, so kernels of a compile group can share one translation unit.
 */
export function header(half: boolean, ints: boolean): string {
  return (
    `#include <math.h>\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n${includeGuarded('KILN_C_PRELUDE', C_PRELUDE)}` +
    `${half ? includeGuarded('KILN_C_HALF_PRELUDE', C_HALF_PRELUDE) : ''}${ints ? includeGuarded('KILN_C_INT_PRELUDE', C_INT_PRELUDE) : ''}`
  );
}

/** Where a product's packed B goes in its block: after the buffers and the sizes. */
export function packedBSlot(k: Kernel): number {
  return k.bufs.length + (k.sym?.sizes.length ?? 0);
}

export function totalWork(k: Kernel): number {
  return Math.max(...k.bufs.map((b) => b.numel * byteSize(b.dtype)), 1);
}

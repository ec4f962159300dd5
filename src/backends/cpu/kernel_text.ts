// What every generated C kernel shares: the source record, the dialect (buffers are
// parameters b0, b1, …), the signature named by the kernel-name placeholder, the header, and
// when a kernel is big enough to split across cores.

import { byteSize } from '../../graph/dtype.js';
import type { Kernel } from '../../lower/loop_ir.js';
import { includeGuarded, KERNEL_NAME_PLACEHOLDER } from '../backend.js';
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
}

export const dialect: EmitDialect = {
  load: (buf, index) => `b${buf}[${index}]`,
  acc: (id) => `acc${id}`,
};

export function signature(k: Kernel): string {
  const params = k.bufs.map((b, i) => `${b.role === 'in' ? 'const ' : ''}${cStorageType(b.dtype)}* restrict b${i}`);
  return `void ${KERNEL_NAME_PLACEHOLDER}(${params.join(', ')})`;
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

export function totalWork(k: Kernel): number {
  return Math.max(...k.bufs.map((b) => b.numel * byteSize(b.dtype)), 1);
}

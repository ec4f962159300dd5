// The table of supported ONNX operators (default domain), by family.

import { activationOps } from './activations.js';
import { controlOps } from './control.js';
import { einsumOps } from './einsum.js';
import { elementwiseOps } from './elementwise.js';
import { generatorOps } from './generators.js';
import { indexingOps } from './indexing.js';
import { nnOps } from './nn.js';
import { poolOps } from './pool.js';
import { reduceOps } from './reduce.js';
import { shapeOps } from './shape.js';
import type { OpTable } from './types.js';

export type { OpDef, OpTable } from './types.js';

export function opTable(baseDir: string | undefined): OpTable {
  return {
    ...elementwiseOps,
    ...activationOps,
    ...reduceOps,
    ...shapeOps,
    ...indexingOps,
    ...generatorOps(baseDir),
    ...nnOps,
    ...einsumOps,
    ...poolOps,
    ...controlOps,
  };
}

/** Names of every supported operator (for docs and `kiln inspect`). */
export function supportedOps(): string[] {
  return Object.keys(opTable(undefined)).sort();
}

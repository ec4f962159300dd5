// The shape of an op converter. `check` reports what kiln cannot do with a node from its
// attributes alone, so the loader can list every problem of a model before building
// anything; `convert` then builds the node's outputs.

import type { ConvertContext } from '../context.js';
import type { Val } from '../emit.js';
import type { OnnxNode } from '../node.js';

export interface OpDef {
  /** Attribute values kiln cannot handle, as messages without the node's name. */
  check?(node: OnnxNode): string[];
  /** The node's outputs, in order (fewer than node.outputs when trailing ones are unused). */
  convert(ctx: ConvertContext, node: OnnxNode): Val[];
}

export type OpTable = Record<string, OpDef>;

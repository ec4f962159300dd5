// A dynamic model's symbolic dims (ONNX dim_param) get their sizes from each run's feeds: the
// "binding". ONNX's rule is that one dim_param name is one size across the graph's inputs, so
// a feed that contradicts another is refused here, naming both, before anything is built.

import { fmtShape } from '../graph/shape.js';
import { OnnxInputError } from './errors.js';
import type { Dim, ModelInput } from './model_api.js';

/** Sizes of a model's symbolic dims for one run, by symbol (symbolOf). */
export type Binding = ReadonlyMap<string, number>;

/** The symbol a symbolic dim binds: its dim_param, or for an unnamed dim ('?') one of its own, `input[k]`. */
export function symbolOf(input: string, k: number, d: string): string {
  return d === '?' ? `${input}[${k}]` : d;
}

/** Whether any input has a symbolic dim (the model then builds per binding, at its first run). */
export function hasSymbolicDims(inputs: readonly ModelInput[]): boolean {
  return inputs.some((i) => i.dims.some((d) => typeof d === 'string'));
}

function fmtDims(dims: readonly Dim[]): string {
  return `[${dims.join(',')}]`;
}

/** What a feed or -i file is checked against: the input and the shape it came with. */
export interface FedShape {
  input: ModelInput;
  shape: readonly number[];
  /** The feed's dtype, when it has to match the input's. */
  dtype?: string;
}

/**
 * Checks each feed's dtype, rank and sizes against its input's dims and binds the symbolic ones
 * (the CLI binds the shapes of its -i files and --shape flags alone: no dtype, no file name).
 * `pinnedHint` (non-empty when options.inputShapes pinned shapes) is added to a size mismatch,
 * since the model would otherwise have accepted the size. Throws OnnxInputError.
 */
export function bindFeeds(file: string, fed: readonly FedShape[], pinnedHint = ''): Map<string, number> {
  const binding = new Map<string, number>();
  const boundBy = new Map<string, { input: string; k: number }>();
  const at = file ? `${file}: ` : '';
  for (const { input, shape, dtype } of fed) {
    const { name, dims } = input;
    const got = `${dtype ?? ''}${fmtShape(shape)}`;
    const fits = shape.length === dims.length && dims.every((d, k) => typeof d !== 'number' || d === shape[k]);
    if ((dtype !== undefined && dtype !== input.dtype) || !fits) {
      const rank = shape.length !== dims.length ? ` (rank ${dims.length}, got rank ${shape.length})` : '';
      throw new OnnxInputError(`${at}input '${name}' expects ${input.dtype}${fmtDims(dims)}, got ${got}${rank}${fits ? '' : pinnedHint}`);
    }
    dims.forEach((d, k) => {
      if (typeof d === 'number') return;
      const sym = symbolOf(name, k, d);
      const size = shape[k]!;
      const had = binding.get(sym);
      if (had === undefined) {
        binding.set(sym, size);
        boundBy.set(sym, { input: name, k });
      } else if (had !== size) {
        const by = boundBy.get(sym)!;
        throw new OnnxInputError(
          `${at}input '${name}' dim ${k} is '${d}' = ${size}, but input '${by.input}' dim ${by.k} gave '${d}' = ${had} (a symbolic dim has one size in every input; got ${got})`,
        );
      }
    });
  }
  return binding;
}

/** The inputs with every symbolic dim replaced by its size in `binding` (which holds them all). */
export function concreteInputs(inputs: readonly ModelInput[], binding: Binding): ModelInput[] {
  return inputs.map((i) => {
    const dims = i.dims.map((d, k) => (typeof d === 'number' ? d : binding.get(symbolOf(i.name, k, d))!));
    return { ...i, dims, shape: [...dims] };
  });
}

/** A binding's entries in symbol order (for keys, which must not depend on the order of binding). */
export function bindingEntries(binding: Binding): [string, number][] {
  return [...binding].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A binding as text for messages: `batch=3, seq=7`. */
export function fmtBinding(binding: Binding): string {
  return bindingEntries(binding).map(([k, v]) => `${k}=${v}`).join(', ');
}

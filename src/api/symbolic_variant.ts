// A dynamic ONNX model on one symbolic program: its dim_params become size symbols (hints: the
// first run's feeds), the graph is converted over them and compiled by compileSymbolic
// (symbolic_compile.ts, the same machinery as compile(fn, { dynamic }): the second build at
// other sizes proves the program does not depend on its hints). The program is a shape
// variant (shape_variants.ts) whose `accepts(binding)` is its guards; a binding they refuse,
// or a model the symbolic build refuses, takes per-shape variants, and `status()` says which
// path the model took and why (inspect().symbolic).

import { type Binding, concreteInputs, fmtBinding, symbolOf } from '../onnx/binding.js';
import type { ParsedModel } from '../onnx/check.js';
import type { ConstTensor } from '../onnx/const_tensor.js';
import { NeedsInputValues } from '../onnx/context.js';
import { type Conversion, graphInputs } from '../onnx/convert.js';
import type { InputSpec, Traced } from '../frontend/trace.js';
import type { NDArray } from '../graph/ndarray.js';
import { type Dim, GuardFailure, SYM_MIN, SymbolicUnsupportedError } from '../graph/sym.js';
import { debugEnabled, debugPrint } from '../observe/log.js';
import { bump } from '../observe/counters.js';
import { bindSizes } from '../schedule/plan_sizes.js';
import type { SymbolicStatus } from './onnx_model_api.js';
import type { Program } from './program.js';
import type { ShapeVariant } from './shape_variants.js';
import type { GraphBuilder, SymbolGroup } from './symbolic_compile.js';

/** A model's graph made ready for compileSymbolic: the arguments it takes and the conversion at the hints. */
export interface SymbolicGraph {
  /** The runtime inputs' feeds: their sizes are the hints. */
  inputs: NDArray[];
  /** Per runtime input, per dim: whether it is a dim_param (a size symbol unless its size is 0). */
  symbolic: boolean[][];
  /** Dims of one dim_param share one symbol (not dims of equal sizes: two names may differ). */
  group: SymbolGroup;
  build: GraphBuilder;
  /** The conversion last built at these input sizes (compileSymbolic's hints: its program was compiled from it). */
  builtAt(shapes: readonly (readonly number[])[]): Conversion | undefined;
  /** The binding of the dim_params at these specs' sizes (at its hints, a binding the program serves). */
  bindingOf(specs: readonly InputSpec[]): Binding;
  /** The runtime inputs' shapes under a binding (for Program.accepts). */
  runtimeShapes(b: Binding): number[][];
}

/**
 * The model's graph as compileSymbolic builds it: at given specs, the model's inputs sized by
 * their hints and the dim_params as symbols (`convert` is the model's buildGraph with `sym`).
 * A value input with a symbolic dim is refused (its value would be one size's).
 */
export function symbolicGraph(
  m: ParsedModel,
  fixed: ReadonlyMap<string, ConstTensor>,
  feeds: Readonly<Record<string, NDArray>>,
  convert: (m: ParsedModel, sym: ReadonlyMap<string, readonly Dim[]>) => Conversion,
): SymbolicGraph {
  const all = graphInputs(m);
  const valued = all.filter((g) => fixed.has(g.name) && g.from.dims.some((d) => typeof d === 'string'));
  if (valued.length > 0) throw new SymbolicUnsupportedError(`value input(s) ${valued.map((g) => `'${g.name}'`).join(', ')} with symbolic dims`);
  const inputs = all.filter((g) => !fixed.has(g.name));
  const symbolOfDim = (i: number, k: number): string | undefined => {
    const { from } = inputs[i]!;
    const d = from.dims[k];
    return typeof d === 'string' ? symbolOf(from.name, k, d) : undefined;
  };
  const built = new Map<string, Conversion>();
  const bindingOf = (specs: readonly InputSpec[]): Binding => {
    const at = new Map<string, number>();
    specs.forEach((s, i) => s.shape.forEach((n, k) => {
      const name = symbolOfDim(i, k);
      if (name !== undefined) at.set(name, n);
    }));
    return at;
  };
  const build: GraphBuilder = (specs: readonly InputSpec[]): Traced => {
    const at = bindingOf(specs);
    const sym = new Map<string, readonly Dim[]>();
    specs.forEach((s, i) => s.sym?.some((d) => typeof d !== 'number') && sym.set(inputs[i]!.name, s.sym));
    const conv = convert({ ...m, inputs: concreteInputs(m.inputs, at) }, sym);
    built.set(JSON.stringify(specs.map((s) => s.shape)), conv);
    return conv.traced;
  };
  return {
    inputs: inputs.map((g) => feeds[g.name]!),
    symbolic: inputs.map((g) => g.from.dims.map((d) => typeof d === 'string')),
    group: (i, k) => symbolOfDim(i, k)!,
    build,
    builtAt: (shapes) => built.get(JSON.stringify(shapes)),
    bindingOf,
    runtimeShapes: (b) => {
      const concrete = new Map(concreteInputs(m.inputs, b).map((i) => [i.name, i.shape]));
      return inputs.map((g) => [...concrete.get(g.from.name)!]);
    },
  };
}

/** Why a symbolic program does not serve a binding: the guard it breaks, or a dim it holds static. */
export function guardRefusal(program: Program, shapes: readonly (readonly number[])[]): string {
  try {
    bindSizes(program.plan, shapes.map((shape) => ({ shape })));
  } catch (e) {
    if (e instanceof GuardFailure) return e.message;
    throw e;
  }
  return `a dim the program holds static has another size (inputs ${JSON.stringify(shapes)})`;
}

/** A symbolic variant as the attempts see it. */
export interface SymbolicVariant extends ShapeVariant {
  /** Set when the variant was disposed (evicted): the next miss tries a symbolic program again. */
  retired?: boolean;
  /** Why its program does not serve this binding (only asked when accepts() said no). */
  refusal(binding: Binding): string;
}

interface Attempt<V extends SymbolicVariant> {
  pending: Promise<V | undefined>;
  variant?: V;
  refused?: string;
}

/**
 * A dynamic model's attempts at a symbolic program, one per value key: made at the first miss
 * whose dim_params are all at least SYM_MIN (a size 1 is a symbol too, built at a hint of 7 or
 * more: symbolic_compile.ts, so a first request of batch 1 gets the program that serves every
 * later batch; an empty dim runs per shape and the attempt waits), shared by the runs that
 * wait for it, not repeated after a refusal (the model runs per shape), made again after the
 * program was evicted.
 */
export class SymbolicAttempts<V extends SymbolicVariant> {
  private readonly byValue = new Map<string, Attempt<V>>();
  private refusal: string | undefined;
  private guardFailures = 0;
  private lastGuardFailure: string | undefined;

  /** `off`: why no attempt is ever made (the loadOnnx option). */
  constructor(private readonly file: string, private readonly off?: string) {}

  /** Whether runs may take a symbolic program at all (not turned off by the loadOnnx option). */
  get enabled(): boolean {
    return this.off === undefined;
  }

  /**
   * The value key's symbolic program for this binding (`make` builds and compiles it, throwing
   * its refusal), or undefined: refused now or before, or its guards refuse these sizes (the
   * caller then builds a per-shape variant). Errors other than refusals are refusals too: a
   * per-shape variant is the path every model took before, never a wrong answer.
   */
  async variantFor(valueKey: string, binding: Binding, make: () => Promise<V>): Promise<V | undefined> {
    let a = this.byValue.get(valueKey);
    if (a?.refused !== undefined) return undefined;
    if (!a || a.variant?.retired) {
      // An empty dim (below SYM_MIN) would be held static, and a program over an empty batch is no
      // program for the others: the attempt waits for a run with no empty dim.
      if ([...binding.values()].some((n) => n < SYM_MIN)) return undefined;
      a = this.start(valueKey, make);
    }
    const v = await a.pending;
    if (!v || v.retired) return undefined;
    if (v.accepts(binding)) return v;
    bump('guard_failures');
    this.guardFailures++;
    this.lastGuardFailure = `${fmtBinding(binding)}: ${v.refusal(binding)}`;
    if (debugEnabled('plan')) debugPrint('plan', `${this.file}: the symbolic program refuses ${this.lastGuardFailure}`);
    return undefined;
  }

  /** Starts the value key's attempt. */
  private start(valueKey: string, make: () => Promise<V>): Attempt<V> {
    const attempt: Attempt<V> = {
      pending: make().then(
        (v) => {
          bump('symbolic_programs');
          attempt.variant = v;
          return v;
        },
        (e: unknown) => {
          // The graph needs input values first: not a refusal (the per-shape build finds them, the next miss tries again).
          if (e instanceof NeedsInputValues) {
            this.byValue.delete(valueKey);
            return undefined;
          }
          attempt.refused = (e as Error).message ?? String(e);
          this.refusal = attempt.refused;
          bump('onnx_symbolic_refusals');
          if (debugEnabled('plan')) debugPrint('plan', `${this.file}: per-shape programs: the symbolic program was refused: ${attempt.refused}`);
          return undefined;
        },
      ),
    };
    this.byValue.set(valueKey, attempt);
    return attempt;
  }

  status(): SymbolicStatus {
    const live = [...this.byValue.values()].some((a) => a.variant && !a.variant.retired);
    const reason = this.off ?? this.refusal;
    const path = live ? 'symbolic' : reason !== undefined ? 'per-shape' : 'untried';
    return {
      path,
      ...(path !== 'symbolic' && reason !== undefined ? { reason } : {}),
      guardFailures: this.guardFailures,
      ...(this.lastGuardFailure !== undefined ? { lastGuardFailure: this.lastGuardFailure } : {}),
    };
  }
}

// A graph compiled over symbolic sizes (compile()'s `dynamic` for a traced function, an ONNX
// model's symbolic dims for loadOnnx: both hand in a builder of the graph at given specs): which input dims
// become size symbols, the trace at the call's sizes (the hints), and the check that the
// program does not depend on those hints beyond its guards: the function is traced and
// scheduled a second time at other sizes that satisfy the same guards, and the two plans
// (kernel sources by their content keys, buffers, steps, guards) must be the same. A number
// the function computed from a size, or any stage that read a hint where it should have read
// the symbol, makes them differ; the caller then specialises (compiles the shape statically).

import type { NDArray } from '../graph/ndarray.js';
import { HINT_MIN, SYM_MIN, SymInt, SymbolicUnsupportedError, guardHolds } from '../graph/sym.js';
import type { InputSpec, Traced } from '../frontend/trace.js';
import type { Plan } from '../schedule/plan.js';
import type { CompileOptions } from './options.js';
import { type Program, planOnly, startCompileGraph } from './program.js';

/** Builds the graph with inputs of these specs (a trace of the function, an ONNX model's conversion). */
export type GraphBuilder = (specs: readonly InputSpec[]) => Traced;

/**
 * Which symbolic dims are one size: dims with equal keys share one symbol. By default the key
 * is the size (duck sizing: a batch that several inputs carry is one size); an ONNX model's
 * key is the dim's dim_param, since two of its names may take different sizes.
 */
export type SymbolGroup = (input: number, dim: number, size: number) => string | number;

const bySize: SymbolGroup = (_i, _d, n) => n;

/**
 * Hints for symbols sized below HINT_MIN (a first call of batch 1: the program is built at
 * batch 7 and serves 1 too), one each, distinct from each other and from the other symbols'
 * sizes (two symbols at one hint would hide a graph that read one for the other), odd primes
 * above the small sizes shapes are full of, so a reshape's static dim rarely equals one by
 * chance (the second build at other sizes catches one that does).
 */
const ONE_HINTS = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47];

/**
 * The input specs with `dims[i][d]` symbolic, grouped into symbols by `group`, and a size below
 * SYM_MIN stays static (an empty dim). The hints: the inputs' sizes, a 1 taken as ONE_HINTS'.
 */
export function symbolicSpecs(inputs: readonly NDArray[], symbolic: readonly (readonly boolean[])[], group: SymbolGroup = bySize): InputSpec[] {
  const byKey = new Map<string | number, { name: string; hint: number }>();
  const isSym = (i: number, n: number, d: number) => symbolic[i]![d] && n >= SYM_MIN;
  const used = new Set(inputs.flatMap((x, i) => x.shape.filter((n, d) => isSym(i, n, d))));
  const spare = ONE_HINTS.filter((h) => !used.has(h));
  const symbolFor = (i: number, d: number, n: number) => {
    const key = group(i, d, n);
    let s = byKey.get(key);
    if (s === undefined) {
      const hint = n >= HINT_MIN ? n : spare.shift();
      if (hint === undefined) throw new SymbolicUnsupportedError(`more than ${ONE_HINTS.length} symbols of size 1`);
      byKey.set(key, (s = { name: `s${byKey.size}`, hint }));
    }
    return s;
  };
  return inputs.map((x, i) => {
    const syms = x.shape.map((n, d) => (isSym(i, n, d) ? symbolFor(i, d, n) : undefined));
    return { shape: x.shape.map((n, d) => syms[d]?.hint ?? n), dtype: x.dtype, sym: x.shape.map((n, d) => (syms[d] ? SymInt.symbol(syms[d].name) : n)) };
  });
}

/** A plan's parts that must not depend on the sizes it was traced at. */
function planShape(p: Plan): unknown {
  return {
    kernels: p.kernels.map((k) => k.key),
    steps: p.steps,
    buffers: p.buffers.map((b) => ({ kind: b.kind, dtype: b.dtype, dims: b.dims ?? b.shape, index: b.index, data: b.data, offset: b.offset })),
    outputs: p.outputs,
    arenaBytes: p.arenaBytes,
    symbols: p.symbols,
    guards: p.guards,
  };
}

const SHIFTS = [3, 1, 2, 5, -1, 7, -2, 11];

/**
 * Other sizes for the symbols that satisfy `plan`'s guards, none below HINT_MIN: every symbol
 * moved off its hint, sizes that differed still differing. All shifted alike first; then each
 * by its own shift, for guards that bound one symbol from above and another from below (a
 * sequence at a sliced buffer's length, s1 <= 8, beside a batch at its least).
 */
function otherHints(plan: Plan, hints: ReadonlyMap<string, number>): Map<string, number> | undefined {
  const names = [...hints.keys()];
  const admits = (b: Map<string, number>) => [...b.values()].every((v) => v >= HINT_MIN) && (plan.guards ?? []).every((g) => guardHolds(g, b));
  for (const delta of SHIFTS) {
    const b = new Map([...hints].map(([k, v]) => [k, v + delta]));
    if (admits(b)) return b;
  }
  if (names.length > 3) return undefined;
  const distinct = (b: Map<string, number>) => names.every((x, i) => names.slice(i + 1).every((y) => hints.get(x) === hints.get(y) || b.get(x) !== b.get(y)));
  const tryFrom = (i: number, b: Map<string, number>): Map<string, number> | undefined => {
    if (i === names.length) return distinct(b) && admits(b) ? new Map(b) : undefined;
    for (const delta of SHIFTS) {
      b.set(names[i]!, hints.get(names[i]!)! + delta);
      const found = tryFrom(i + 1, b);
      if (found) return found;
    }
    return undefined;
  };
  return tryFrom(0, new Map());
}

/** The first difference between two values' JSON, for the message. */
function firstDifference(a: unknown, b: unknown, path = ''): string {
  if (JSON.stringify(a) === JSON.stringify(b)) return '';
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path}: ${JSON.stringify(a)?.slice(0, 80)} vs ${JSON.stringify(b)?.slice(0, 80)}`;
}

/** Attempts before giving up: each refusal naming its symbols makes those dims static. */
const MAX_ATTEMPTS = 4;

/**
 * Compiles the graph `build` makes with the chosen dims symbolic, checked as the header says. A refusal that names
 * the symbols it involves (a mean over a symbolic dim, a weight's static size broadcast against
 * one, a CPU product over a symbolic K) makes those dims static and tries again, so the rest
 * stay symbolic. Returns the program and the dims it is symbolic in; throws
 * SymbolicUnsupportedError (the last reason) when no dim can stay symbolic.
 */
export async function compileSymbolic(
  build: GraphBuilder,
  inputs: readonly NDArray[],
  symbolic: readonly (readonly boolean[])[],
  options: CompileOptions,
  group: SymbolGroup = bySize,
): Promise<{ program: Program; symbolic: boolean[][]; specs: InputSpec[] }> {
  let dims = symbolic.map((row, i) => row.map((s, d) => s && inputs[i]!.shape[d]! >= SYM_MIN));
  for (let attempt = 1; ; attempt++) {
    try {
      return { program: await compileOnce(build, inputs, dims, options, group), symbolic: dims, specs: symbolicSpecs(inputs, dims, group) };
    } catch (e) {
      if (!(e instanceof SymbolicUnsupportedError) || e.symbols.length === 0 || attempt === MAX_ATTEMPTS) throw e;
      // The symbols are named by their sizes (symbolicSpecs): those dims become static.
      const names = symbolicSpecs(inputs, dims, group).map((s) => s.sym!.map((d) => (typeof d === 'number' ? undefined : d.bareSymbol)));
      dims = dims.map((row, i) => row.map((s, d) => s && !e.symbols.includes(names[i]![d]!)));
      if (!dims.some((row) => row.some(Boolean))) throw e;
    }
  }
}

async function compileOnce(build: GraphBuilder, inputs: readonly NDArray[], symbolic: readonly (readonly boolean[])[], options: CompileOptions, group: SymbolGroup): Promise<Program> {
  const specs = symbolicSpecs(inputs, symbolic, group);
  const hints = new Map<string, number>();
  specs.forEach((s) => s.sym!.forEach((d, i) => typeof d !== 'number' && hints.set(d.bareSymbol!, s.shape[i]!)));
  if (hints.size === 0) throw new SymbolicUnsupportedError('no dim to make symbolic');
  // The check below runs while the workers compile the program's kernels: the cold start pays
  // for the second build and plan only where they outlast the compiles.
  const program = await startCompileGraph(build(specs), options);
  // A refused program is still finished and then freed (its kernels land in the cache either
  // way), as before the check moved here; a failure to finish it is the refusal's, not news.
  const refuse = async (reason: string): Promise<never> => {
    await program.finish().then((p) => p.dispose(), () => {});
    throw new SymbolicUnsupportedError(reason);
  };
  const other = otherHints(program.plan, hints);
  if (!other) return refuse('no other sizes satisfy the guards: the program serves one shape');
  const otherSpecs = specs.map((s) => ({ ...s, shape: s.sym!.map((d, i) => (typeof d === 'number' ? s.shape[i]! : d.eval(other))) }));
  let check: Plan;
  try {
    // One turn of the event loop first, so the compile groups just submitted reach the workers.
    await new Promise<void>((resolve) => setImmediate(resolve));
    check = await planOnly(build(otherSpecs), options);
  } catch (e) {
    return refuse(`the graph cannot be built at other sizes (${(e as Error).message})`);
  }
  const diff = firstDifference(planShape(program.plan), planShape(check));
  if (diff) return refuse(`the program built at other sizes differs (${diff}): something read a size's value`);
  return program.finish();
}

// compile(fn, options): the public entry point. A call traces fn for its input signature and
// compiles it, or runs a program compiled earlier that serves the call's sizes:
// - `dynamic: false`: one static program per signature (shapes, dtypes, device);
// - `dynamic: true`: every input dim of at least 2 is a size symbol (graph/sym.ts) from the
//   first call on;
// - `dynamic: 'auto'` (the default): static first; when a later call's sizes differ from the
//   first call's in some dims (same ranks and dtypes), those dims become symbolic and one more
//   program serves them all.
// A symbolic program that cannot be made (an op that needs static sizes, a size the function
// computes with; symbolic_compile.ts says why) or whose guards a call breaks (a size 1, a sum
// too long for its blocking) falls back to a static program for that signature: these
// specialisations are kept least recently used first, at most `maxSpecializations`.

import { NDArray } from '../graph/ndarray.js';
import { GuardFailure, SymbolicUnsupportedError } from '../graph/sym.js';
import { type TracedFn, trace } from '../frontend/trace.js';
import { bump } from '../observe/counters.js';
import { debugEnabled, debugPrint } from '../observe/log.js';
import { type CompileOptions, resolveDevice } from './options.js';
import { type Program, compileGraph, warmForCompile } from './program.js';
import { compileSymbolic } from './symbolic_compile.js';

/**
 * What a compiled function resolves to for a traced function returning `R`: an NDArray per
 * element when it returns an array (a tuple keeps its length), else one NDArray.
 */
export type CompiledResult<R> = R extends readonly unknown[] ? { -readonly [K in keyof R]: NDArray } : NDArray;

/** The compiled function's inputs: an NDArray for each tensor the traced function takes. */
export type CompiledInputs<P extends readonly unknown[]> = { [K in keyof P]: NDArray };

/** compile(fn)'s result, typed from fn: its inputs and what it returns. */
export type CompiledFunction<F extends TracedFn> = (...inputs: CompiledInputs<Parameters<F>>) => Promise<CompiledResult<ReturnType<F>>>;

/** compile()'s options: the program's (CompileOptions) and how input sizes are treated. */
export interface FunctionCompileOptions extends CompileOptions {
  /** 'auto' (default): static, then symbolic in the dims that change; true: symbolic from the start; false: one program per shape. */
  dynamic?: 'auto' | boolean;
  /** Static programs kept for shapes no symbolic program serves (least recently used evicted; default 8). */
  maxSpecializations?: number;
}

/** A symbolic program and the family of calls it may serve: same dtypes, ranks, device and static dims. */
interface SymbolicEntry {
  family: string;
  /** Per input, per dim: whether symbolic. */
  symbolic: boolean[][];
  /** The call sizes of its static dims (a symbolic dim's entry is ignored). */
  shapes: number[][];
  program: Promise<Program | undefined>;
  /** The program once compiled, so a call needs no await to reach it. */
  ready?: Program;
}

const familyOf = (inputs: readonly NDArray[]) => inputs.map((x) => `${x.dtype}/${x.shape.length}@${x.device}`).join(';');
const signatureOf = (inputs: readonly NDArray[]) => inputs.map((x) => `${x.dtype}[${x.shape.join(',')}]@${x.device}`).join(';');

function serves(e: SymbolicEntry, inputs: readonly NDArray[]): boolean {
  return inputs.every((x, i) => x.shape.every((n, d) => e.symbolic[i]![d] || n === e.shapes[i]![d]));
}

export function compile<F extends TracedFn>(fn: F, options: FunctionCompileOptions = {}): CompiledFunction<F> {
  if (typeof fn !== 'function') throw new TypeError('compile: expected a function');
  resolveDevice(options);
  const dynamic = options.dynamic ?? 'auto';
  if (dynamic !== 'auto' && dynamic !== true && dynamic !== false) throw new TypeError(`compile: dynamic must be 'auto', true or false, got ${String(dynamic)}`);
  const maxStatic = options.maxSpecializations ?? 8;
  if (!Number.isInteger(maxStatic) || maxStatic < 1) throw new TypeError(`compile: maxSpecializations must be a positive integer, got ${String(maxStatic)}`);
  // Static programs by signature, least recently used first (a Map keeps insertion order).
  const programs = new Map<string, Promise<Program>>();
  const symbolicPrograms: SymbolicEntry[] = [];
  /** The first signature's sizes of each family ('auto' compares later calls with them). */
  const firstShapes = new Map<string, number[][]>();
  /** Symbolic attempts that failed, by family and dims: not tried again. */
  const failed = new Set<string>();
  type Result = CompiledResult<ReturnType<F>>;

  const staticProgram = (inputs: readonly NDArray[]): Promise<Program> => {
    const sig = signatureOf(inputs);
    let program = programs.get(sig);
    if (program) {
      programs.delete(sig);
      programs.set(sig, program);
      return program;
    }
    // A compile is likely (empty kernel cache): workers start now, while fn traces.
    warmForCompile(options);
    program = Promise.resolve().then(() => compileGraph(trace(fn, inputs.map((x) => ({ shape: x.shape, dtype: x.dtype }))), options));
    programs.set(sig, program);
    program.catch(() => programs.delete(sig));
    while (programs.size > maxStatic) {
      const [oldest, p] = programs.entries().next().value as [string, Promise<Program>];
      programs.delete(oldest);
      p.then((q) => q.dispose(), () => {});
    }
    return program;
  };

  /** The dims to make symbolic for this call, or undefined to stay static. */
  const symbolicDims = (inputs: readonly NDArray[], family: string): boolean[][] | undefined => {
    if (dynamic === false) return undefined;
    if (dynamic === true) return inputs.map((x) => x.shape.map((n) => n >= 2));
    const first = firstShapes.get(family);
    if (!first) {
      firstShapes.set(family, inputs.map((x) => [...x.shape]));
      return undefined;
    }
    const dims = inputs.map((x, i) => x.shape.map((n, d) => n !== first[i]![d] && n >= 2));
    return dims.some((row) => row.some(Boolean)) ? dims : undefined;
  };

  const trySymbolic = (inputs: readonly NDArray[], family: string, dims: boolean[][]): SymbolicEntry | undefined => {
    const attempt = `${family}|${JSON.stringify(dims)}`;
    if (failed.has(attempt)) return undefined;
    warmForCompile(options);
    const entry: SymbolicEntry = { family, symbolic: dims, shapes: inputs.map((x) => [...x.shape]), program: Promise.resolve(undefined) };
    const program = compileSymbolic(fn, inputs, dims, options).then(
      (r) => {
        bump('symbolic_programs');
        // Dims the function forced static (symbolic_compile.ts) must match for a call to be served.
        entry.symbolic = r.symbolic;
        entry.ready = r.program;
        return r.program;
      },
      (e: unknown) => {
        if (!(e instanceof SymbolicUnsupportedError)) throw e;
        // Specialised instead: the reason is for KILN_DEBUG=plan.
        failed.add(attempt);
        if (debugEnabled('plan')) debugPrint('plan', `compile: specialising ${signatureOf(inputs)}: ${e.message}`);
        return undefined;
      },
    );
    entry.program = program;
    symbolicPrograms.push(entry);
    // A program that is not symbolic after all serves nothing.
    program.then((p) => p === undefined && symbolicPrograms.splice(symbolicPrograms.indexOf(entry), 1), () => symbolicPrograms.splice(symbolicPrograms.indexOf(entry), 1));
    return entry;
  };

  const compiled = async (...inputs: NDArray[]): Promise<Result> => {
    if (fn.length > 0 && inputs.length !== fn.length) {
      throw new TypeError(`compiled function expects ${fn.length} input${fn.length === 1 ? '' : 's'}, got ${inputs.length}`);
    }
    inputs.forEach((x, i) => {
      if (!(x instanceof NDArray)) throw new TypeError(`input ${i}: expected an NDArray, got ${x === null ? 'null' : typeof x}`);
    });
    const finish = (p: Program, outs: NDArray[]) => (p.plan.returnsArray ? outs : outs[0]) as Result;
    const sig = signatureOf(inputs);
    if (!programs.has(sig)) {
      const family = familyOf(inputs);
      for (const e of symbolicPrograms.filter((s) => s.family === family && serves(s, inputs))) {
        const p = e.ready ?? (await e.program);
        // Its dims are final once compiled: the function may have forced some static.
        if (!p || !serves(e, inputs)) continue;
        try {
          return finish(p, await p.run(inputs));
        } catch (err) {
          // Sizes outside what the program assumed: a static program for this shape instead.
          if (!(err instanceof GuardFailure)) throw err;
          bump('guard_failures');
          if (debugEnabled('plan')) debugPrint('plan', `compile: ${err.message}`);
        }
      }
      const dims = symbolicDims(inputs, family);
      const entry = dims && trySymbolic(inputs, family, dims);
      const p = entry && (await entry.program);
      if (p) {
        try {
          return finish(p, await p.run(inputs));
        } catch (err) {
          if (!(err instanceof GuardFailure)) throw err;
          bump('guard_failures');
        }
      }
    }
    const p = await staticProgram(inputs);
    return finish(p, await p.run(inputs));
  };
  return compiled as CompiledFunction<F>;
}

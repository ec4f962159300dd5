// compile(fn, options): the public entry point. Each new input signature (shapes, dtypes,
// device) traces fn once and compiles it; later calls with that signature only run.

import { NDArray } from '../graph/ndarray.js';
import { type TracedFn, trace } from '../frontend/trace.js';
import { type CompileOptions, resolveDevice } from './options.js';
import { type Program, compileGraph, warmForCompile } from './program.js';

/**
 * What a compiled function resolves to for a traced function returning `R`: an NDArray per
 * element when it returns an array (a tuple keeps its length), else one NDArray.
 */
export type CompiledResult<R> = R extends readonly unknown[] ? { -readonly [K in keyof R]: NDArray } : NDArray;

/** The compiled function's inputs: an NDArray for each tensor the traced function takes. */
export type CompiledInputs<P extends readonly unknown[]> = { [K in keyof P]: NDArray };

/** compile(fn)'s result, typed from fn: its inputs and what it returns. */
export type CompiledFunction<F extends TracedFn> = (...inputs: CompiledInputs<Parameters<F>>) => Promise<CompiledResult<ReturnType<F>>>;

export function compile<F extends TracedFn>(fn: F, options: CompileOptions = {}): CompiledFunction<F> {
  if (typeof fn !== 'function') throw new TypeError('compile: expected a function');
  resolveDevice(options);
  const programs = new Map<string, Promise<Program>>();
  type Result = CompiledResult<ReturnType<F>>;
  const compiled = async (...inputs: NDArray[]): Promise<Result> => {
    if (fn.length > 0 && inputs.length !== fn.length) {
      throw new TypeError(`compiled function expects ${fn.length} input${fn.length === 1 ? '' : 's'}, got ${inputs.length}`);
    }
    inputs.forEach((x, i) => {
      if (!(x instanceof NDArray)) throw new TypeError(`input ${i}: expected an NDArray, got ${x === null ? 'null' : typeof x}`);
    });
    const sig = inputs.map((x) => `${x.dtype}[${x.shape.join(',')}]@${x.device}`).join(';');
    let program = programs.get(sig);
    if (!program) {
      // A compile is likely (empty kernel cache): workers start now, while fn traces.
      warmForCompile(options);
      program = Promise.resolve().then(() => compileGraph(trace(fn, inputs.map((x) => ({ shape: x.shape, dtype: x.dtype }))), options));
      programs.set(sig, program);
      program.catch(() => programs.delete(sig));
    }
    const p = await program;
    const outs = await p.run(inputs);
    return (p.plan.returnsArray ? outs : outs[0]) as Result;
  };
  return compiled as CompiledFunction<F>;
}

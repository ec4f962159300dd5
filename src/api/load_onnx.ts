// loadOnnx: file or bytes → a checked, imported model ready to compile and run.

import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { type CompileOptions, warmForCompile } from './program.js';
import { parseAndCheck } from '../onnx/check.js';
import { OnnxParseError, OnnxUnsupportedError } from '../onnx/errors.js';
import { modelFileBytes } from '../onnx/file_source.js';
import { LoadedOnnxModel } from './onnx_model.js';
import type { OnnxModel } from './onnx_model_api.js';
import { opTable } from '../onnx/ops/index.js';
import { type TensorProto, type ValueInfoProto, declaredType, decodeModel } from '../onnx/proto.js';
import { modelStructureHash } from '../onnx/structure_hash.js';
import { withSpan } from '../observe/trace.js';

export interface LoadOptions extends CompileOptions {
  /**
   * Pins graph inputs with symbolic dims to these shapes: the graph is built and checked at load,
   * and runs of other sizes are refused. Without it a symbolic dim takes any size, bound from
   * each run's feeds (one shape variant per binding). A dim_param pinned in one input is pinned
   * in every input that names it.
   */
  inputShapes?: Record<string, readonly number[]>;
  /** Shape variants the model keeps (default KILN_MAX_SHAPE_VARIANTS, 8); the least recently used past it is disposed. */
  maxShapeVariants?: number;
  /**
   * Symbolic dims (true, the default): the first run tries one program over the dim_params'
   * sizes, which later runs of other sizes reuse with no compile where its guards admit them
   * (per-shape variants where the model's ops or a guard refuse; inspect().symbolic says which).
   * false: a program per binding of the symbolic dims.
   */
  dynamic?: boolean;
}

/** A graph input as the file declares it: dims are numbers, symbol names, or '?' (unknown); undefined: no shape. */
export interface DeclaredInput {
  name: string;
  dims: (number | string)[] | undefined;
}

/**
 * Picks inputShapes once the file's declared inputs are known (the CLI fills symbolic dims from
 * its -i files this way, without decoding the model twice).
 */
export type InputShapeResolver = (declared: DeclaredInput[]) => Record<string, readonly number[]>;

/**
 * Loads an ONNX model. Fails before compiling anything: OnnxParseError for a file that is
 * not a model, OnnxUnsupportedError listing every unsupported operator, attribute value and
 * element type, OnnxModelError for an inconsistent graph.
 */
export function loadOnnx(pathOrBytes: string | Uint8Array, options: LoadOptions = {}): OnnxModel {
  return loadOnnxResolving(pathOrBytes, options);
}

/** loadOnnx, with `resolveShapes` (when given) choosing inputShapes from the declared inputs. */
export function loadOnnxResolving(pathOrBytes: string | Uint8Array, options: LoadOptions, resolveShapes?: InputShapeResolver): OnnxModel {
  let bytes: Uint8Array;
  let file: string;
  let baseDir: string | undefined;
  if (typeof pathOrBytes === 'string') {
    file = pathOrBytes;
    try {
      if (statSync(file).isDirectory()) throw new OnnxParseError(file, 'is a directory');
      // Mapped where external data is, so inline weights are not read into a second copy.
      bytes = modelFileBytes(file) ?? readFileSync(file);
    } catch (e) {
      if (e instanceof OnnxParseError) throw e;
      const err = e as NodeJS.ErrnoException;
      throw Object.assign(new Error(err.code === 'ENOENT' ? `${file}: no such file` : `${file}: ${err.message}`), { code: err.code });
    }
    baseDir = path.dirname(path.resolve(file));
  } else if (pathOrBytes instanceof Uint8Array) {
    file = '<bytes>';
    bytes = pathOrBytes;
  } else {
    throw new TypeError('loadOnnx: expected a file path or a Uint8Array');
  }
  const proto = withSpan('load', 'onnx decode', () => decodeModel(bytes, file));
  const table = opTable(baseDir);
  const { inputShapes: given, maxShapeVariants, dynamic, ...compileOptions } = options;
  if (dynamic !== undefined && typeof dynamic !== 'boolean') throw new TypeError(`loadOnnx: dynamic must be true or false, got ${String(dynamic)}`);
  if (maxShapeVariants !== undefined && !(Number.isSafeInteger(maxShapeVariants) && maxShapeVariants >= 1)) {
    throw new TypeError(`loadOnnx: maxShapeVariants must be an integer ≥ 1, got ${String(maxShapeVariants)}`);
  }
  const inputShapes = resolveShapes ? resolveShapes(declaredInputs(proto.graph ?? {})) : given;
  const { model, issues } = parseAndCheck(proto, file, baseDir, table, inputShapes);
  if (issues.length) throw new OnnxUnsupportedError(file, issues);
  // A compile is likely (an empty kernel cache): the first workers start now, while the model
  // converts (a static model's graph is built below), not once the graph is keyed, so their
  // 60-80 ms start (far more on a loaded machine) is over before codegen hands them kernels.
  warmForCompile(compileOptions);
  // The model's structure keys its stored conversions: a warm start neither converts nor folds.
  const structure = withSpan('cache', 'onnx structure hash', () => modelStructureHash(bytes));
  return new LoadedOnnxModel(model, table, compileOptions, structure, maxShapeVariants, dynamic ?? true);
}

function declaredInputs(graph: { input?: ValueInfoProto[] | null; initializer?: TensorProto[] | null }): DeclaredInput[] {
  const inits = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  return (graph.input ?? []).filter((v) => !inits.has(v.name ?? '')).map((v) => ({ name: v.name ?? '', dims: declaredType(v).dims }));
}

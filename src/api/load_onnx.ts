// loadOnnx: file or bytes → a checked, imported model ready to compile and run.

import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { CompileOptions } from './program.js';
import { parseAndCheck } from '../onnx/check.js';
import { OnnxParseError, OnnxUnsupportedError } from '../onnx/errors.js';
import { LoadedOnnxModel } from './onnx_model.js';
import type { OnnxModel } from './onnx_model_api.js';
import { opTable } from '../onnx/ops/index.js';
import { decodeModel } from '../onnx/proto.js';
import { modelStructureHash } from '../onnx/structure_hash.js';
import { withSpan } from '../observe/trace.js';

export interface LoadOptions extends CompileOptions {
  /** Concrete shapes for graph inputs with symbolic dims (or to override declared ones). */
  inputShapes?: Record<string, readonly number[]>;
}

/**
 * Loads an ONNX model. Fails before compiling anything: OnnxParseError for a file that is
 * not a model, OnnxUnsupportedError listing every unsupported operator, attribute value and
 * element type, OnnxModelError for an inconsistent graph.
 */
export function loadOnnx(pathOrBytes: string | Uint8Array, options: LoadOptions = {}): OnnxModel {
  let bytes: Uint8Array;
  let file: string;
  let baseDir: string | undefined;
  if (typeof pathOrBytes === 'string') {
    file = pathOrBytes;
    try {
      if (statSync(file).isDirectory()) throw new OnnxParseError(file, 'is a directory');
      bytes = readFileSync(file);
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
  const { inputShapes, ...compileOptions } = options;
  const { model, issues } = parseAndCheck(proto, file, baseDir, table, inputShapes);
  if (issues.length) throw new OnnxUnsupportedError(file, issues);
  // The model's structure keys its stored conversions: a warm start neither converts nor folds.
  const structure = withSpan('cache', 'onnx structure hash', () => modelStructureHash(bytes));
  return new LoadedOnnxModel(model, table, compileOptions, structure);
}

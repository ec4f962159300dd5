// What the kiln subcommands share: the compile options every command takes, reading the
// model and its inputs (.npy files or seeded random data), printing results as text or
// JSON, and timing.

import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CompileOptions } from '../api/program.js';
import { type DType, typedToNumbers } from '../graph/dtype.js';
import { mulberry32 } from '../graph/random.js';
import { fmtShape, numel } from '../graph/shape.js';
import { NDArray } from '../graph/ndarray.js';
import { OnnxInputError, OnnxUnsupportedError } from '../onnx/errors.js';
import { bindFeeds, symbolOf } from '../onnx/binding.js';
import { type DeclaredInput, loadOnnxResolving } from '../api/load_onnx.js';
import type { OnnxModel } from '../api/onnx_model_api.js';
import { readNpy } from '../onnx/npy.js';
import { type OnnxValue, StringTensor } from '../onnx/string_tensor.js';
import { formatFloat } from '../onnx/strings.js';
import { StatusLine } from '../observe/progress.js';
import { MissingSizesError, UsageError } from './errors.js';

export interface CommonOpts {
  device?: 'cpu' | 'cuda';
  cacheDir?: string;
  workers?: number;
  shape?: string[];
  /** -i name=file.npy flags. */
  input?: string[];
  json?: boolean;
}

export function intArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

/** Parser of repeatable flags (no default, so help does not print one). */
export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** --device, --cache-dir, --workers, --shape, --json. */
export function addCommonOptions(cmd: Command, { compile = true } = {}): Command {
  cmd.addOption(new Option('--device <device>', 'cpu or cuda (default: KILN_DEVICE or cpu)').choices(['cpu', 'cuda']));
  if (compile) {
    cmd.option('--cache-dir <dir>', 'compile cache directory (default: KILN_CACHE_DIR or ~/.cache/kiln)');
    cmd.option('--workers <n>', 'compile worker processes (0 compiles in this process)', intArg('--workers'));
  }
  cmd.option('--shape <name=d0,d1,...>', 'shape of an input with symbolic dims that no -i file gives: picks the shape to compile and run, random data of it (repeatable)', collect);
  cmd.option('--json', 'print one JSON object on stdout instead of text');
  return cmd;
}

export function compileOptions(o: CommonOpts): CompileOptions {
  return {
    ...(o.device ? { device: o.device } : {}),
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
  };
}

/** Parses repeatable `name=value` flags. */
export function keyValues(flag: string, items: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const it of items) {
    const eq = it.indexOf('=');
    if (eq <= 0 || eq === it.length - 1) throw new UsageError(`${flag} expects name=value, got '${it}'`);
    const name = it.slice(0, eq);
    if (out.has(name)) throw new UsageError(`${flag} gives '${name}' twice`);
    out.set(name, it.slice(eq + 1));
  }
  return out;
}

export function parseShapes(items: string[]): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const [name, v] of keyValues('--shape', items)) {
    const dims = v.split(',').map((d) => Number(d.trim()));
    if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new UsageError(`--shape ${name}: '${v}' is not a list of dims like 1,3,224`);
    shapes[name] = dims;
  }
  return shapes;
}

export function requireFile(file: string, what: string): string {
  if (!existsSync(file)) throw new UsageError(`${what} '${file}' does not exist`);
  if (statSync(file).isDirectory()) throw new UsageError(`${what} '${file}' is a directory`);
  return file;
}

/** Progress of the CLI's long steps on stderr, only on a TTY (see StatusLine). */
export const status = new StatusLine();

/**
 * About the bytes a model's load reads, for the TTY status line only: its file and the files
 * beside it named after it (`model.onnx.data`, `model.onnx_data`, as exporters name external data).
 */
function modelBytes(file: string): number {
  let n = statSync(file).size;
  try {
    const dir = path.dirname(file);
    const base = path.basename(file);
    for (const f of readdirSync(dir)) if (f !== base && f.startsWith(base)) n += statSync(path.join(dir, f)).size;
  } catch {
    // A hint only.
  }
  return n;
}

/**
 * An -i name=file.npy flag. Its array is read once, when first needed (after the name is checked
 * against the model's inputs): it sizes the input's symbolic dims and is its feed.
 */
export class InputFile {
  private read?: NDArray;
  constructor(
    readonly name: string,
    readonly file: string,
  ) {}

  get array(): NDArray {
    return (this.read ??= readNpy(requireFile(this.file, `--input ${this.name}`)));
  }
}

export type InputFiles = Map<string, InputFile>;

/** The -i flags by input name (syntax checked now, files read when needed). */
export function readInputFiles(inputs: string[] = []): InputFiles {
  return new Map([...keyValues('--input', inputs)].map(([name, file]) => [name, new InputFile(name, file)]));
}

function fmtDims(dims: readonly (number | string)[]): string {
  return `[${dims.join(',')}]`;
}

/**
 * The shape of each input for this invocation, which runs one shape: --shape gives it; else an -i
 * file gives it to an input the model leaves symbolic (a static input's file is checked against
 * it when the feeds are made); else the sizes those bound to its symbolic dims (one dim_param,
 * one size in every input: an input_ids file sizes the attention_mask too). The model is then
 * loaded specialised to these shapes (inputShapes). `missing` names each symbolic dim sized no
 * way (openModel refuses those, unless told it needs no sizes).
 */
function resolveShapes(declared: DeclaredInput[], pinned: Record<string, number[]>, files: InputFiles): { shapes: Record<string, readonly number[]>; missing: string[] } {
  const names = declared.map((d) => d.name);
  const inputsText = declared.map((d) => `${d.name}${d.dims ? fmtDims(d.dims) : ''}`).join(', ');
  for (const name of Object.keys(pinned)) {
    if (!names.includes(name)) throw new UsageError(`--shape names '${name}', which is not an input of the model (inputs: ${inputsText})`);
  }
  const shapes: Record<string, readonly number[]> = {};
  const missing: string[] = [];
  for (const { name, dims } of declared) {
    const symbolic = !dims || dims.some((d) => typeof d === 'string');
    const file = names.includes(name) ? files.get(name) : undefined;
    const [shape, from] = pinned[name] ? [pinned[name], `--shape ${name}`] : file && symbolic ? [file.array.shape, `--input ${name}: ${file.file} holds`] : [undefined, ''];
    if (shape) {
      if (dims && (dims.length !== shape.length || dims.some((d, i) => typeof d === 'number' && d !== shape[i]))) {
        throw new UsageError(`${from} ${fmtDims(shape)}, but the model declares ${name}${fmtDims(dims)}`);
      }
      shapes[name] = shape;
    }
  }
  const asInput = (name: string, dims: (number | string)[]) => ({ name, dims, shape: [], dtype: 'float32' as const });
  let binding: Map<string, number>;
  try {
    binding = bindFeeds('', declared.filter((d) => shapes[d.name] && d.dims).map((d) => ({ input: asInput(d.name, d.dims!), shape: shapes[d.name]! })));
  } catch (e) {
    if (e instanceof OnnxInputError) throw new UsageError(`${e.message}: -i files and --shape must agree`);
    throw e;
  }
  for (const { name, dims } of declared) {
    if (shapes[name]) continue;
    if (!dims) {
      missing.push(`input '${name}' declares no shape`);
      continue;
    }
    const sized = dims.map((d, k) => (typeof d === 'number' ? d : binding.get(symbolOf(name, k, d))));
    if (dims.some((d) => typeof d === 'string') && sized.every((d) => d !== undefined)) shapes[name] = sized as number[];
    dims.forEach((d, i) => {
      if (sized[i] === undefined) missing.push(`input '${name}' dim ${i} is ${d === '?' ? 'unknown' : `symbolic ('${d}')`}`);
    });
  }
  return { shapes, missing };
}

/** The usage error for symbolic dims given no size: each input and dim, and both ways to give it. */
function missingShapesError(file: string, missing: string[]): MissingSizesError {
  const which = [...new Set(missing.map((m) => /^input '([^']*)'/.exec(m)![1]!))];
  const how = which.map((n) => `-i ${n}=file.npy or --shape ${n}=d0,d1,...`).join('; ');
  return new MissingSizesError(`${file}: ${missing.join('; ')}: give ${which.length === 1 ? 'its' : 'their'} data or shape with ${how}`);
}

/**
 * Loads the model for one invocation, specialised to the shapes -i files and --shape give
 * (resolveShapes). `needSizes` false (inspect --no-kernels) loads a model whose symbolic dims
 * nothing sizes as it is, dynamic.
 */
export function openModel(file: string, o: CommonOpts, files: InputFiles = new Map(), extra: CompileOptions = {}, needSizes = true): OnnxModel {
  requireFile(file, 'model file');
  const pinned = parseShapes(o.shape ?? []);
  if (status.enabled) {
    const mb = modelBytes(file) / 1e6;
    status.show(`loading ${path.basename(file)} (${mb < 10 ? mb.toFixed(1) : mb.toFixed(0)} MB)…`);
  }
  let missing: string[] = [];
  const resolve = (declared: DeclaredInput[]): Record<string, readonly number[]> => {
    const r = resolveShapes(declared, pinned, files);
    missing = r.missing;
    return r.shapes;
  };
  try {
    const model = loadOnnxResolving(file, { ...compileOptions(o), ...extra, label: path.basename(file) }, resolve);
    for (const name of files.keys()) {
      if (!model.inputNames.includes(name)) throw new UsageError(`--input names '${name}', which is not an input of the model (inputs: ${model.describeInputs()})`);
    }
    if (needSizes && missing.length) throw missingShapesError(file, missing);
    return model;
  } catch (e) {
    if (e instanceof UsageError) throw e.message.startsWith(`${file}: `) ? e : new UsageError(`${file}: ${e.message}`);
    // Unsized inputs alone are the caller's to give, on the command line; with other issues the
    // model cannot compile anyway, and the loader's full list says why (inspect prints it).
    if (missing.length && e instanceof OnnxUnsupportedError && e.issues.every((i) => /no declared shape/.test(i))) {
      throw missingShapesError(file, missing);
    }
    throw e;
  } finally {
    status.clear();
  }
}

export function randomArray(shape: readonly number[], dtype: DType | 'string', seed: number): OnnxValue {
  const r = mulberry32(seed);
  const n = numel(shape);
  switch (dtype) {
    case 'float32':
      return NDArray.from(Float32Array.from({ length: n }, () => r() * 2 - 1), shape);
    case 'float64':
    case 'float16':
    case 'bfloat16':
      return NDArray.from(Float64Array.from({ length: n }, () => r() * 2 - 1), shape, { dtype });
    case 'string':
      // A STRING input is read by Casts to numbers: random numbers, written as Cast would.
      return new StringTensor(Array.from({ length: n }, () => formatFloat(Math.fround(r() * 2 - 1), 'float32')), shape);
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'int64':
    case 'uint64':
      // Small values in [0, 10), which every integer type holds.
      return NDArray.from(Float64Array.from({ length: n }, () => Math.floor(r() * 10)), shape, { dtype });
    case 'bool':
      return NDArray.from(Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)), shape, { dtype });
    default:
      return dtype satisfies never;
  }
}

export interface FeedInfo {
  name: string;
  shape: number[];
  dtype: DType | 'string';
  source: string;
}

/** Feeds from the -i files, random data of the declared (or --shape) shape for the rest. */
export function makeFeeds(model: OnnxModel, given: InputFiles): { feeds: Record<string, OnnxValue>; info: FeedInfo[] } {
  const feeds: Record<string, OnnxValue> = {};
  const info: FeedInfo[] = [];
  model.inputs.forEach((inp, i) => {
    const read = given.get(inp.name);
    if (read) {
      const file = read.file;
      if (inp.dtype === 'string') throw new UsageError(`--input ${inp.name}: a STRING input cannot be read from .npy (leave it out for random numeric strings)`);
      let a = read.array;
      // NumPy's default dtype is float64: a float64 file feeds a float32 input, converted.
      if (a.dtype === 'float64' && inp.dtype === 'float32') a = NDArray.from(Float32Array.from(a.toTypedArraySync() as Float64Array), a.shape);
      if (a.dtype !== inp.dtype || a.shape.join(',') !== inp.shape.join(',')) {
        throw new UsageError(`--input ${inp.name}: ${file} holds ${a.dtype}${fmtShape(a.shape)}, the model expects ${inp.dtype}${fmtShape(inp.shape)}`);
      }
      feeds[inp.name] = a;
      info.push({ name: inp.name, shape: [...a.shape], dtype: a.dtype, source: file });
    } else {
      if (model.valueInputs.includes(inp.name)) {
        throw new UsageError(`input '${inp.name}' sets shapes in the model, so random data will not do: pass it with --input ${inp.name}=file.npy`);
      }
      feeds[inp.name] = randomArray(inp.shape, inp.dtype, 1234 + i);
      info.push({ name: inp.name, shape: [...inp.shape], dtype: inp.dtype, source: 'random' });
    }
  });
  return { feeds, info };
}

/** The first `n` values as JS numbers (bigints converted, half types decoded) or strings, for previews. */
export async function preview(a: OnnxValue, n = 6): Promise<(number | string)[]> {
  if (a instanceof StringTensor) return a.data.slice(0, n);
  return Array.from(typedToNumbers(a.dtype, (await a.toTypedArray()).slice(0, n)));
}

export function fmtValues(vals: (number | string)[], total: number): string {
  const s = vals.map((v) => (typeof v === 'string' ? JSON.stringify(v) : Number.isInteger(v) ? String(v) : v.toPrecision(5))).join(', ');
  return `[${s}${total > vals.length ? ', ...' : ''}]`;
}

export function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function fmtMs(v: number): string {
  return v >= 100 ? `${v.toFixed(0)} ms` : v >= 1 ? `${v.toFixed(1)} ms` : `${(v * 1000).toFixed(0)} µs`;
}

export function printJson(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj, null, 2) + '\n');
}

/** A file name for an output (ONNX names may hold '/', ':' and such). */
export function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_') || 'output';
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// The real-model suite's on-disk form (scripts/real_models.py writes it): one folder per
// export with model.onnx, input_<i>.npy, output_<i>.npy and meta.json. Shared by the test that
// checks every tiny model (test/real_models.test.ts) and the bench (bench/real_models.ts).
// The dynamic suite (scripts/real_models_dynamic.py: <model>_dynamic/ folders, symbolic batch and
// sequence) has the same layout, with meta.json's `cases` naming case<c>_input_<i>.npy and
// case<c>_output_<i>.npy for each of its shapes (test/real_models_dynamic.test.ts).

import fs from 'node:fs';
import path from 'node:path';

import type { NDArray } from '../src/graph/ndarray.js';
import { readNpy } from '../src/onnx/npy.js';

export interface SuiteMeta {
  model: string;
  exporter: string;
  size: string;
  opset: number;
  parameters: number;
  inputs: { name: string; file: string }[];
  outputs: { name: string; file: string }[];
  ops: string[];
  /** onnxruntime's max error against PyTorch: whether the export itself is right. */
  ort_max_rel_error: number | string | null;
}

/** One shape of a dynamic export: its inputs' shapes and the files of its inputs and PyTorch's outputs. */
export interface SuiteCase {
  shapes: number[][];
  inputs: string[];
  outputs: string[];
  ort_max_rel_error: number | string | null;
}

/** meta.json of a dynamic export (scripts/real_models_dynamic.py). */
export interface DynamicSuiteMeta {
  model: string;
  exporter: string;
  size: string;
  dynamic: true;
  /** Each graph input with its ONNX dims (sizes, dim_param names, '?'). */
  inputs: { name: string; dims: (number | string)[] }[];
  outputs: { name: string }[];
  cases: SuiteCase[];
  ops: string[];
  nodes: number;
}

export interface SuiteModel<M = SuiteMeta> {
  /** Folder name, e.g. gpt2_dynamo. */
  name: string;
  dir: string;
  meta: M;
}

/** Every export in `root` (a folder per export with a meta.json), sorted by name. */
export function listSuite<M = SuiteMeta>(root: string): SuiteModel<M>[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((d) => fs.existsSync(path.join(root, d, 'meta.json')))
    .sort()
    .map((d) => ({ name: d, dir: path.join(root, d), meta: JSON.parse(fs.readFileSync(path.join(root, d, 'meta.json'), 'utf8')) as M }));
}

/** Arrays by name, each read from its .npy file in `dir` (names and files in order). */
function readNamed(dir: string, names: readonly string[], files: readonly string[]): [string, NDArray][] {
  return names.map((n, i) => [n, readNpy(path.join(dir, files[i]!))]);
}

export function suiteInputs(m: SuiteModel): Record<string, NDArray> {
  return Object.fromEntries(readNamed(m.dir, m.meta.inputs.map((i) => i.name), m.meta.inputs.map((i) => i.file)));
}

export function suiteOutputs(m: SuiteModel): { name: string; want: NDArray }[] {
  return readNamed(m.dir, m.meta.outputs.map((o) => o.name), m.meta.outputs.map((o) => o.file)).map(([name, want]) => ({ name, want }));
}

/** The feeds of case `c` of a dynamic export. */
export function caseInputs(m: SuiteModel<DynamicSuiteMeta>, c: number): Record<string, NDArray> {
  return Object.fromEntries(readNamed(m.dir, m.meta.inputs.map((i) => i.name), m.meta.cases[c]!.inputs));
}

/** PyTorch's outputs of case `c` of a dynamic export. */
export function caseOutputs(m: SuiteModel<DynamicSuiteMeta>, c: number): { name: string; want: NDArray }[] {
  return readNamed(m.dir, m.meta.outputs.map((o) => o.name), m.meta.cases[c]!.outputs).map(([name, want]) => ({ name, want }));
}

/** max |got − want| / max |want| over one output (the measure: ≤ 1e-4 passes). */
export function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(Number(got[i]) - Number(want[i]));
    err = Math.max(err, Number.isNaN(d) ? Infinity : d);
    scale = Math.max(scale, Math.abs(Number(want[i])));
  }
  return err / Math.max(scale, 1e-30);
}

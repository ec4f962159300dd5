// The real-model suite's on-disk form (scripts/real_models.py writes it): one folder per
// export with model.onnx, input_<i>.npy, output_<i>.npy and meta.json. Shared by the test that
// checks every tiny model (test/real_models.test.ts) and the bench (bench/real_models.ts).

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

export interface SuiteModel {
  /** Folder name, e.g. gpt2_dynamo. */
  name: string;
  dir: string;
  meta: SuiteMeta;
}

/** Every export in `root` (a folder per export with a meta.json), sorted by name. */
export function listSuite(root: string): SuiteModel[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((d) => fs.existsSync(path.join(root, d, 'meta.json')))
    .sort()
    .map((d) => ({ name: d, dir: path.join(root, d), meta: JSON.parse(fs.readFileSync(path.join(root, d, 'meta.json'), 'utf8')) as SuiteMeta }));
}

export function suiteInputs(m: SuiteModel): Record<string, NDArray> {
  return Object.fromEntries(m.meta.inputs.map((i) => [i.name, readNpy(path.join(m.dir, i.file))]));
}

export function suiteOutputs(m: SuiteModel): { name: string; want: NDArray }[] {
  return m.meta.outputs.map((o) => ({ name: o.name, want: readNpy(path.join(m.dir, o.file)) }));
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

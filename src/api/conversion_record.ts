// Stored ONNX conversions: what a warm start needs of an imported model's graph, without
// building it. Two small entries, kept in the graph store (graph entries with no kernels, so
// their integrity checks, eviction, labels and export are the graph cache's):
//
//   model index   key: the model's structure (structure_hash.ts: its bytes less the initializers'
//                 values), the input signature, kiln's build id. Holds the value inputs found
//                 by conversion and the "guards": the initializers whose VALUES conversion read
//                 (shape tensors, Reshape targets, Gather indices, anything folded).
//   conversion    key: the model index's key, each guard's content hash, the values of the
//                 value inputs, the sizes of a dynamic model's symbolic dims. Holds the graph's digest (its part of the graph-cache key), the
//                 runtime inputs, the index checks' messages and where each graph parameter
//                 comes from: an initializer by name (filled from the model's own data on a
//                 warm start, never copied into the cache) or, for tensors folding derived from
//                 initializers (a transposed weight, a computed mask), the stored data itself.
//
// Why guards and not every initializer's contents: hashing a model's weights would cost a warm
// start as much as reading them twice. Conversion is deterministic, so the same structure with
// the same values in every tensor it read builds the same graph; a tensor it did not read
// reaches the graph only as a parameter, which is bound at run time. A model whose guards hold
// other values gets another conversion key: a miss, a build, never the old graph (as
// Inductor's guards re-trace when a guarded value changes).

import { hash } from 'node:crypto';
import { graphKey } from '../cache/graph_key.js';
import type { GraphStore } from '../cache/graph_store.js';
import { isValidKey } from '../cache/layout.js';
import { type AnyTypedArray, type DType, byteSize, isDType, viewTyped } from '../graph/dtype.js';
import type { IndexCheck } from '../graph/ir.js';
import { numel } from '../graph/shape.js';
import type { ModelInput } from '../onnx/check.js';
import type { ConstTensor } from '../onnx/const_tensor.js';
import { type Binding, bindingEntries } from '../onnx/binding.js';

const INDEX_KIND = 'onnx-model-index';
const RECORD_KIND = 'onnx-conversion';

export interface ModelIndex {
  /** Graph inputs whose values shape the graph. */
  valueInputs: string[];
  /** Initializers whose values conversion read (sorted). */
  guards: string[];
}

/** A graph parameter: an initializer of the model (by name), or data folding derived from some. */
export type ParamSource = { init: string } | { data: AnyTypedArray; dtype: DType; shape: number[] };

export interface ConversionRecord {
  /** graphDigest of the checked graph (src/api/graph_source.ts). */
  digest: string;
  runtimeInputs: string[];
  /** Count of each ONNX operator converted. */
  ops: Record<string, number>;
  userOutputs: number;
  checks: IndexCheck[];
  shapes: number[][];
  params: ParamSource[];
}

/** The model index's key: structure, input signature (and, through graphKey, kiln's build id). */
export function modelIndexKey(structureHash: string, inputs: readonly ModelInput[]): string {
  return graphKey([INDEX_KIND, structureHash, inputs.map((i) => [i.name, i.dtype, i.shape])]);
}

/**
 * A conversion's key: the model index's key, the guards' contents, the fixed value inputs' values
 * and (a dynamic model's) the sizes bound to its symbolic dims (a static model's keys are as before).
 */
export function conversionKey(indexKey: string, guards: readonly (readonly [string, ConstTensor])[], fixed: ReadonlyMap<string, ConstTensor>, binding: Binding = new Map()): string {
  const guarded = guards.map(([name, t]) => {
    const a = t.typedArray();
    return [name, t.dtype, t.shape, hash('sha256', new Uint8Array(a.buffer, a.byteOffset, a.byteLength), 'hex')];
  });
  const values = [...fixed].map(([name, t]) => [name, t.dtype, t.shape, t.values()]);
  if (binding.size === 0) return graphKey([RECORD_KIND, indexKey, guarded, values]);
  return graphKey([RECORD_KIND, indexKey, guarded, values, bindingEntries(binding)]);
}

/** Reads and writes both kinds of entry; anything malformed reads as corrupt (removed, counted). */
export class ConversionStore {
  constructor(
    private readonly graphs: GraphStore,
    private readonly label: string,
  ) {}

  index(key: string): ModelIndex | undefined {
    return this.read(key, INDEX_KIND, parseIndex);
  }

  putIndex(key: string, index: ModelIndex): void {
    this.graphs.putBundle(key, { plan: { kind: INDEX_KIND, ...index }, kernels: [] }, this.label);
  }

  conversion(key: string): ConversionRecord | undefined {
    return this.read(key, RECORD_KIND, parseRecord);
  }

  putConversion(key: string, record: ConversionRecord): void {
    const params = record.params.map((p) => ('init' in p ? p : { dtype: p.dtype, shape: p.shape, data: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength) }));
    this.graphs.putBundle(key, { plan: { kind: RECORD_KIND, ...record, params }, kernels: [] }, this.label);
  }

  /** Drops an entry the caller found unusable (counted in cache_corrupt). */
  drop(key: string): void {
    this.graphs.dropCorrupt(key);
  }

  private read<T>(key: string, kind: string, parse: (o: Record<string, unknown>) => T): T | undefined {
    const bundle = this.graphs.getBundle(key);
    if (bundle === undefined) return undefined;
    const o = bundle.plan as Record<string, unknown> | null;
    try {
      if (bundle.kernels.length !== 0 || o === null || typeof o !== 'object' || o.kind !== kind) throw new Error(`not an ${kind} entry`);
      return parse(o);
    } catch {
      this.graphs.dropCorrupt(key);
      return undefined;
    }
  }
}

function fail(what: string): never {
  throw new Error(`malformed ONNX conversion entry: ${what}`);
}

function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) fail(what);
  return v as string[];
}

function naturals(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((n) => Number.isSafeInteger(n) && n >= 0)) fail(what);
  return v as number[];
}

function parseIndex(o: Record<string, unknown>): ModelIndex {
  return { valueInputs: strings(o.valueInputs, 'valueInputs'), guards: strings(o.guards, 'guards') };
}

function parseParam(p: unknown): ParamSource {
  if (p === null || typeof p !== 'object') fail('parameter');
  const o = p as Record<string, unknown>;
  if (typeof o.init === 'string') return { init: o.init };
  if (!isDType(o.dtype) || !(o.data instanceof Uint8Array)) fail('parameter data');
  const shape = naturals(o.shape, 'parameter shape');
  const n = numel(shape);
  if (o.data.byteLength !== n * byteSize(o.dtype)) fail('parameter data length');
  // decodeStorable handed a fresh copy: its own, aligned buffer.
  return { data: viewTyped(o.dtype, o.data.buffer, o.data.byteOffset, n), dtype: o.dtype, shape };
}

function parseRecord(o: Record<string, unknown>): ConversionRecord {
  if (!isValidKey(o.digest)) fail('digest');
  if (!Number.isSafeInteger(o.userOutputs)) fail('userOutputs');
  const ops = o.ops as Record<string, unknown>;
  if (ops === null || typeof ops !== 'object' || !Object.values(ops).every((n) => Number.isSafeInteger(n))) fail('ops');
  if (!Array.isArray(o.checks) || !Array.isArray(o.shapes) || o.shapes.length !== o.checks.length) fail('checks');
  const checks = o.checks.map((c: unknown) => {
    const r = c as Record<string, unknown>;
    if (r === null || typeof r !== 'object' || typeof r.label !== 'string' || typeof r.what !== 'string' || !Number.isSafeInteger(r.indices)) fail('index check');
    return { indices: r.indices as number, sizes: naturals(r.sizes, 'index check sizes'), what: r.what, label: r.label };
  });
  if (!Array.isArray(o.params)) fail('params');
  return {
    digest: o.digest,
    runtimeInputs: strings(o.runtimeInputs, 'runtimeInputs'),
    ops: ops as Record<string, number>,
    userOutputs: o.userOutputs as number,
    checks,
    shapes: o.shapes.map((s: unknown) => naturals(s, 'index check shape')),
    params: o.params.map(parseParam),
  };
}

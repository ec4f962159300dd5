// Stored ONNX conversions: what a warm start needs of an imported model's graph, without
// building it. Two small entries, kept in the graph store (graph entries with no kernels, so
// their integrity checks, eviction, labels and export are the graph cache's):
//
//   model index   key: the model's structure (structure_hash.ts: its bytes less the initializers'
//                 values), the input signature, kiln's build id. Holds the value inputs found
//                 by conversion and the "guards": the initializers whose VALUES conversion read
//                 (shape tensors, Reshape targets, Gather indices, anything folded).
//   conversion    key: the model index's key, each guard's content hash, the values of the
//                 value inputs, the sizes of a dynamic model's symbolic dims (or, for its one
//                 symbolic program, a mark in their place). Holds the graph's digest (its part of the graph-cache key), the
//                 runtime inputs, the index checks' messages and where each graph parameter
//                 comes from: an initializer by name (filled from the model's own data on a
//                 warm start, never copied into the cache) or, for tensors folding derived from
//                 initializers (a transposed weight, a computed mask), the stored data itself.
//                 A symbolic program's conversion also holds the input specs it was built at
//                 (hints, and which dims are which symbol), so a graph-cache miss rebuilds that
//                 very graph; it is stored only once the program passed compileSymbolic's check.
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
import { type Dim, SymInt } from '../graph/sym.js';
import { parseSymJSON } from '../cache/kernel_meta.js';
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

/**
 * An input spec as stored (frontend/trace.ts's InputSpec): `sym` names each symbolic dim's
 * symbol, a number where the dim is static.
 */
export interface StoredSpec {
  shape: number[];
  dtype: DType;
  sym: (number | string)[];
}

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
  /** A symbolic program's conversion: the specs compileSymbolic built it at. */
  specs?: StoredSpec[];
}

/** The model index's key: structure, input signature (and, through graphKey, kiln's build id). */
export function modelIndexKey(structureHash: string, inputs: readonly ModelInput[]): string {
  return graphKey([INDEX_KIND, structureHash, inputs.map((i) => [i.name, i.dtype, i.shape])]);
}

/** Where a conversion key's binding would be, for a dynamic model's one symbolic program (it serves many bindings). */
export const SYMBOLIC_PROGRAM = 'symbolic';

/**
 * A conversion's key: the model index's key, the guards' contents, the fixed value inputs' values
 * and (a dynamic model's) the sizes bound to its symbolic dims, or SYMBOLIC_PROGRAM for its
 * symbolic program (a static model's keys are as before).
 */
export function conversionKey(indexKey: string, guards: readonly (readonly [string, ConstTensor])[], fixed: ReadonlyMap<string, ConstTensor>, binding: Binding | typeof SYMBOLIC_PROGRAM = new Map()): string {
  const guarded = guards.map(([name, t]) => {
    const a = t.typedArray();
    return [name, t.dtype, t.shape, hash('sha256', new Uint8Array(a.buffer, a.byteOffset, a.byteLength), 'hex')];
  });
  const values = [...fixed].map(([name, t]) => [name, t.dtype, t.shape, t.values()]);
  if (binding === SYMBOLIC_PROGRAM) return graphKey([RECORD_KIND, indexKey, guarded, values, SYMBOLIC_PROGRAM]);
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
    // A symbolic program's check sizes may be formulas: stored as their SymJSON (parseRecord reads them back).
    const checks = record.checks.map((c) => ({ ...c, sizes: c.sizes.map((d) => (typeof d === 'number' ? d : d.toJSON())) }));
    this.graphs.putBundle(key, { plan: { kind: RECORD_KIND, ...record, params, checks }, kernels: [] }, this.label);
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

const SYMBOL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseSpec(v: unknown): StoredSpec {
  const o = v as Record<string, unknown>;
  if (o === null || typeof o !== 'object' || !isDType(o.dtype)) fail('input spec');
  const shape = naturals(o.shape, 'input spec shape');
  const sym = o.sym;
  if (!Array.isArray(sym) || sym.length !== shape.length) fail('input spec symbols');
  // A static dim is its own size; a symbolic one a symbol's name (SymInt.symbol's syntax).
  if (!sym.every((d, i) => d === shape[i] || (typeof d === 'string' && SYMBOL_NAME.test(d)))) fail('input spec symbols');
  return { shape, dtype: o.dtype, sym: sym as (number | string)[] };
}

function parseRecord(o: Record<string, unknown>): ConversionRecord {
  if (!isValidKey(o.digest)) fail('digest');
  if (!Number.isSafeInteger(o.userOutputs)) fail('userOutputs');
  const ops = o.ops as Record<string, unknown>;
  if (ops === null || typeof ops !== 'object' || !Object.values(ops).every((n) => Number.isSafeInteger(n))) fail('ops');
  if (!Array.isArray(o.checks) || !Array.isArray(o.shapes) || o.shapes.length !== o.checks.length) fail('checks');
  // A symbolic program's index checks: sizes may be formulas, and its indices' symbolic dims are -1 (index_checks.ts).
  const symbolic = o.specs !== undefined;
  const size = (v: unknown): Dim => (symbolic && Array.isArray(v) ? SymInt.fromJSON(parseSymJSON(v, 'index check size')) : naturals([v], 'index check sizes')[0]!);
  const checks = o.checks.map((c: unknown) => {
    const r = c as Record<string, unknown>;
    if (r === null || typeof r !== 'object' || typeof r.label !== 'string' || typeof r.what !== 'string' || !Number.isSafeInteger(r.indices) || !Array.isArray(r.sizes)) fail('index check');
    return { indices: r.indices as number, sizes: r.sizes.map(size), what: r.what, label: r.label };
  });
  const dims = (v: unknown): number[] => {
    if (!Array.isArray(v) || !v.every((n) => Number.isSafeInteger(n) && (n >= 0 || (symbolic && n === -1)))) fail('index check shape');
    return v as number[];
  };
  if (!Array.isArray(o.params)) fail('params');
  return {
    digest: o.digest,
    runtimeInputs: strings(o.runtimeInputs, 'runtimeInputs'),
    ops: ops as Record<string, number>,
    userOutputs: o.userOutputs as number,
    checks,
    shapes: o.shapes.map(dims),
    params: o.params.map(parseParam),
    ...(o.specs === undefined ? {} : { specs: Array.isArray(o.specs) ? o.specs.map(parseSpec) : fail('specs') }),
  };
}

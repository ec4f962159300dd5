// Builds kiln's Graph from a checked model: initializers and fixed inputs as known values,
// the remaining graph inputs as user inputs (in graph-input order), then each node through
// its converter. Errors are sorted into the loader's classes here.

import { type DType, isFloat } from '../graph/dtype.js';
import { fmtShape } from '../graph/shape.js';
import { type Dim, SymbolicUnsupportedError } from '../graph/sym.js';
import { Tracer } from '../frontend/tracer.js';
import { assertUnchanged } from '../graph/host_mapping.js';
import { bump } from '../observe/counters.js';
import { traceSpan } from '../observe/trace.js';
import type { ParsedModel } from './check.js';
import { ConstTensor, type ValueReads, recordValueReads } from './const_tensor.js';
import { ConvertContext, NeedsInputValues } from './context.js';
import { kilnDType } from './dtypes.js';
import { Emitter } from './emit.js';
import { OnnxModelError, OnnxUnsupportedError, Unsupported } from './errors.js';
import type { OpTable } from './ops/index.js';
import { tensorFromProto } from './proto.js';
import { pruneGraph } from './prune.js';
import type { Built, ModelInput } from './model_api.js';
import { sharedInitializer } from './shared_initializers.js';

export type { Built } from './model_api.js';

/** A built graph and the initializers whose values the conversion read (the stored conversion's guards). */
export interface Conversion extends Built {
  reads: ValueReads;
}

/** Decoded initializers, kept across builds (decoding large weights once). */
export type InitializerCache = Map<string, ConstTensor>;

/**
 * The initializer `name` (which the model must have), decoded once per model file in the
 * process (shared_initializers.ts): every graph built from the model, a warm start that builds
 * none, and another load of the file share its ConstTensor and so its NDArray. Reading its
 * values is recorded by the running build (const_tensor.ts).
 */
export function initializerTensor(m: ParsedModel, name: string, inits: InitializerCache): ConstTensor {
  let c = inits.get(name);
  if (!c) {
    const proto = m.initializers.get(name);
    if (!proto) throw new Error(`${m.file}: no initializer '${name}'`);
    c = sharedInitializer(m.file, m.baseDir, proto, () => {
      const raw = tensorFromProto(proto, m.baseDir);
      // Float tensors beyond a scalar are weights (parameters); integer ones are shape data.
      const t = new ConstTensor(raw.shape, raw.dtype, raw.typedArray(), isFloat(raw.dtype) && raw.size > 1);
      t.source = name;
      return t;
    });
    inits.set(name, c);
  }
  return c;
}

/** The model's inline tensor data (views of its bytes: a mapping where the file was mapped). */
function inlineData(m: ParsedModel): Uint8Array[] {
  return [...m.initializers.values()].flatMap((t) => (t.rawData && t.rawData.byteLength > 0 ? [t.rawData] : []));
}

/** Converts the model into kiln's graph (`onnx_graph_builds` counts these), noting the initializers it read by value. */
/**
 * `sym` gives graph inputs symbolic dims (graph/sym.ts) by input name, their sizes in `m.inputs`
 * the hints: the graph is then symbolic where its ops allow, and an op that does not throws
 * SymbolicUnsupportedError (api/onnx_model.ts then builds per shape).
 */
export function buildGraph(m: ParsedModel, table: OpTable, fixed: ReadonlyMap<string, ConstTensor>, inits: InitializerCache, sym?: ReadonlyMap<string, readonly Dim[]>): Conversion {
  bump('onnx_graph_builds');
  const end = traceSpan('trace', 'onnx graph build');
  // A build may read weights in place (folding them) long after the load: a mapped model file
  // changed since then is an error naming it (one fstat), never a read of a lost page.
  assertUnchanged(inlineData(m));
  const reads: ValueReads = { initializers: new Set(), unkeyable: false };
  try {
    return { ...recordValueReads(reads, () => convertModel(m, table, fixed, inits, sym)), reads };
  } finally {
    end();
  }
}

/** A graph input of kiln's graph: a model input, or the numbers a STRING input's Cast produces. */
export interface GraphInput {
  name: string;
  /** The model input it comes from (its dims, symbolic ones included). */
  from: ModelInput;
  dtype: DType;
}

/** The model's numeric graph inputs in graph-input order, `fixed` ones included. */
export function graphInputs(m: ParsedModel): GraphInput[] {
  // A STRING input is never a graph input: the numbers its Casts produce are (parsed on the host).
  return m.inputs.flatMap((inp) => (inp.dtype === 'string' ? (m.strings.casts.get(inp.name) ?? []).map((c) => ({ name: c.value, from: inp, dtype: c.dtype })) : [{ name: inp.name, from: inp, dtype: inp.dtype }]));
}

function convertModel(m: ParsedModel, table: OpTable, fixed: ReadonlyMap<string, ConstTensor>, inits: InitializerCache, sym: ReadonlyMap<string, readonly Dim[]> | undefined): Omit<Built, 'reads'> {
  const t = new Tracer();
  const em = new Emitter(t);
  const ctx = new ConvertContext(em, table);
  for (const name of m.initializers.keys()) ctx.values.set(name, initializerTensor(m, name, inits));
  const runtimeInputs: string[] = [];
  for (const { name, from, dtype } of graphInputs(m)) {
    const f = fixed.get(name);
    if (f) ctx.values.set(name, f);
    else {
      ctx.values.set(name, t.b.input(name, from.shape, dtype, 'input', sym?.get(name)));
      runtimeInputs.push(name);
    }
  }

  const ops: Record<string, number> = {};
  for (const n of m.nodes) {
    ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    try {
      ctx.convertNode(n);
    } catch (e) {
      if (e instanceof NeedsInputValues || e instanceof SymbolicUnsupportedError) throw e;
      if (e instanceof Unsupported) throw new OnnxUnsupportedError(m.file, [`${n.label}: ${e.message}`]);
      const msg = (e as Error).message;
      throw new OnnxModelError(m.file, msg.includes(n.label) ? msg : `${n.label}: ${msg}`);
    }
  }

  t.graph.outputs = m.outputs.map(({ name: outName, declared }) => {
    // A STRING output returns the numbers its Cast formats (on the host, after the run).
    const formatted = m.strings.formats.get(outName);
    const name = formatted ?? outName;
    if (!ctx.has(name)) throw new OnnxModelError(m.file, `graph output '${name}' is not produced by any node`);
    const v = ctx.values.get(name)!;
    const shape = em.shape(v);
    const dt = em.dtype(v);
    if (formatted !== undefined && dt === 'bool') {
      throw new OnnxUnsupportedError(m.file, [`graph output '${outName}': Cast from BOOL to STRING (ONNX defines no text for booleans)`]);
    }
    // A mismatch with the declared type means an importer bug or a broken model: never run it.
    const want = kilnDType(declared.elemType);
    if (formatted === undefined && declared.elemType && want !== dt) throw new OnnxModelError(m.file, `graph output '${name}': kiln computes ${dt}, the model declares ${want}`);
    const dims = declared.dims;
    if (dims && (dims.length !== shape.length || dims.some((d, i) => typeof d === 'number' && d !== shape[i]))) {
      throw new OnnxModelError(m.file, `graph output '${name}': kiln computes shape ${fmtShape(shape)}, the model declares [${dims.join(',')}]`);
    }
    return em.id(v);
  });
  // Call order is user inputs, then parameters (as trace() produces).
  const g = t.graph;
  const user = g.inputs.filter((id) => {
    const n = g.node(id);
    return n.op === 'input' && n.kind === 'input';
  });
  const params = g.inputs.filter((id) => !user.includes(id));
  g.inputs.splice(0, g.inputs.length, ...user, ...params);
  // The params are the model's initializers and constants folded from them, which nothing changes.
  return { traced: { graph: pruneGraph(g), params: t.params, returnsArray: true, immutableParams: true }, runtimeInputs, ops };
}

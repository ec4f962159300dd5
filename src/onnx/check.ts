// The pre-flight pass: reads a decoded model into the importer's form and lists every
// feature kiln cannot handle (operators, attribute values, element types, unresolved
// shapes) so that loadOnnx reports them all in one error before building anything.

import { ONNX_STRING, kilnDType, onnxTypeName } from './dtypes.js';
import { inlineFunctions } from './functions.js';
import { OnnxNode } from './node.js';
import type { OpTable } from './ops/index.js';
import { type DeclaredType, type GraphProto, type ModelProto, type TensorProto, type ValueInfoProto, declaredType } from './proto.js';
import { type StringBoundary, findStringBoundary } from './string_boundary.js';
import type { Dim, ModelInput } from './model_api.js';

export type { ModelInput } from './model_api.js';

export interface ParsedModel {
  file: string;
  baseDir: string | undefined;
  proto: ModelProto;
  graph: GraphProto;
  /** Opset of the default domain. */
  opset: number;
  nodes: OnnxNode[];
  initializers: Map<string, TensorProto>;
  /** Graph inputs that are not initializers, with their dims (symbolic ones bound per run: binding.ts). */
  inputs: ModelInput[];
  /** Inputs options.inputShapes pinned, or sized through a dim it pinned (for the error that says how to unpin). */
  pinned: ReadonlySet<string>;
  outputs: { name: string; declared: DeclaredType }[];
  /** STRING inputs and outputs, converted on the host (string_boundary.ts). */
  strings: StringBoundary;
}

const DEFAULT_DOMAINS = ['', 'ai.onnx'];

/** Reads the model and returns it with the list of unsupported features (empty when none). */
export function parseAndCheck(
  proto: ModelProto,
  file: string,
  baseDir: string | undefined,
  table: OpTable,
  inputShapes: Record<string, readonly number[]> = {},
): { model: ParsedModel; issues: string[] } {
  const graph = proto.graph!;
  const issues: string[] = [];
  const opsetEntry = (proto.opsetImport ?? []).find((o) => DEFAULT_DOMAINS.includes(o.domain ?? ''));
  const opset = opsetEntry ? Number(opsetEntry.version) : 1;

  const initializers = new Map<string, TensorProto>();
  for (const t of graph.initializer ?? []) {
    initializers.set(t.name ?? '', t);
    if (!kilnDType(t.dataType ?? 0)) issues.push(`initializer '${t.name}': element type ${onnxTypeName(t.dataType ?? 0)}`);
  }
  if ((graph.sparseInitializer ?? []).length) issues.push('sparse initializers');

  const inputs: ModelInput[] = [];
  const pinned = new Set<string>();
  for (const v of graph.input ?? []) {
    const name = v.name ?? '';
    if (initializers.has(name)) continue;
    const t = declaredType(v);
    const where = `graph input '${name}'`;
    if (t.kind !== 'tensor') {
      issues.push(`${where}: ${t.kind} type (only tensors are supported)`);
      continue;
    }
    const dtype = t.elemType === ONNX_STRING ? 'string' : kilnDType(t.elemType);
    if (!dtype) issues.push(`${where}: element type ${onnxTypeName(t.elemType)}`);
    const given = inputShapes[name];
    let dims: Dim[] = [];
    if (given && (!Array.isArray(given) || given.some((d) => !Number.isSafeInteger(d) || d < 0))) {
      issues.push(`${where}: inputShapes gives ${JSON.stringify(given)}, which is not a list of sizes (integers ≥ 0)`);
    } else if (given) {
      if (t.dims && (t.dims.length !== given.length || t.dims.some((d, i) => typeof d === 'number' && d >= 0 && d !== given[i]))) {
        issues.push(`${where}: inputShapes gives [${given.join(',')}] but the model declares [${t.dims.join(',')}]`);
      }
      dims = [...given];
      pinned.add(name);
    } else if (!t.dims) {
      issues.push(`${where}: no declared shape, so not even its rank is known (pass options.inputShapes['${name}'])`);
    } else {
      // Symbolic dims (dim_param, or unnamed) are bound from each run's feeds (binding.ts); a
      // negative declared size, which some exporters write for "unknown", is an unnamed one.
      dims = t.dims.map((d) => (typeof d === 'number' && d < 0 ? '?' : d));
    }
    inputs.push({ name, dims, shape: dims.map((d) => (typeof d === 'number' ? d : -1)), dtype: dtype ?? 'float32' });
  }
  issues.push(...pinSymbols(inputs, graph.input ?? [], pinned));
  for (const name of Object.keys(inputShapes)) {
    if (!inputs.some((i) => i.name === name)) issues.push(`options.inputShapes names '${name}', which is not a graph input`);
  }

  const outputs = (graph.output ?? []).map((v) => ({ name: v.name ?? '', declared: declaredType(v) }));
  for (const o of outputs) {
    if (o.declared.kind !== 'tensor') issues.push(`graph output '${o.name}': ${o.declared.kind} type`);
    else if (o.declared.elemType && o.declared.elemType !== ONNX_STRING && !kilnDType(o.declared.elemType)) {
      issues.push(`graph output '${o.name}': element type ${onnxTypeName(o.declared.elemType)}`);
    }
  }

  let protos = graph.node ?? [];
  try {
    protos = inlineFunctions(protos, proto.functions ?? []);
  } catch (e) {
    issues.push((e as Error).message);
  }
  const allNodes = protos.map((p, i) => {
    const domain = p.domain ?? '';
    const version = DEFAULT_DOMAINS.includes(domain) ? opset : Number((proto.opsetImport ?? []).find((o) => o.domain === domain)?.version ?? 1);
    return new OnnxNode(p, i, version);
  });
  // Strings at the boundary are converted on the host: their Casts leave the node list.
  const stringInputs = inputs.filter((i) => i.dtype === 'string').map((i) => i.name);
  const found = findStringBoundary(allNodes, stringInputs, outputs.map((o) => ({ name: o.name, elemType: o.declared.elemType })));
  const { boundary: strings, nodes } = found;
  issues.push(...found.issues);
  for (const v of graph.valueInfo ?? []) {
    const t = declaredType(v);
    const name = v.name ?? '';
    if (t.kind !== 'tensor' || !t.elemType || kilnDType(t.elemType)) continue;
    if (t.elemType === ONNX_STRING && (strings.casts.has(name) || strings.formats.has(name))) continue;
    issues.push(`value '${name}': element type ${onnxTypeName(t.elemType)}`);
  }
  const unknown = new Map<string, string[]>();
  const checkNodes = (list: OnnxNode[]) => {
    for (const n of list) {
      const def = DEFAULT_DOMAINS.includes(n.domain) ? table[n.opType] : undefined;
      if (!def) {
        const key = n.domain ? `${n.domain}.${n.opType}` : n.opType;
        unknown.set(key, [...(unknown.get(key) ?? []), n.name]);
        continue;
      }
      for (const msg of def.check?.(n) ?? []) issues.push(`${n.label}: ${msg}`);
      // Subgraph bodies (Loop) are converted with the same table: check what they use too.
      for (const g of n.subgraphs()) checkNodes((g.node ?? []).map((p, i) => new OnnxNode(p, i, n.opset)));
    }
  };
  checkNodes(nodes);
  for (const [op, names] of unknown) {
    const shown = names.slice(0, 5).map((s) => `'${s}'`).join(', ') + (names.length > 5 ? `, and ${names.length - 5} more` : '');
    issues.unshift(`operator ${op} is not supported (node${names.length > 1 ? 's' : ''} ${shown})`);
  }

  return { model: { file, baseDir, proto, graph, opset, nodes, initializers, inputs, pinned, outputs, strings }, issues };
}

/**
 * A symbolic dim that a pinned input sizes is that size in every input (ONNX: one dim_param,
 * one size), so pinning `ids` to [2,8] pins `mask[batch,seq]` to [2,8] too (and adds it to `pinned`).
 */
function pinSymbols(inputs: ModelInput[], declared: readonly ValueInfoProto[], pinned: Set<string>): string[] {
  const sizes = new Map<string, { size: number; by: string }>();
  const issues: string[] = [];
  for (const v of declared) {
    const inp = inputs.find((i) => i.name === v.name);
    if (!inp || !pinned.has(inp.name)) continue;
    declaredType(v).dims?.forEach((d, k) => {
      const size = inp.dims[k];
      if (typeof d !== 'string' || d === '?' || typeof size !== 'number') return;
      const seen = sizes.get(d);
      if (seen && seen.size !== size) issues.push(`inputShapes sizes dim '${d}' ${seen.size} in input '${seen.by}' but ${size} in input '${inp.name}'`);
      else sizes.set(d, { size, by: inp.name });
    });
  }
  if (sizes.size === 0 || issues.length) return issues;
  for (const inp of inputs) {
    if (inp.dims.some((d) => typeof d === 'string' && sizes.has(d))) pinned.add(inp.name);
    inp.dims = inp.dims.map((d) => (typeof d === 'string' && sizes.has(d) ? sizes.get(d)!.size : d));
    inp.shape = inp.dims.map((d) => (typeof d === 'number' ? d : -1));
  }
  return issues;
}

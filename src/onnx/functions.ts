// Model-local functions (ModelProto.functions): newer exporters (PyTorch's dynamo exporter
// without inlining, onnxscript) call them like operators. kiln inlines every call before
// checking the model, so the body's standard ops are what gets checked and converted.

import type { AttributeProto, ModelProto, NodeProto } from './proto.js';

type FunctionProto = NonNullable<ModelProto['functions']>[number];

const MAX_DEPTH = 16;

/** The graph's nodes with every call of a model-local function replaced by its body. */
export function inlineFunctions(nodes: NodeProto[], functions: readonly FunctionProto[]): NodeProto[] {
  if (functions.length === 0) return nodes;
  const byKey = new Map(functions.map((f) => [`${f.domain ?? ''}::${f.name ?? ''}`, f]));
  let counter = 0;
  const expand = (list: NodeProto[], depth: number): NodeProto[] =>
    list.flatMap((n) => {
      const f = byKey.get(`${n.domain ?? ''}::${n.opType ?? ''}`);
      if (!f) return [n];
      if (depth >= MAX_DEPTH) throw new Error(`function ${f.name}: calls nest deeper than ${MAX_DEPTH} (recursive?)`);
      return expand(instantiate(f, n, `${n.name || f.name}#${counter++}`), depth + 1);
    });
  return expand(nodes, 0);
}

/** The body of `f` for one call: values renamed into the call's scope, attribute references resolved. */
function instantiate(f: FunctionProto, call: NodeProto, scope: string): NodeProto[] {
  const rename = new Map<string, string>();
  (f.input ?? []).forEach((name, i) => rename.set(name, call.input?.[i] ?? ''));
  (f.output ?? []).forEach((name, i) => rename.set(name, call.output?.[i] ?? `${scope}/${name}`));
  const callAttrs = new Map((call.attribute ?? []).map((a) => [a.name ?? '', a]));
  const mapName = (v: string) => (v === '' ? '' : (rename.get(v) ?? `${scope}/${v}`));
  return (f.node ?? []).map((n) => ({
    ...n,
    name: `${scope}/${n.name ?? n.opType}`,
    input: (n.input ?? []).map(mapName),
    output: (n.output ?? []).map(mapName),
    attribute: (n.attribute ?? []).flatMap((a): AttributeProto[] => {
      if (!a.refAttrName) return [a];
      const v = callAttrs.get(a.refAttrName);
      // An attribute the call does not set falls back to the op's own default.
      return v ? [{ ...v, name: a.name }] : [];
    }),
  }));
}

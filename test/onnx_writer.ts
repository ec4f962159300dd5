// Writing small ONNX models in tests: value infos (dims as sizes or dim_param names) and a
// one-graph model from plain objects, encoded with onnx-proto.

import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;

export type Attr = { name: string; i?: number; f?: number; ints?: number[]; s?: string; t?: { dims: number[]; dataType: number; floatData?: number[]; int64Data?: number[] }; type: number };
export const AT = onnx.AttributeProto.AttributeType;

export function vi(name: string, elemType: number, dims: (number | string)[]) {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Encodes a one-graph model from plain objects. */
export function model(spec: {
  nodes: { op: string; inputs: string[]; outputs: string[]; name?: string; attrs?: Attr[]; domain?: string }[];
  inputs: ReturnType<typeof vi>[];
  outputs: ReturnType<typeof vi>[];
  initializers?: { name: string; dims: number[]; dataType: number; int64Data?: number[]; floatData?: number[] }[];
  opset?: number;
}): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: 'g',
      node: spec.nodes.map((n) => ({
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? '',
        domain: n.domain ?? '',
        attribute: (n.attrs ?? []).map((a) => ({ ...a, s: a.s === undefined ? undefined : new TextEncoder().encode(a.s) })),
      })),
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? [],
    },
  });
  return onnx.ModelProto.encode(m).finish();
}

/** ONNX element types the tests use. */
export const F = 1;
export const I64 = 7;

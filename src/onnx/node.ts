// A NodeProto with typed attribute accessors. Attribute getters take the ONNX default so
// each converter states the spec's defaults right where it reads them.

import type { AttributeProto, GraphProto, NodeProto, TensorProto } from './proto.js';
import { num, onnxNs } from './proto.js';

export class OnnxNode {
  readonly opType: string;
  readonly name: string;
  readonly domain: string;
  readonly inputs: string[];
  readonly outputs: string[];
  private readonly attrs = new Map<string, AttributeProto>();

  constructor(
    readonly proto: NodeProto,
    index: number,
    /** The opset version of the node's domain, which selects the op's semantics. */
    readonly opset: number,
  ) {
    this.opType = proto.opType ?? '';
    this.domain = proto.domain ?? '';
    this.name = proto.name || `${this.opType}_${index}`;
    this.inputs = [...(proto.input ?? [])];
    this.outputs = [...(proto.output ?? [])];
    for (const a of proto.attribute ?? []) this.attrs.set(a.name ?? '', a);
  }

  /** "OpType 'name'", the way every message refers to a node. */
  get label(): string {
    return `${this.opType} '${this.name}'`;
  }

  attrNames(): string[] {
    return [...this.attrs.keys()];
  }
  has(name: string): boolean {
    return this.attrs.has(name);
  }
  attr(name: string): AttributeProto | undefined {
    return this.attrs.get(name);
  }

  int(name: string, def: number): number;
  int(name: string): number | undefined;
  int(name: string, def?: number): number | undefined {
    const a = this.attrs.get(name);
    return a ? num(a.i as never) : def;
  }
  float(name: string, def: number): number;
  float(name: string): number | undefined;
  float(name: string, def?: number): number | undefined {
    const a = this.attrs.get(name);
    return a ? (a.f ?? 0) : def;
  }
  ints(name: string): number[] | undefined {
    const a = this.attrs.get(name);
    return a ? (a.ints ?? []).map((v) => num(v as never)) : undefined;
  }
  floats(name: string): number[] | undefined {
    const a = this.attrs.get(name);
    return a ? [...(a.floats ?? [])] : undefined;
  }
  string(name: string, def: string): string;
  string(name: string): string | undefined;
  string(name: string, def?: string): string | undefined {
    const a = this.attrs.get(name);
    return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : def;
  }
  tensor(name: string): TensorProto | undefined {
    const a = this.attrs.get(name);
    return a?.type === onnxNs().AttributeProto.AttributeType.TENSOR || a?.t ? (a.t ?? undefined) : undefined;
  }
  /** A graph-valued attribute (a Loop or If body). */
  graph(name: string): GraphProto | undefined {
    return this.attrs.get(name)?.g ?? undefined;
  }
  /** Every subgraph the node holds (for checking what they use). */
  subgraphs(): GraphProto[] {
    return [...this.attrs.values()].flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]);
  }
  /** Whether the optional input at `k` is present (absent: beyond the list, or named ''). */
  hasInput(k: number): boolean {
    return k < this.inputs.length && this.inputs[k] !== '';
  }
}

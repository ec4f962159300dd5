// A hash of an ONNX model file's structure: every byte of it except the values of its graph's
// initializers (their names, element types, dims and external-data locations stay in). Two
// models with the same structure and different weights hash alike; that is what lets a warm
// start find its stored conversion without converting (conversion_record.ts). Initializer
// values the conversion does read (shape tensors, indices, anything folded) are keyed
// separately, by content, so leaving them out here never lets a different model hit.
//
// The walk reads the protobuf wire format directly (no decode): ModelProto.graph (field 7) →
// GraphProto.initializer (field 5) → TensorProto, whose data fields keep their tag and, for
// length-delimited ones, their length; only the payload is left out. The schema says which
// fields lose their payload, so the stream hashed still names one file structure.

import { createHash, type Hash } from 'node:crypto';

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
/** TensorProto's value fields: float_data, int32_data, string_data, int64_data, raw_data, double_data, uint64_data. */
const TENSOR_DATA_FIELDS = new Set([4, 5, 6, 7, 9, 10, 11]);

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

class WireError extends Error {}

interface Field {
  field: number;
  wire: number;
  /** Where the tag starts, where the payload starts (after the tag, and for WIRE_LEN after the length) and ends. */
  start: number;
  payload: number;
  end: number;
}

function readVarint(b: Uint8Array, pos: number, end: number): [value: number, next: number] {
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new WireError('truncated varint');
    const byte = b[pos++]!;
    v += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [v, pos];
    scale *= 128;
  }
  throw new WireError('varint too long');
}

/** The fields of one message in b[start, end). */
function* fields(b: Uint8Array, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const at = pos;
    const [tag, afterTag] = readVarint(b, pos, end);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let payload = afterTag;
    let next: number;
    switch (wire) {
      case WIRE_VARINT:
        next = readVarint(b, afterTag, end)[1];
        break;
      case WIRE_FIXED64:
        next = afterTag + 8;
        break;
      case WIRE_FIXED32:
        next = afterTag + 4;
        break;
      case WIRE_LEN: {
        const [len, afterLen] = readVarint(b, afterTag, end);
        payload = afterLen;
        next = afterLen + len;
        break;
      }
      default:
        // Groups (3, 4) are not used by onnx.proto; anything else is not a protobuf.
        throw new WireError(`wire type ${wire}`);
    }
    if (next > end || field === 0) throw new WireError('field past its message');
    yield { field, wire, start: at, payload, end: next };
    pos = next;
  }
}

function hashTensorSkippingData(h: Hash, b: Uint8Array, f: Field): void {
  h.update(b.subarray(f.start, f.payload));
  for (const t of fields(b, f.payload, f.end)) {
    // A value field keeps its tag (and its length, for a packed or bytes field): the dims and
    // type elsewhere in the tensor already fix how much data there is.
    if (TENSOR_DATA_FIELDS.has(t.field)) h.update(b.subarray(t.start, t.payload));
    else h.update(b.subarray(t.start, t.end));
  }
}

function hashGraph(h: Hash, b: Uint8Array, f: Field): void {
  h.update(b.subarray(f.start, f.payload));
  for (const g of fields(b, f.payload, f.end)) {
    if (g.field === GRAPH_INITIALIZER && g.wire === WIRE_LEN) hashTensorSkippingData(h, b, g);
    else h.update(b.subarray(g.start, g.end));
  }
}

/**
 * sha256 (hex) of the model's bytes with its graph's initializer values left out. Bytes that
 * do not parse as a protobuf hash whole (such a file fails to load anyway).
 */
export function modelStructureHash(bytes: Uint8Array): string {
  const h = createHash('sha256');
  try {
    h.update('onnx-structure-v1\0');
    for (const f of fields(bytes, 0, bytes.length)) {
      if (f.field === MODEL_GRAPH && f.wire === WIRE_LEN) hashGraph(h, bytes, f);
      else h.update(bytes.subarray(f.start, f.end));
    }
    return h.digest('hex');
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    return createHash('sha256').update('onnx-unparsed\0').update(bytes).digest('hex');
  }
}

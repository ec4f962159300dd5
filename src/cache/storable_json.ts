// Converts the JSON-like values kiln caches (a host plan, kernel launch metadata) to plain
// JSON and back, moving typed arrays out into raw blobs and tagging NaN, ±Infinity and -0.
// Why not plain JSON.stringify: it silently turns a Float32Array into {"0":..}, -Infinity
// into null, -0 into 0 and undefined array items into null, so a warm start would load a
// *different* plan than the one that was compiled.
// Anything that cannot round-trip exactly is rejected at write time instead (the store then
// warns and skips the put: a miss later, never a wrong answer).

const BLOB_TAG = '$kilnBlob';
/** NaN, ±Infinity and -0, which JSON would turn into null or 0 (plans hold -Infinity as a max-reduction start). */
const NUMBER_TAG = '$kilnNumber';

const TYPED_ARRAYS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
type TypedArrayName = keyof typeof TYPED_ARRAYS;

export class NotStorableError extends TypeError {
  override name = 'NotStorableError';
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Plain-JSON form of `value`; typed arrays are appended to `blobs` and referenced by index. */
export function encodeStorable(value: unknown, blobs: Uint8Array[], path = '$'): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      return { [NUMBER_TAG]: Object.is(value, -0) ? '-0' : String(value) };
    case 'object': {
      if (value === null) return null;
      if (ArrayBuffer.isView(value)) {
        // instanceof rather than constructor.name, so a Buffer (a Uint8Array subclass) is stored as Uint8Array.
        const name = (Object.keys(TYPED_ARRAYS) as TypedArrayName[]).find((n) => value instanceof TYPED_ARRAYS[n]);
        if (name === undefined) throw new NotStorableError(`${path}: unsupported view ${value.constructor.name}`);
        blobs.push(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        return { [BLOB_TAG]: blobs.length - 1, type: name };
      }
      if (Array.isArray(value)) {
        return value.map((item, i) => {
          if (item === undefined) throw new NotStorableError(`${path}[${i}]: undefined array item`);
          return encodeStorable(item, blobs, `${path}[${i}]`);
        });
      }
      if (!isPlainObject(value)) {
        throw new NotStorableError(`${path}: not a plain object (${value.constructor?.name ?? 'unknown'})`);
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (k === BLOB_TAG || k === NUMBER_TAG) throw new NotStorableError(`${path}: reserved key ${k}`);
        if (v === undefined) continue; // an absent optional field reads back the same
        out[k] = encodeStorable(v, blobs, `${path}.${k}`);
      }
      return out;
    }
    default:
      throw new NotStorableError(`${path}: cannot store a ${typeof value}`);
  }
}

/**
 * Whether encodeStorable's output holds any tag (a blob reference or a tagged number). One
 * without is its own decoding: a warm start can take it as JSON.parse gave it, and skip a
 * walk that cost ~1.7 ms for a 100-kernel plan in a fresh (unoptimised) process.
 */
export function hasStorableTags(json: unknown): boolean {
  if (json === null || typeof json !== 'object') return false;
  if (Array.isArray(json)) return json.some(hasStorableTags);
  if (BLOB_TAG in json || NUMBER_TAG in json) return true;
  return Object.values(json).some(hasStorableTags);
}

/** Inverse of encodeStorable. Typed arrays are fresh copies (aligned, independent of the file buffer). */
export function decodeStorable(json: unknown, blobs: readonly Uint8Array[]): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map((item) => decodeStorable(item, blobs));
  const obj = json as Record<string, unknown>;
  if (NUMBER_TAG in obj) {
    const text = obj[NUMBER_TAG];
    if (text === '-0') return -0;
    if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return Number(text);
    throw new NotStorableError(`bad number ${JSON.stringify(obj)}`);
  }
  if (BLOB_TAG in obj) {
    const index = obj[BLOB_TAG];
    const type = obj.type;
    if (typeof index !== 'number' || index < 0 || index >= blobs.length || typeof type !== 'string' || !(type in TYPED_ARRAYS)) {
      throw new NotStorableError(`bad blob reference ${JSON.stringify(obj)}`);
    }
    const bytes = blobs[index]!.slice(); // copy: a fresh ArrayBuffer is aligned for any element size
    const ctor = TYPED_ARRAYS[type as TypedArrayName];
    if (bytes.byteLength % ctor.BYTES_PER_ELEMENT !== 0) throw new NotStorableError(`blob ${index} has a partial ${type} element`);
    return new ctor(bytes.buffer, 0, bytes.byteLength / ctor.BYTES_PER_ELEMENT);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = decodeStorable(v, blobs);
  return out;
}

// A canonical JSON text for hashing: object keys sorted, so two equal values built in a
// different order hash the same. Values plain JSON would collapse (NaN vs null, a
// Float32Array vs an object of its indices, -0 vs 0, undefined array items) are written as
// tokens starting with '!', which no JSON value can start with, so two different inputs
// never share a text. The output is for hashing only; it is not meant to be parsed back.
//
// Two paths, one text. Graph keys hash ~800 nodes on every warm start, in a fresh process
// where this code runs unoptimised: the recursive writer took ~4 ms there. Most values are
// plain JSON (finite numbers, strings, booleans, null, arrays, plain objects), and for those
// the native JSON.stringify, given every key name in sorted order as its property list,
// writes exactly the same text in ~0.3 ms. A scan decides which path a value takes.

export function canonicalJson(value: unknown): string {
  const keys = new Set<string>();
  return collectPlainKeys(value, keys) ? JSON.stringify(value, [...keys].sort()) : canonicalText(value);
}

/**
 * True when `value` is plain JSON that JSON.stringify writes exactly as canonicalText would
 * (given sorted keys); gathers every object key into `keys` on the way. Leaves are checked
 * inline rather than by a call each: a graph is mostly arrays of numbers.
 */
function collectPlainKeys(value: unknown, keys: Set<string>): boolean {
  if (typeof value !== 'object' || value === null) return isPlainLeaf(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null ? !collectPlainKeys(item, keys) : !isPlainLeaf(item)) return false;
    }
    return true;
  }
  // Typed arrays, Maps and class instances (which may have toJSON) take the full path.
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  const obj = value as Record<string, unknown>;
  for (const k in obj) {
    // JSON.stringify skips undefined properties, canonicalText writes '!undef'; an own
    // '__proto__' key would be read through the prototype's accessor.
    if (k === '__proto__' || !Object.prototype.hasOwnProperty.call(obj, k)) return false;
    const item = obj[k];
    if (typeof item === 'object' && item !== null ? !collectPlainKeys(item, keys) : !isPlainLeaf(item)) return false;
    keys.add(k);
  }
  return true;
}

/** A string, boolean, null or a finite number other than -0 (JSON writes NaN as null, -0 as 0). */
function isPlainLeaf(v: unknown): boolean {
  if (typeof v === 'number') return v - v === 0 && (v !== 0 || 1 / v > 0);
  return typeof v === 'string' || typeof v === 'boolean' || v === null;
}

/** The full writer, for any value canonicalJson accepts (exported so tests can hold both paths to one text). */
export function canonicalText(value: unknown): string {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? JSON.stringify(value) : `!num:${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'bigint':
      return `!big:${value.toString()}`;
    case 'undefined':
      return '!undef';
    case 'object': {
      if (value === null) return 'null';
      if (ArrayBuffer.isView(value)) {
        const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
        return `!${value.constructor.name}:${bytes.toString('hex')}`;
      }
      if (Array.isArray(value)) return `[${value.map(canonicalText).join(',')}]`;
      if (value instanceof Map) {
        const items = [...value.entries()].map(([k, v]) => `[${canonicalText(k)},${canonicalText(v)}]`).sort();
        return `!map[${items.join(',')}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalText(obj[k])}`).join(',')}}`;
    }
    default:
      // Functions and symbols have no content to hash; a key built from one would be a lie.
      throw new TypeError(`canonicalJson: cannot hash a ${typeof value}`);
  }
}

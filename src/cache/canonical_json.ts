// A canonical JSON text for hashing: object keys sorted, so two equal values built in a
// different order hash the same. Values plain JSON would collapse (NaN vs null, a
// Float32Array vs an object of its indices, -0 vs 0, undefined array items) are written as
// tokens starting with '!', which no JSON value can start with, so two different inputs
// never share a text. The output is for hashing only; it is not meant to be parsed back.

export function canonicalJson(value: unknown): string {
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
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      if (value instanceof Map) {
        const items = [...value.entries()].map(([k, v]) => `[${canonicalJson(k)},${canonicalJson(v)}]`).sort();
        return `!map[${items.join(',')}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      // Functions and symbols have no content to hash; a key built from one would be a lie.
      throw new TypeError(`canonicalJson: cannot hash a ${typeof value}`);
  }
}

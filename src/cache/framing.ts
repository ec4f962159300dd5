// Payload framing shared by kernel entries, graph bundles and artifact files: one JSON
// document for the structured fields plus any number of raw binary blobs, with no base64.
//
//   u32 LE   json byte length
//   ...      json (utf-8)
//   u32 LE   blob count
//   u64 LE × count   blob byte lengths
//   ...      blobs, back to back
//
// The entry header's checksum already guards integrity; the bounds checks here only make
// a payload from a buggy or foreign writer fail loudly (FramingError) instead of misreading.

export class FramingError extends Error {
  override name = 'FramingError';
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function packJsonAndBlobs(json: unknown, blobs: readonly Uint8Array[]): Uint8Array {
  const jsonBytes = utf8.encode(JSON.stringify(json));
  let total = 4 + jsonBytes.byteLength + 4 + 8 * blobs.length;
  for (const b of blobs) total += b.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let off = 0;
  view.setUint32(off, jsonBytes.byteLength, true);
  off += 4;
  out.set(jsonBytes, off);
  off += jsonBytes.byteLength;
  view.setUint32(off, blobs.length, true);
  off += 4;
  for (const b of blobs) {
    view.setBigUint64(off, BigInt(b.byteLength), true);
    off += 8;
  }
  for (const b of blobs) {
    out.set(b, off);
    off += b.byteLength;
  }
  return out;
}

/** Inverse of packJsonAndBlobs. The blobs are views into `bytes` (no copy). */
export function unpackJsonAndBlobs(bytes: Uint8Array): { json: unknown; blobs: Uint8Array[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  const need = (n: number): void => {
    if (off + n > bytes.byteLength) throw new FramingError('payload truncated');
  };
  need(4);
  const jsonLen = view.getUint32(off, true);
  off += 4;
  need(jsonLen);
  let json: unknown;
  try {
    json = JSON.parse(utf8Decoder.decode(bytes.subarray(off, off + jsonLen)));
  } catch (e) {
    throw new FramingError(`bad json: ${(e as Error).message}`);
  }
  off += jsonLen;
  need(4);
  const count = view.getUint32(off, true);
  off += 4;
  need(8 * count);
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) {
    lengths.push(Number(view.getBigUint64(off, true)));
    off += 8;
  }
  const blobs: Uint8Array[] = [];
  for (const len of lengths) {
    need(len);
    blobs.push(new Uint8Array(bytes.buffer, bytes.byteOffset + off, len));
    off += len;
  }
  if (off !== bytes.byteLength) throw new FramingError('trailing bytes after last blob');
  return { json, blobs };
}

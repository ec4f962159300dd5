// NumPy .npy files (format 1.0-3.0), little endian, C order: float32, float64, float16, the
// signed and unsigned integers of 8 to 64 bits, and bool; every other dtype is refused,
// bfloat16 included (NumPy has no bfloat16, so there is no .npy form to write or read).
// float16 data moves as its raw bits. (The CLI converts a float64 file to float32 where the
// model's input is float32: NumPy's default is float64.)

import { readFileSync, writeFileSync } from 'node:fs';
import { type DType, byteSize, viewTyped } from '../graph/dtype.js';
import { numel } from '../graph/shape.js';
import { NDArray } from '../graph/ndarray.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR: Record<DType, string | undefined> = {
  float32: '<f4', float64: '<f8', float16: '<f2', bfloat16: undefined, int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2',
  int32: '<i4', uint32: '<u4', int64: '<i8', uint64: '<u8', bool: '|b1',
};
/** Descriptor → dtype; one-byte types may also be written with '<' or '=' (byte order is moot). */
const FROM_DESCR = new Map<string, DType>(
  Object.entries(DESCR).flatMap(([d, s]) => (s ? [[s, d as DType], ...(s.startsWith('|') ? [[`<${s.slice(1)}`, d as DType], [`=${s.slice(1)}`, d as DType]] : [])] : [])) as [string, DType][],
);

export class NpyError extends Error {
  constructor(file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'NpyError';
  }
}

export function parseNpy(bytes: Uint8Array, file = '<npy>'): NDArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyError(file, 'not a .npy file (bad magic)');
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new NpyError(file, 'truncated header');
  const header = new TextDecoder(major >= 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new NpyError(file, `malformed header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw new NpyError(file, 'Fortran-order arrays are not supported (save with np.ascontiguousarray)');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const n = numel(shape);
  const dataStart = start + headerLen;
  const body = bytes.subarray(dataStart);
  const dtype = FROM_DESCR.get(descr);
  if (dtype === undefined) {
    throw new NpyError(file, `dtype '${descr}' is not supported (use float32, float64, float16, int8 to int64, uint8 to uint64 or bool, little endian)`);
  }
  const w = byteSize(dtype);
  if (body.length < n * w) throw new NpyError(file, `truncated data: ${body.length} bytes for shape (${shape.join(', ')}) of ${descr}`);
  const buf = new ArrayBuffer(n * w);
  new Uint8Array(buf).set(body.subarray(0, n * w));
  return NDArray.from(viewTyped(dtype, buf, 0, n), shape, { dtype });
}

export function readNpy(file: string): NDArray {
  return parseNpy(readFileSync(file), file);
}

export async function encodeNpy(a: NDArray, file = '<npy>'): Promise<Uint8Array> {
  const descr = DESCR[a.dtype];
  if (!descr) throw new NpyError(file, `${a.dtype} has no .npy dtype (NumPy has no ${a.dtype}): cast to float32 first`);
  const data = await a.toTypedArray();
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad so the data starts on a 64-byte boundary, header ending in '\n' (the format's rule).
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

export async function writeNpy(file: string, a: NDArray): Promise<void> {
  writeFileSync(file, await encodeNpy(a, file));
}

// Reading an external-data tensor: its location checked (inside the model's directory), its
// region checked against the file, then its values as a view of the file's bytes (mapped, or
// read once per file: file_source.ts) where the offset suits the element type, else a copy of
// its own region. No per-element JavaScript: a view, or one copy of the region's bytes.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as path from 'node:path';
import { type AnyTypedArray, type DType, byteSize, viewTyped } from '../graph/dtype.js';
import { externalDataMode, fileBytes } from './file_source.js';
import type onnxProto from 'onnx-proto';

/**
 * An external-data tensor's values, from its file relative to the model's directory: each
 * file is mapped or read once however many tensors it holds (reading the whole file per
 * tensor cost tensors × file size: GPT-2's 497 MB took 17 s). A view needs its offset to be a
 * multiple of the element size (a Float32Array at byte 6 cannot be made); such a tensor gets
 * a copy of its region instead. The location must stay inside the model's directory.
 */
/** proto.ts's TensorProto, named from the package: proto.ts imports this module. */
type TensorProto = onnxProto.onnx.ITensorProto;

/** A tensor's external-data entries by key (location, offset, length, …); empty for inline data. */
export function externalDataFields(t: TensorProto): Map<string, string> {
  return new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
}

export function readExternal(t: TensorProto, baseDir: string | undefined, dtype: DType, n: number): AnyTypedArray {
  const kv = externalDataFields(t);
  const location = kv.get('location');
  if (!location) throw new Error(`tensor '${t.name}' has external data without a location`);
  if (baseDir === undefined) throw new Error(`tensor '${t.name}' has external data ('${location}') but the model was given as bytes`);
  const file = path.resolve(baseDir, location);
  const rel = path.relative(baseDir, file);
  if (path.isAbsolute(location) || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`tensor '${t.name}': external data location '${location}' is outside the model's directory`);
  }
  const width = byteSize(dtype);
  const offset = Number(kv.get('offset') ?? 0);
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = kv.has('length') ? Number(kv.get('length')) : size - offset;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new Error(`external data file ${file} (${size} bytes) is shorter than offset ${offset} + length ${length} of tensor '${t.name}'`);
    }
    if (length !== n * width) throw new Error(`tensor '${t.name}': external data holds ${length} bytes, expected ${n * width}`);
    const mode = externalDataMode();
    const whole = mode !== 'region' && length > 0 ? fileBytes(file, fd, mode) : undefined;
    if (whole) {
      if (offset % width !== 0) return viewTyped(dtype, whole.buffer.slice(offset, offset + length), 0, n);
      whole.mapping?.adopt(t.name ?? '', offset, length);
      return viewTyped(dtype, whole.buffer, offset, n);
    }
    return readRegion(fd, file, t.name ?? '', offset, length, dtype, n);
  } finally {
    closeSync(fd);
  }
}

/** One tensor's region read into a buffer of its own. */
function readRegion(fd: number, file: string, name: string, offset: number, length: number, dtype: DType, n: number): AnyTypedArray {
  const buf = new ArrayBuffer(length);
  const bytes = new Uint8Array(buf);
  for (let done = 0; done < length; ) {
    const got = readSync(fd, bytes, done, Math.min(length - done, 1 << 30), offset + done);
    if (got === 0) throw new Error(`external data file ${file} ended early reading tensor '${name}'`);
    done += got;
  }
  return viewTyped(dtype, buf, 0, n);
}

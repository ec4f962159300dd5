// Payload of one kernel entry: the CompiledKernel fields as JSON, the binary as raw blob 0,
// typed arrays inside `meta` (if any) as further blobs. See framing.ts for the byte layout.

import type { BackendName, CompiledKernel, KernelMeta } from './compiled_kernel.js';
import { FramingError, packJsonAndBlobs, unpackJsonAndBlobs } from './framing.js';
import { isValidKey } from './layout.js';
import { decodeStorable, encodeStorable } from './storable_json.js';

/** The JSON half of a kernel; `binary` is the index of its binary among the payload's blobs. */
export interface KernelFields {
  key: string;
  backend: BackendName;
  kernelName: string;
  /** Index of the binary among the blobs; -1 when `binaryOf` names the entry holding it. */
  binary: number;
  /** The kernel entry (a compile group's program) whose binary this kernel's is; kernel store only. */
  binaryOf?: string;
  meta: unknown;
  log: string;
  compileMs: number;
}

/**
 * Appends the kernel's binary (and meta blobs) to `blobs`; returns its JSON fields. With
 * `shared`, a binary already appended for another kernel (a compile group's one module) is
 * referenced, not stored again, and reads back as one object.
 */
export function kernelToFields(k: CompiledKernel, blobs: Uint8Array[], shared?: Map<Uint8Array, number>): KernelFields {
  let binary = shared?.get(k.binary);
  if (binary === undefined) {
    blobs.push(k.binary);
    binary = blobs.length - 1;
    shared?.set(k.binary, binary);
  }
  return {
    key: k.key,
    backend: k.backend,
    kernelName: k.kernelName,
    binary,
    meta: encodeStorable(k.meta, blobs, '$.meta'),
    log: k.log,
    compileMs: k.compileMs,
  };
}

function isBackend(v: unknown): v is BackendName {
  return v === 'c' || v === 'cuda';
}

/** Validates and rebuilds a kernel; throws FramingError on anything malformed. */
export function kernelFromFields(f: unknown, blobs: readonly Uint8Array[]): CompiledKernel {
  const o = f as Partial<Record<keyof KernelFields, unknown>> | null;
  if (
    o === null ||
    typeof o !== 'object' ||
    !isValidKey(o.key) ||
    !isBackend(o.backend) ||
    typeof o.kernelName !== 'string' ||
    typeof o.binary !== 'number' ||
    blobs[o.binary] === undefined ||
    typeof o.log !== 'string' ||
    typeof o.compileMs !== 'number'
  ) {
    throw new FramingError('malformed kernel fields');
  }
  const meta = decodeStorable(o.meta, blobs);
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new FramingError('kernel meta is not an object');
  return {
    key: o.key as string,
    backend: o.backend,
    kernelName: o.kernelName,
    binary: blobs[o.binary]!,
    meta: meta as KernelMeta,
    log: o.log,
    compileMs: o.compileMs,
  };
}

/**
 * A kernel entry's payload. A kernel with `binaryOf` (a compile group's member) is written
 * without its binary: the entry names the group's entry, which holds it once for all members.
 */
export function encodeKernel(k: CompiledKernel): Uint8Array {
  const blobs: Uint8Array[] = [];
  if (k.binaryOf !== undefined) {
    if (!isValidKey(k.binaryOf)) throw new FramingError(`not a kernel key: ${JSON.stringify(k.binaryOf)}`);
    const fields = kernelToFields({ ...k, binary: new Uint8Array(0) }, blobs);
    blobs.length = 0;
    const meta = encodeStorable(k.meta, blobs, '$.meta');
    return packJsonAndBlobs({ ...fields, binary: -1, binaryOf: k.binaryOf, meta }, blobs);
  }
  const fields = kernelToFields(k, blobs);
  return packJsonAndBlobs(fields, blobs);
}

/** A decoded kernel entry: the kernel, or (binaryOf set) the kernel less its binary, which lives in that entry. */
export type DecodedKernel = { kernel: CompiledKernel; binaryOf?: undefined } | { kernel: Omit<CompiledKernel, 'binary'>; binaryOf: string };

/** The kernel entry in a verified payload (its binary a view into `payload`, or a reference). Throws on malformed input. */
export function decodeKernelEntry(payload: Uint8Array): DecodedKernel {
  const { json, blobs } = unpackJsonAndBlobs(payload);
  const o = json as { binary?: unknown; binaryOf?: unknown } | null;
  if (o !== null && typeof o === 'object' && o.binaryOf !== undefined) {
    if (!isValidKey(o.binaryOf) || o.binary !== -1) throw new FramingError('malformed binary reference');
    const { binary: _b, ...kernel } = kernelFromFields({ ...o, binary: blobs.length }, [...blobs, new Uint8Array(0)]);
    return { kernel, binaryOf: o.binaryOf };
  }
  return { kernel: kernelFromFields(json, blobs) };
}

/** The kernel in a verified payload; its binary is a view into `payload`. Throws on malformed input or a binary reference. */
export function decodeKernel(payload: Uint8Array): CompiledKernel {
  const d = decodeKernelEntry(payload);
  if (d.binaryOf !== undefined) throw new FramingError('kernel entry references another entry for its binary');
  return d.kernel;
}

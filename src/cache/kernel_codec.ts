// Payload of one kernel entry: the CompiledKernel fields as JSON, the binary as raw blob 0,
// typed arrays inside `meta` (if any) as further blobs. See framing.ts for the byte layout.
// A compile group's entry (the group's one binary, which its members' entries name) stores
// `{ groupMembers: [keys] }` where a kernel stores its metadata. Entries are untrusted
// input: every field is checked on the way back, the metadata against its backend's shape
// (compile/kernel_meta.ts), and anything malformed is a FramingError (a corrupt entry).

import { KernelMetaError, parseKernelMeta } from '../cache/kernel_meta.js';
import type { BackendName, CompiledGroup, CompiledKernel, KernelTarget } from './compiled_kernel.js';
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
export function kernelToFields(k: CompiledKernel | CompiledGroup, blobs: Uint8Array[], shared?: Map<Uint8Array, number>): KernelFields {
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
    meta: encodeStorable(storedMeta(k), blobs, '$.meta'),
    log: k.log,
    compileMs: k.compileMs,
  };
}

/** What an entry stores as `meta`: a kernel's metadata, or a group's member keys. */
function storedMeta(k: CompiledKernel | CompiledGroup): unknown {
  return 'groupMembers' in k ? { groupMembers: k.groupMembers } : k.meta;
}

/** A group entry's member keys, when `meta` is a group's (exactly `{ groupMembers: [valid keys] }`). */
function groupMembersOf(meta: unknown): string[] | undefined {
  if (meta === null || typeof meta !== 'object') return undefined;
  const o = meta as Record<string, unknown>;
  const members = o.groupMembers;
  if (Object.keys(o).length !== 1 || !Array.isArray(members) || !members.every(isValidKey)) return undefined;
  return members as string[];
}

/** The backend with its metadata validated; throws FramingError naming what is wrong. */
function targetFrom(backend: BackendName, meta: unknown): KernelTarget {
  try {
    return backend === 'c' ? { backend, meta: parseKernelMeta(backend, meta) } : { backend, meta: parseKernelMeta(backend, meta) };
  } catch (e) {
    if (e instanceof KernelMetaError) throw new FramingError(`malformed kernel metadata: ${e.message}`);
    throw e;
  }
}

function isBackend(v: unknown): v is BackendName {
  return v === 'c' || v === 'cuda';
}

/** Validates and rebuilds a kernel entry, a compile group's or a kernel's; throws FramingError on anything malformed. */
export function programFromFields(f: unknown, blobs: readonly Uint8Array[]): CompiledKernel | CompiledGroup {
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
  const common = { key: o.key as string, kernelName: o.kernelName, binary: blobs[o.binary]!, log: o.log, compileMs: o.compileMs };
  const meta = decodeStorable(o.meta, blobs);
  const groupMembers = groupMembersOf(meta);
  if (groupMembers !== undefined) return { ...common, backend: o.backend, groupMembers };
  return { ...common, ...targetFrom(o.backend, meta) };
}

/** Validates and rebuilds a kernel (not a compile group's program); throws FramingError on anything malformed. */
export function kernelFromFields(f: unknown, blobs: readonly Uint8Array[]): CompiledKernel {
  const p = programFromFields(f, blobs);
  if ('groupMembers' in p) throw new FramingError('a compile group\'s program where a kernel was expected');
  return p;
}

/**
 * A kernel entry's payload. A kernel with `binaryOf` (a compile group's member) is written
 * without its binary: the entry names the group's entry, which holds it once for all members.
 */
export function encodeKernel(k: CompiledKernel | CompiledGroup): Uint8Array {
  const blobs: Uint8Array[] = [];
  if (k.binaryOf !== undefined) {
    if (!isValidKey(k.binaryOf)) throw new FramingError(`not a kernel key: ${JSON.stringify(k.binaryOf)}`);
    const fields = kernelToFields({ ...k, binary: new Uint8Array(0) }, blobs);
    blobs.length = 0;
    const meta = encodeStorable(storedMeta(k), blobs, '$.meta');
    return packJsonAndBlobs({ ...fields, binary: -1, binaryOf: k.binaryOf, meta }, blobs);
  }
  const fields = kernelToFields(k, blobs);
  return packJsonAndBlobs(fields, blobs);
}

/**
 * A decoded kernel entry: a kernel, a kernel without its binary (binaryOf set: the binary lives
 * in that entry, a compile group's), or a compile group's program (`group`).
 */
export type DecodedKernel =
  | { kernel: CompiledKernel; binaryOf?: undefined; group?: undefined }
  /** `kernel.binary` is empty here: the bytes are the group's, in the entry `binaryOf`. */
  | { kernel: CompiledKernel; binaryOf: string; group?: undefined }
  | { kernel?: undefined; binaryOf?: undefined; group: CompiledGroup };

/** The kernel entry in a verified payload (its binary a view into `payload`, or a reference). Throws on malformed input. */
export function decodeKernelEntry(payload: Uint8Array): DecodedKernel {
  const { json, blobs } = unpackJsonAndBlobs(payload);
  const o = json as { binary?: unknown; binaryOf?: unknown } | null;
  if (o !== null && typeof o === 'object' && o.binaryOf !== undefined) {
    if (!isValidKey(o.binaryOf) || o.binary !== -1) throw new FramingError('malformed binary reference');
    return { kernel: kernelFromFields({ ...o, binary: blobs.length }, [...blobs, new Uint8Array(0)]), binaryOf: o.binaryOf };
  }
  const p = programFromFields(json, blobs);
  return 'groupMembers' in p ? { group: p } : { kernel: p };
}

/** The kernel in a verified payload; its binary is a view into `payload`. Throws on malformed input, a binary reference or a group's entry. */
export function decodeKernel(payload: Uint8Array): CompiledKernel {
  const d = decodeKernelEntry(payload);
  if (d.binaryOf !== undefined) throw new FramingError('kernel entry references another entry for its binary');
  if (d.group !== undefined) throw new FramingError('a compile group\'s entry where a kernel was expected');
  return d.kernel;
}

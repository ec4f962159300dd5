// Whole-cache operations behind `kiln cache stats | clear | export FILE | import FILE`.
// An exported artifact file is itself one entry file (entry_file.ts, so it is checksummed as
// a whole) whose payload is a signature block { kind, publicKey, signature } framing one
// blob: the signed inner payload, a manifest plus every entry's payload as a raw blob
// (Triton's "one manifest per group of files"). Shipping a prebuilt cache to another machine
// with the same compiler and GPU makes its first run a warm start.
//
// An artifact holds code that the importing process will run, so import trusts nothing in it
// before the signature: the signer's key must be trusted (signing.ts) and the signature must
// cover the inner payload. Then every entry is still validated before it comes near a path:
// keys are 64 hex digits (layout.ts), a kernel entry decodes with the key it is filed under,
// a graph bundle names its own key and only valid kernel keys.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { bump } from '../observe/counters.js';
import { ENTRY_HEADER_BYTES, readEntryVerified, writeEntryAtomic } from './entry_file.js';
import { CACHE_FORMAT_VERSION } from './format.js';
import { FramingError, packJsonAndBlobs, unpackJsonAndBlobs } from './framing.js';
import { fingerprint, machineSigningKey, signPayload, verifyPayload, type SigningOptions } from './signing.js';
import { bundleKernelKeys, bundleLabel, decodeBundle } from './graph_bundle.js';
import { decodeKernelEntry } from './kernel_codec.js';
import { entryRelPath, GRAPHS_DIR, isValidKey, KERNELS_DIR, listEntryFiles, type EntryKind } from './layout.js';

const MANIFEST_KIND = 'kiln-cache-artifacts';
const SIGNED_KIND = 'kiln-signed-artifact';

interface Manifest {
  kind: typeof MANIFEST_KIND;
  formatVersion: string;
  label: string | null;
  createdAt: string;
  /** entries[i] is stored in blob i. */
  entries: { type: EntryKind; key: string }[];
}

export interface CacheStats {
  dir: string;
  kernels: number;
  graphs: number;
  /** Bytes of all entry files (headers included). */
  bytes: number;
}

export interface ExportOptions extends SigningOptions {
  /** Only graph bundles put with this label, and the kernel entries they reference. */
  label?: string;
}

export interface ExportResult {
  kernels: number;
  graphs: number;
  /** Size of the written file. */
  bytes: number;
  /** Fingerprint of the key that signed it. */
  signer: string;
}

export interface ImportResult {
  kernels: number;
  graphs: number;
  /** Entries in the file that failed validation and were not written. */
  skipped: number;
  /** Fingerprint of the (trusted) key that signed it. */
  signer: string;
}

export function cacheStats(dir: string): CacheStats {
  const stats: CacheStats = { dir, kernels: 0, graphs: 0, bytes: 0 };
  for (const e of listEntryFiles(dir)) {
    if (e.kind === 'kernel') stats.kernels++;
    else stats.graphs++;
    stats.bytes += e.size;
  }
  return stats;
}

/** Removes every kernel and graph entry (only kiln's own subdirectories, never `dir` itself). Returns what was there. */
export function clearCache(dir: string): CacheStats {
  const before = cacheStats(dir);
  rmSync(join(dir, KERNELS_DIR), { recursive: true, force: true });
  rmSync(join(dir, GRAPHS_DIR), { recursive: true, force: true });
  return before;
}

/** Verified payload of an entry file, or undefined (a corrupt one is removed and counted, as on a lookup). */
function readLive(path: string): Uint8Array | undefined {
  const payload = readEntryVerified(path, { requireOwned: true });
  if (payload === 'missing') return undefined; // evicted or replaced since the listing
  if (!(payload instanceof Uint8Array) && payload !== 'corrupt') return undefined; // not ours to ship
  if (payload === 'corrupt') {
    rmSync(path, { force: true });
    bump('cache_corrupt');
    return undefined;
  }
  return payload;
}

/**
 * Writes the entries of the cache in `dir` (all, or one label's) into the single file `file`,
 * atomically. Throws on I/O errors writing `file` (a CLI command should report them).
 */
export function exportArtifacts(dir: string, file: string, opts: ExportOptions = {}): ExportResult {
  const files = listEntryFiles(dir);
  const entries: Manifest['entries'] = [];
  const blobs: Uint8Array[] = [];
  const add = (type: EntryKind, key: string, payload: Uint8Array): void => {
    entries.push({ type, key });
    blobs.push(payload);
  };
  const key = machineSigningKey({ env: opts.env, create: true })!;
  const result: ExportResult = { kernels: 0, graphs: 0, bytes: 0, signer: fingerprint(key.publicRaw) };
  const wantedKernels = new Set<string>();
  for (const f of files.filter((f) => f.kind === 'graph')) {
    const payload = readLive(f.path);
    if (payload === undefined) continue;
    if (opts.label !== undefined) {
      let kernelKeys: string[];
      try {
        if (bundleLabel(payload) !== opts.label) continue;
        kernelKeys = bundleKernelKeys(payload);
      } catch {
        continue; // checksum-valid but undecodable: not worth shipping
      }
      for (const k of kernelKeys) wantedKernels.add(k);
    }
    add('graph', f.key, payload);
    result.graphs++;
  }
  const kernelFiles = files.filter((f) => f.kind === 'kernel');
  const exported = new Set<string>();
  const exportKernel = (f: (typeof kernelFiles)[number]): void => {
    if (exported.has(f.key)) return;
    exported.add(f.key);
    const payload = readLive(f.path);
    if (payload === undefined) return;
    add('kernel', f.key, payload);
    result.kernels++;
    if (opts.label === undefined) return;
    // A compile group's member names the entry holding its binary: that entry goes too.
    let binaryOf: string | undefined;
    try {
      binaryOf = decodeKernelEntry(payload).binaryOf;
    } catch {
      return;
    }
    const holder = binaryOf === undefined ? undefined : kernelFiles.find((g) => g.key === binaryOf);
    if (holder !== undefined) exportKernel(holder);
  };
  for (const f of kernelFiles) {
    if (opts.label !== undefined && !wantedKernels.has(f.key)) continue;
    exportKernel(f);
  }
  const manifest: Manifest = {
    kind: MANIFEST_KIND,
    formatVersion: CACHE_FORMAT_VERSION,
    label: opts.label ?? null,
    createdAt: new Date().toISOString(),
    entries,
  };
  const inner = packJsonAndBlobs(manifest, blobs);
  const payload = packJsonAndBlobs({ kind: SIGNED_KIND, ...signPayload(inner, key) }, [inner]);
  writeEntryAtomic(file, payload, 0o644);
  result.bytes = ENTRY_HEADER_BYTES + payload.byteLength;
  return result;
}

function parseManifest(json: unknown, blobCount: number): Manifest {
  const m = json as Partial<Manifest> | null;
  if (m === null || typeof m !== 'object' || m.kind !== MANIFEST_KIND || !Array.isArray(m.entries)) {
    throw new FramingError('not a kiln cache artifact file');
  }
  if (m.formatVersion !== CACHE_FORMAT_VERSION) {
    throw new FramingError(`artifact file has cache format ${String(m.formatVersion)}, this kiln uses ${CACHE_FORMAT_VERSION}`);
  }
  if (m.entries.length !== blobCount) throw new FramingError('artifact manifest does not match its contents');
  return m as Manifest;
}

/** Checks that a payload decodes as what the manifest says it is, under the key it is filed with. */
function validEntry(type: unknown, key: unknown, payload: Uint8Array): type is EntryKind {
  if (!isValidKey(key)) return false;
  try {
    if (type === 'kernel') {
      const d = decodeKernelEntry(payload);
      return (d.kernel ?? d.group).key === key;
    }
    if (type !== 'graph') return false;
    decodeBundle(payload, key);
    return true;
  } catch {
    return false;
  }
}

/** The signed inner payload of an artifact file's payload; throws unless a trusted key signed it. */
function verifiedInner(payload: Uint8Array, file: string, opts: SigningOptions): { inner: Uint8Array; signer: string } {
  const { json, blobs } = unpackJsonAndBlobs(payload);
  const o = json as { kind?: unknown; publicKey?: unknown; signature?: unknown } | null;
  if (o !== null && typeof o === 'object' && o.kind === MANIFEST_KIND) {
    throw new FramingError(`${file} is not signed (made by an older kiln); export it again with this kiln`);
  }
  if (o === null || typeof o !== 'object' || o.kind !== SIGNED_KIND || blobs.length !== 1) throw new FramingError(`${file} is not a kiln cache artifact file`);
  const inner = blobs[0]!;
  return { inner, signer: verifyPayload(inner, o.publicKey, o.signature, file, opts) };
}

/**
 * Verifies the artifact file `file` and writes its entries into the cache in `dir` (atomic
 * writes, existing entries replaced by the same content). Throws if the file is missing,
 * not a regular file, corrupt, not an artifact file, unsigned, not signed by a trusted key
 * (SignatureError, saying how to trust it), altered after signing or from another cache
 * format; entries inside that fail validation are skipped and counted.
 */
export function importArtifacts(dir: string, file: string, opts: SigningOptions = {}): ImportResult {
  const payload = readEntryVerified(file, { followSymlinks: true });
  if (payload === 'missing') throw new Error(`no such file: ${file}`);
  if (!(payload instanceof Uint8Array) && payload !== 'corrupt') throw new Error(`${file} is ${payload.refused}, not a kiln artifact file`);
  if (payload === 'corrupt') throw new Error(`${file} is corrupt or not a kiln artifact file`);
  const { inner, signer } = verifiedInner(payload, file, opts);
  const { json, blobs } = unpackJsonAndBlobs(inner);
  const manifest = parseManifest(json, blobs.length);
  const result: ImportResult = { kernels: 0, graphs: 0, skipped: 0, signer };
  manifest.entries.forEach((e, i) => {
    const { type, key } = (e ?? {}) as { type?: unknown; key?: unknown };
    const entry = blobs[i]!;
    if (!validEntry(type, key, entry)) {
      result.skipped++;
      return;
    }
    writeEntryAtomic(join(dir, entryRelPath(type, key as string)), entry);
    if (type === 'kernel') result.kernels++;
    else result.graphs++;
  });
  return result;
}

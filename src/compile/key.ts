// Kernel cache keys. A key covers exactly what changes the binary (source, compiler identity,
// options, kiln's cache format) and nothing graph-specific, so identical kernels from
// different graphs share one compile (Inductor #112788).
import { createHash } from 'node:crypto';
import { canonicalJson } from '../cache/canonical_json.js';
import { type BackendName, type CompileOptions, type CompileRequest, type KernelMeta, type KernelTarget, targetOf } from './types.js';

/**
 * Bump when the layout of cached binaries or metadata changes, to orphan old entries: they
 * are then never looked up (and age out by LRU) instead of reading as corrupt.
 * 2: entry files checksummed with CRC-32 (entry format 2); bundles say whether the plan needs decoding.
 * 3: graph bundles carry the key they are stored under; artifact files are signed.
 */
export const KILN_CACHE_FORMAT_VERSION = '3';

/**
 * The launch metadata is keyed too: two kernels with the same source can differ in how they
 * are run (a CUDA epilogue kernel after two differently shaped cuBLAS products), and the
 * metadata travels with the cached binary.
 */
export function kernelKey(backend: BackendName, source: string, compilerIdentity: string, options: CompileOptions, meta: KernelMeta): string {
  const h = createHash('sha256');
  // Length-prefixed fields: no concatenation of two different field sets can collide.
  for (const part of [`kiln-kernel-v${KILN_CACHE_FORMAT_VERSION}`, backend, compilerIdentity, canonicalJson(options), canonicalJson(meta), source]) {
    h.update(`${Buffer.byteLength(part)}:`);
    h.update(part);
  }
  return h.digest('hex');
}

/** Builds a CompileRequest with its key; the one place the scheduler needs to make one. */
export function makeCompileRequest(
  r: KernelTarget & {
    kernelName: string;
    source: string;
    compilerIdentity: string;
    options?: CompileOptions;
  },
): CompileRequest {
  const options = r.options ?? {};
  return {
    key: kernelKey(r.backend, r.source, r.compilerIdentity, options, r.meta),
    ...targetOf(r),
    kernelName: r.kernelName,
    source: r.source,
    options,
  };
}

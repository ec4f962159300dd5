// Kernel cache keys. A key covers exactly what changes the binary (source, compiler identity,
// options, kiln's cache format: cache/format.ts) and nothing graph-specific, so identical kernels from
// different graphs share one compile (Inductor #112788).
import { createHash } from 'node:crypto';
import { canonicalJson } from '../cache/canonical_json.js';
import { CACHE_FORMAT_VERSION } from '../cache/format.js';
import { type BackendName, type KernelMeta, type KernelTarget, targetOf } from '../cache/compiled_kernel.js';
import type { CompileOptions, CompileRequest } from './types.js';


/**
 * The launch metadata is keyed too: two kernels with the same source can differ in how they
 * are run (a CUDA epilogue kernel after two differently shaped cuBLAS products), and the
 * metadata travels with the cached binary.
 */
export function kernelKey(backend: BackendName, source: string, compilerIdentity: string, options: CompileOptions, meta: KernelMeta): string {
  const h = createHash('sha256');
  // Length-prefixed fields: no concatenation of two different field sets can collide.
  for (const part of [`kiln-kernel-v${CACHE_FORMAT_VERSION}`, backend, compilerIdentity, canonicalJson(options), canonicalJson(meta), source]) {
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

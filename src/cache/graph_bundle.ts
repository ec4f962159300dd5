// A graph-level cache entry (Inductor's TritonBundler): the host program ("plan") plus every
// kernel binary it launches, so a warm start needs nothing else: no codegen, no compiler.
// Payload layout: framing.ts JSON { key, label, plan, planIsJson, kernels: KernelFields[] } +
// raw blobs. planIsJson: the stored plan holds no storable_json tags, so it needs no decoding.
// key: the graph key the bundle was stored under, inside the checksummed payload, so a bundle
// read under another key (two entries swapped, a file copied by hand) is refused as corrupt
// instead of running another graph's plan. Every kernel key inside is validated too
// (kernel_codec.ts), before anything uses it.

import type { CompiledKernel } from './compiled_kernel.js';
import { FramingError, packJsonAndBlobs, unpackJsonAndBlobs } from './framing.js';
import { kernelFromFields, kernelToFields } from './kernel_codec.js';
import { isValidKey } from './layout.js';
import { decodeStorable, encodeStorable, hasStorableTags } from './storable_json.js';

export interface GraphBundle {
  /** The scheduler's host program. JSON-like; typed arrays inside are stored as raw blobs. */
  plan: unknown;
  /** Every kernel the plan launches. */
  kernels: CompiledKernel[];
  /** Human name (e.g. the model file name) given at put time; selects bundles for `kiln cache export --label`. */
  label?: string;
}

/** Throws NotStorableError if the plan or a kernel's meta cannot round-trip exactly. */
export function encodeBundle(key: string, bundle: GraphBundle, label = bundle.label): Uint8Array {
  if (!isValidKey(key)) throw new FramingError(`not a graph key: ${JSON.stringify(key)}`);
  const blobs: Uint8Array[] = [];
  const shared = new Map<Uint8Array, number>();
  const kernels = bundle.kernels.map((k) => kernelToFields(k, blobs, shared));
  const plan = encodeStorable(bundle.plan, blobs, '$.plan');
  return packJsonAndBlobs({ key, label: label ?? null, plan, planIsJson: !hasStorableTags(plan), kernels }, blobs);
}

/** The graph key a bundle says it was stored under (throws on a malformed payload). */
export function bundleKey(payload: Uint8Array): string {
  const key = (unpackJsonAndBlobs(payload).json as { key?: unknown } | null)?.key;
  if (!isValidKey(key)) throw new FramingError('graph bundle without a valid key');
  return key;
}

/**
 * The bundle in a verified payload, which must have been stored under `expectedKey`. Kernel
 * binaries are views into `payload`. Throws on malformed input and on a key mismatch.
 */
export function decodeBundle(payload: Uint8Array, expectedKey: string): GraphBundle {
  const { json, blobs } = unpackJsonAndBlobs(payload);
  const o = json as { key?: unknown; label?: unknown; plan?: unknown; planIsJson?: unknown; kernels?: unknown } | null;
  if (o === null || typeof o !== 'object' || !Array.isArray(o.kernels) || !('plan' in o)) {
    throw new FramingError('malformed graph bundle');
  }
  if (!isValidKey(o.key) || o.key !== expectedKey) throw new FramingError('graph bundle stored under another key');
  if (o.label !== null && typeof o.label !== 'string') throw new FramingError('malformed bundle label');
  if (typeof o.planIsJson !== 'boolean') throw new FramingError('malformed graph bundle');
  const bundle: GraphBundle = {
    plan: o.planIsJson ? o.plan : decodeStorable(o.plan, blobs),
    kernels: o.kernels.map((f) => kernelFromFields(f, blobs)),
  };
  if (typeof o.label === 'string') bundle.label = o.label;
  return bundle;
}

/** Only the label, for export-by-label scans. Still decodes the JSON half (cheap next to I/O). */
export function bundleLabel(payload: Uint8Array): string | undefined {
  const { json } = unpackJsonAndBlobs(payload);
  const label = (json as { label?: unknown } | null)?.label;
  return typeof label === 'string' ? label : undefined;
}

/** Keys of the kernels a bundle carries, for export-by-label (ships them as kernel entries too). */
export function bundleKernelKeys(payload: Uint8Array): string[] {
  const { json } = unpackJsonAndBlobs(payload);
  const kernels = (json as { kernels?: unknown } | null)?.kernels;
  if (!Array.isArray(kernels)) throw new FramingError('malformed graph bundle');
  return kernels.map((k) => {
    const key = (k as { key?: unknown } | null)?.key;
    if (!isValidKey(key)) throw new FramingError('graph bundle names an invalid kernel key');
    return key;
  });
}

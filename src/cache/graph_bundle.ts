// A graph-level cache entry (Inductor's TritonBundler): the host program ("plan") plus every
// kernel binary it launches, so a warm start needs nothing else: no codegen, no compiler.
// Payload layout: framing.ts JSON { label, plan, planIsJson, kernels: KernelFields[] } + raw
// blobs. planIsJson: the stored plan holds no storable_json tags, so it needs no decoding.

import type { CompiledKernel } from '../compile/types.js';
import { FramingError, packJsonAndBlobs, unpackJsonAndBlobs } from './framing.js';
import { kernelFromFields, kernelToFields } from './kernel_codec.js';
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
export function encodeBundle(bundle: GraphBundle, label = bundle.label): Uint8Array {
  const blobs: Uint8Array[] = [];
  const shared = new Map<Uint8Array, number>();
  const kernels = bundle.kernels.map((k) => kernelToFields(k, blobs, shared));
  const plan = encodeStorable(bundle.plan, blobs, '$.plan');
  return packJsonAndBlobs({ label: label ?? null, plan, planIsJson: !hasStorableTags(plan), kernels }, blobs);
}

/** The bundle in a verified payload. Kernel binaries are views into `payload`. Throws on malformed input. */
export function decodeBundle(payload: Uint8Array): GraphBundle {
  const { json, blobs } = unpackJsonAndBlobs(payload);
  const o = json as { label?: unknown; plan?: unknown; planIsJson?: unknown; kernels?: unknown } | null;
  if (o === null || typeof o !== 'object' || !Array.isArray(o.kernels) || !('plan' in o)) {
    throw new FramingError('malformed graph bundle');
  }
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
  return kernels.map((k) => String((k as { key?: unknown }).key));
}

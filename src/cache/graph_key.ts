// The graph-level cache key. What goes into `parts` is the scheduler's business (graph
// structure, input signature, device, options); this only guarantees that equal parts give
// equal keys and that a new cache format version gives new keys.

import { hash } from 'node:crypto';
import { canonicalJson } from './canonical_json.js';
import { kilnBuildId } from './build_id.js';
import { CACHE_FORMAT_VERSION } from './format.js';

/** sha256 hex over the canonical JSON of `parts`, the cache format version and kiln's build id. */
export function graphKey(parts: unknown[], buildId = kilnBuildId()): string {
  // The one-shot crypto.hash: every warm start computes this once, and in a fresh process a
  // Hash object's set-up cost ~0.25 ms more.
  return hash('sha256', `kiln-graph\0${CACHE_FORMAT_VERSION}\0${buildId}\0${canonicalJson(parts)}`, 'hex');
}

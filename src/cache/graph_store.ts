// Graph-level entries (Inductor's TritonBundler): one file holds a graph's host plan and all
// its kernel binaries, so a warm start is one read. Hit and miss counting belongs to the
// caller (the scheduler), as for kernels; this store only counts corrupt entries.

import { bump } from '../observe/counters.js';
import { warnOnce } from '../observe/log.js';
import type { EntryBackend } from './backend.js';
import { decodeBundle, encodeBundle, type GraphBundle } from './graph_bundle.js';
import { entryRelPath, isValidKey } from './layout.js';
import { loadEntry, storeEntry } from './store_io.js';

export type { GraphBundle } from './graph_bundle.js';
export { graphKey } from './graph_key.js';

export class GraphStore {
  constructor(readonly backend: EntryBackend) {}

  /** A verified bundle, or undefined on a miss or a corrupt entry (removed, counted in cache_corrupt). */
  getBundle(graphKey: string): GraphBundle | undefined {
    if (!isValidKey(graphKey)) return undefined;
    return loadEntry(this.backend, entryRelPath('graph', graphKey), (payload) => decodeBundle(payload, graphKey));
  }

  /** Removes a bundle the caller found unusable and counts it in cache_corrupt. */
  dropCorrupt(graphKey: string): void {
    if (!isValidKey(graphKey)) return;
    this.backend.remove(entryRelPath('graph', graphKey));
    bump('cache_corrupt');
  }

  /**
   * Writes the bundle atomically. `label` (e.g. the model file name; defaults to bundle.label)
   * lets `exportArtifacts` select one model's entries. Never throws: I/O errors and plans that
   * cannot be stored exactly (see storable_json.ts) warn once and skip the write.
   */
  putBundle(graphKey: string, bundle: GraphBundle, label?: string): void {
    if (!isValidKey(graphKey)) {
      warnOnce(`cache-bad-key:${graphKey}`, `not caching graph with unusable key ${JSON.stringify(graphKey)}`);
      return;
    }
    storeEntry(this.backend, entryRelPath('graph', graphKey), () => encodeBundle(graphKey, bundle, label ?? bundle.label));
  }
}

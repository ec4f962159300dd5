// The labels of the graphs in a cache directory (what `kiln cache export --label` selects by),
// read-only: an entry that does not verify or decode is left out, never removed here.

import { readEntryVerified } from '../cache/entry_file.js';
import { bundleLabel } from '../cache/graph_bundle.js';
import { listEntryFiles } from '../cache/layout.js';

/** Each label with the number of graphs cached under it. */
export function cachedLabels(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of listEntryFiles(dir)) {
    if (f.kind !== 'graph') continue;
    const payload = readEntryVerified(f.path, { requireOwned: true });
    if (!(payload instanceof Uint8Array)) continue;
    let label: string | undefined;
    try {
      label = bundleLabel(payload);
    } catch {
      continue;
    }
    if (label !== undefined) out.set(label, (out.get(label) ?? 0) + 1);
  }
  return out;
}

// The one way the rest of kiln gets its stores: resolves the location, picks the backend and
// shares it per location within the process, so all compile() calls see one in-memory
// fallback and one eviction estimate per directory.

import type { EntryBackend } from './backend.js';
import { DisabledBackend } from './disabled_backend.js';
import { DiskBackend } from './disk_backend.js';
import { maxBytesFromEnv } from './eviction.js';
import { GraphStore } from './graph_store.js';
import { KernelStore } from './kernel_store.js';
import { MemoryBackend } from './memory_backend.js';
import { resolveCacheLocation, type CacheDirOptions, type CacheLocation } from './paths.js';

export interface Cache {
  location: CacheLocation;
  kernels: KernelStore;
  graphs: GraphStore;
}

const opened = new Map<string, Cache>();

function backendFor(location: CacheLocation, maxBytes: number | undefined): EntryBackend {
  switch (location.kind) {
    case 'disk':
      return new DiskBackend(location.dir, maxBytes, location.readOnly);
    case 'memory':
      return new MemoryBackend(maxBytes);
    case 'disabled':
      return new DisabledBackend();
    default:
      return location satisfies never;
  }
}

/**
 * The kernel and graph stores for `opts.cacheDir` / KILN_CACHE_DIR / ~/.cache/kiln. Never
 * throws. The size bound (KILN_CACHE_MAX_MB) is read when a location is first opened.
 */
export function openCache(opts: CacheDirOptions = {}): Cache {
  const location = resolveCacheLocation(opts);
  const id = location.kind === 'disabled' ? 'disabled' : `${location.kind}${location.kind === 'disk' && location.readOnly ? '-ro' : ''}:${location.dir}`;
  let cache = opened.get(id);
  if (cache === undefined) {
    const backend = backendFor(location, maxBytesFromEnv(opts.env ?? process.env));
    cache = { location, kernels: new KernelStore(backend), graphs: new GraphStore(backend) };
    opened.set(id, cache);
  }
  return cache;
}

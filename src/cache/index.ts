// Public surface of the cache: stores for the compiler, whole-cache operations for the CLI.
export { openCache, type Cache } from './open_cache.js';
export { KernelStore } from './kernel_store.js';
export { GraphStore } from './graph_store.js';
export type { GraphBundle } from './graph_bundle.js';
export { graphKey } from './graph_key.js';
export { canonicalJson } from './canonical_json.js';
export { CACHE_FORMAT_VERSION } from './format.js';
export { configuredCacheDir, diskCacheDisabled, resolveCacheLocation, type CacheDirOptions, type CacheLocation } from './paths.js';
export {
  cacheStats,
  clearCache,
  exportArtifacts,
  importArtifacts,
  type CacheStats,
  type ExportOptions,
  type ExportResult,
  type ImportResult,
} from './artifacts.js';
export type { EntryBackend } from './backend.js';
export { DiskBackend } from './disk_backend.js';
export { MemoryBackend } from './memory_backend.js';
export { DisabledBackend } from './disabled_backend.js';
export { readEntryVerified, writeEntryAtomic } from './entry_file.js';

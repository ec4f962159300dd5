// The version of kiln's cache format, one constant for kernel keys (compile/key.ts) and graph
// keys (graph_key.ts), so a bump orphans every old entry instead of misreading it: old entries
// are then never looked up (and age out by LRU) instead of reading as corrupt. Bump it whenever
// an encoding in cache/ (kernel_codec, graph_bundle, storable_json, framing), the layout of
// cached binaries or metadata, or the meaning of a cached plan changes.
// 2: entry files checksummed with CRC-32 (entry format 2); bundles say whether the plan needs decoding.
// 3: graph bundles carry the key they are stored under; artifact files are signed.
export const CACHE_FORMAT_VERSION = '3';

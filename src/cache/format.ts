// The version of kiln's cache format, one constant for kernel keys (compile/key.ts) and graph
// keys (graph_key.ts), so a bump orphans every old entry instead of misreading it. Bump it
// there whenever an encoding in cache/ (kernel_codec, graph_bundle, storable_json, framing)
// or the meaning of a cached plan changes.
export { KILN_CACHE_FORMAT_VERSION as CACHE_FORMAT_VERSION } from '../compile/key.js';

// The version of kiln's on-disk cache format. It is hashed into every graph key (and should be
// into every kernel key, see compile/key.ts), so entries written by an incompatible kiln are
// simply never looked up again rather than misread. Bump it whenever an encoding in cache/
// (kernel_codec, graph_bundle, storable_json, framing) or the meaning of a cached plan changes.
export const CACHE_FORMAT_VERSION = '1';

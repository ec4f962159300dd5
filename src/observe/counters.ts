// Process-wide counters. The names are part of the public contract (DESIGN.md), so they are
// a closed union: a typo in bump() is a compile error, not a silently new counter.

export const COUNTER_NAMES = [
  'kernels_generated',
  'compile_submitted',
  'compile_inline',
  'future_cache_hits',
  'kernel_cache_hits',
  'kernel_cache_misses',
  'kernel_shared_binary_reads',
  'graph_cache_hits',
  'graph_cache_misses',
  /** ONNX imports converted into a graph; a warm start whose conversion is cached builds none. */
  'onnx_graph_builds',
  /** ONNX graphs whose conversion came from the cache (no conversion, no folding). */
  'onnx_conversion_hits',
  /** Shape variants a loaded model made (a graph for one binding of its symbolic dims and value of its value inputs; shape_variants.ts). */
  'shape_variant_builds',
  /** Runs (and compile() calls) served by a variant the model already held. */
  'shape_variant_hits',
  /** Variants dropped past KILN_MAX_SHAPE_VARIANTS, their programs disposed. */
  'shape_variant_evictions',
  'cache_corrupt',
  'workers_spawned',
  'worker_crashes',
  'compile_retries',
  'compile_timeouts',
  /** Programs compile() made over symbolic sizes (one serves every call its guards admit). */
  'symbolic_programs',
  /** Calls a symbolic program's guards refused (compile() then runs a static specialisation). */
  'guard_failures',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];
export type Counters = Record<CounterName, number>;

function zeroed(): Counters {
  const c = {} as Counters;
  for (const n of COUNTER_NAMES) c[n] = 0;
  return c;
}

const state: Counters = zeroed();

/** A copy, so callers can diff snapshots without seeing later bumps. */
export function counters(): Counters {
  return { ...state };
}

export function resetCounters(): void {
  for (const n of COUNTER_NAMES) state[n] = 0;
}

export function bump(name: CounterName, n = 1): void {
  state[name] += n;
}

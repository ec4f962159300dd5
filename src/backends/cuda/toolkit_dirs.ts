// Where CUDA toolkits live, newest first, for the library searches (NVRTC, cuBLAS).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Descending order of names by their embedded numbers ("libnvrtc.so.13.0.88" after
 * "libnvrtc.so.13.1"). Written out rather than localeCompare(…, { numeric: true }): that
 * loads ICU's collator, ~7 ms of every CUDA warm start.
 */
export function compareVersionsDesc(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    // split with a capture group puts the numbers at odd indices.
    if (i % 2 === 1) return Number(pb[i]) - Number(pa[i]);
    return pa[i]! < pb[i]! ? 1 : -1;
  }
  return pb.length - pa.length;
}

/** /usr/local/cuda-13.0, /usr/local/cuda-12.4, ...: newest first. */
export function versionedToolkits(): string[] {
  try {
    return readdirSync('/usr/local')
      .filter((n) => /^cuda-\d+(\.\d+)*$/.test(n))
      .sort(compareVersionsDesc)
      .map((n) => join('/usr/local', n));
  } catch {
    return [];
  }
}

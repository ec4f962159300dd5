// Parsers for settings' text values (config/settings.ts). Each gets the variable's text, never
// empty or blank (those count as unset), and returns the value or throws BadValue saying what
// was expected; config/read.ts names the variable in the error or warning.

import { delimiter } from 'node:path';

export class BadValue extends Error {
  override name = 'BadValue';
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

/** 1/0, true/false, yes/no, on/off (any case). */
export function flag(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  throw new BadValue('expected 1 or 0 (or true/false, yes/no, on/off)');
}

/** An integer of at least `min`. */
export function integerAtLeast(min: number): (raw: string) => number {
  return (raw) => {
    const n = Number(raw.trim());
    if (!Number.isInteger(n) || n < min) throw new BadValue(`expected an integer ≥ ${min}`);
    return n;
  };
}

/** A finite number above zero (fractions allowed). */
export function positiveNumber(raw: string): number {
  const n = Number(raw.trim());
  if (!Number.isFinite(n) || n <= 0) throw new BadValue('expected a positive number');
  return n;
}

/** One of `values`, compared without case or surrounding space. */
export function oneOf<T extends string>(values: readonly T[]): (raw: string) => T {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    const hit = values.find((x) => x === v);
    if (hit === undefined) throw new BadValue(`expected ${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`);
    return hit;
  };
}

/** A file or directory path, or a library name (surrounding space dropped). */
export function path(raw: string): string {
  return raw.trim();
}

/** Items separated by ':' (';' on Windows), as PATH is; blank items dropped. */
export function pathList(raw: string): string[] {
  return raw
    .split(delimiter)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A regular expression (JavaScript syntax). */
export function regex(raw: string): RegExp {
  try {
    return new RegExp(raw);
  } catch (e) {
    throw new BadValue((e as Error).message);
  }
}

/** Words separated by spaces (a command and its extra arguments). */
export function words(raw: string): string[] {
  return raw.trim().split(/\s+/);
}

/** A JSON value, checked by `check` (which throws BadValue for a value of the wrong shape). */
export function json<T>(check: (v: unknown) => T): (raw: string) => T {
  return (raw) => {
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new BadValue(`not JSON (${(e as Error).message})`);
    }
    return check(v);
  };
}

/** A real CUDA architecture a cubin can be built for (sm_90, sm_90a), not a virtual one (compute_90). */
export const REAL_CUDA_ARCH = /^sm_\d+[a-z]?$/;

export function cudaArch(raw: string): string {
  const v = raw.trim();
  if (!REAL_CUDA_ARCH.test(v)) throw new BadValue('expected a real architecture like sm_90');
  return v;
}

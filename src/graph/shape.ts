// Shape arithmetic shared by the frontend, the interpreter and the lowering.

export type Shape = readonly number[];

export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (contiguous) strides in elements. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** NumPy broadcasting of two shapes; the error names the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: cannot broadcast ${fmtShape(a)} with ${fmtShape(b)}`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Normalises a possibly negative dim against `rank`; `extra` allows rank (for unsqueeze). */
export function normDim(op: string, dim: number, rank: number, extra = 0): number {
  const r = rank + extra;
  if (!Number.isInteger(dim) || dim < -r || dim >= r) {
    throw new ShapeError(`${op}: dim ${dim} out of range for rank ${rank}${extra ? ` (+${extra})` : ''}`);
  }
  return dim < 0 ? dim + r : dim;
}

export function normDims(op: string, dims: number | readonly number[] | undefined, rank: number): number[] {
  if (dims === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : [...dims];
  const out = list.map((d) => normDim(op, d, rank));
  if (new Set(out).size !== out.length) throw new ShapeError(`${op}: repeated dim in [${list.join(',')}]`);
  return out.sort((x, y) => x - y);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function assertValidShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${op}: invalid shape ${fmtShape(shape)}`);
  }
}

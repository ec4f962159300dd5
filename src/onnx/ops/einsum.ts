// Einsum as broadcast multiply + sum: each operand is permuted and unit-padded into one
// shared label order, the operands are multiplied, and the labels not in the output are
// summed away. Repeated labels within an operand (diagonals) are first reduced with an
// identity mask. Simple rather than fast: big contractions should use MatMul.

import type { GraphBuilder } from '../../graph/builder.js';
import { ShapeError } from '../../graph/shape.js';
import type { OpTable } from './types.js';

/** Splits a term into labels; '...' becomes ellipsis labels '0'..'9' aligned from the right. */
function labels(term: string, rank: number, ellRank: number): string[] {
  const parts = term.split('...');
  if (parts.length > 2) throw new ShapeError(`Einsum: more than one ellipsis in '${term}'`);
  const explicit = parts.join('').length;
  const e = parts.length === 2 ? rank - explicit : 0;
  if (parts.length === 1 && explicit !== rank) throw new ShapeError(`Einsum: term '${term}' for an operand of rank ${rank}`);
  const ell = Array.from({ length: e }, (_, i) => String(ellRank - e + i));
  return parts.length === 2 ? [...parts[0]!, ...ell, ...parts[1]!] : [...parts[0]!];
}

export function einsum(b: GraphBuilder, equation: string, xs: number[]): number {
  const eq = equation.replace(/\s+/g, '');
  const [lhs, rhs] = eq.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  if (terms.length !== xs.length) throw new ShapeError(`Einsum: '${equation}' names ${terms.length} operands, got ${xs.length}`);
  const ellRank = Math.max(0, ...terms.map((t, i) => (t.includes('...') ? b.shape(xs[i]!).length - t.replace('...', '').length : 0)));
  const ops = terms.map((t, i) => ({ id: xs[i]!, labs: labels(t, b.shape(xs[i]!).length, ellRank) }));
  const ellLabels = Array.from({ length: ellRank }, (_, i) => String(i));
  let out: string[];
  if (rhs !== undefined) out = labels(rhs, rhs.replace('...', '').length + (rhs.includes('...') ? ellRank : 0), ellRank);
  else {
    const count = new Map<string, number>();
    for (const o of ops) for (const l of o.labs) if (!/\d/.test(l)) count.set(l, (count.get(l) ?? 0) + 1);
    out = [...ellLabels, ...[...count].filter(([, c]) => c === 1).map(([l]) => l).sort()];
  }
  // Diagonals: a label repeated within one operand keeps only equal indices.
  for (const o of ops) {
    for (let p = 0; p < o.labs.length; p++) {
      const q = o.labs.indexOf(o.labs[p]!, p + 1);
      if (q < 0) continue;
      const s = b.shape(o.id);
      if (s[p] !== s[q]) throw new ShapeError(`Einsum: label '${o.labs[p]}' has sizes ${s[p]} and ${s[q]}`);
      const shp = s.map((_, k) => (k === p || k === q ? s[k]! : 1));
      const eye = b.binary('eq', b.iota(shp, p, 0, 1, 'int64'), b.iota(shp, q, 0, 1, 'int64'));
      o.id = b.reduce('sum', b.binary('mul', o.id, b.cast(eye, b.dtype(o.id))), q, false);
      o.labs.splice(q, 1);
      p--;
    }
  }
  const all = [...out, ...[...new Set(ops.flatMap((o) => o.labs))].filter((l) => !out.includes(l))];
  let acc: number | undefined;
  for (const o of ops) {
    const present = all.filter((l) => o.labs.includes(l));
    const perm = present.map((l) => o.labs.indexOf(l));
    const p = b.permute(o.id, perm);
    const s = b.shape(p);
    const full = all.map((l) => (o.labs.includes(l) ? s[present.indexOf(l)]! : 1));
    const r = b.reshape(p, full);
    acc = acc === undefined ? r : b.binary('mul', acc, r);
  }
  const contracted = all.map((_, i) => i).filter((i) => i >= out.length);
  return contracted.length ? b.reduce('sum', acc!, contracted, false) : acc!;
}

export const einsumOps: OpTable = {
  Einsum: {
    convert(ctx, n) {
      const xs = n.inputs.map((_, k) => ctx.in(n, k));
      const eq = n.string('equation', '');
      return ctx.em.emit(xs, (b, ids) => einsum(b, eq, ids));
    },
  },
};

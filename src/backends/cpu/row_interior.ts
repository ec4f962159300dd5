// The interior of a row of window outputs: where every tap of a pooling or depthwise conv
// reads inside the input along the row, so the padding tests are known true there.
//
// A window view's padding is a bounds test on each input position (lower/views.ts
// windowInput): `pos >= 0` and `pos < size`, the position clamped to 0 where the test fails
// and the value then replaced by the fill. Along an output row (the vector loop of
// row_loops.ts, variable j) a position is s·j + rest for one tap (s the stride, rest fixed by
// the row and the tap), so each test holds on one interval of j, computed per tap in C. Inside
// the intersection the tests are replaced by true and folded away: the index is affine in j
// (contiguous loads at stride 1, not masked gathers) and the select is gone. The row is then
// three loops, the edges with the tests and the interior without; each output keeps its own
// accumulator and its taps' order, so results are those of one loop.

import { type Expr, children, cst, coeff, exprKey, mapChildren, sumOf, terms, varsOf } from '../../lower/expr.js';

/** A bounds test `s·j + rest >= c` (ge) or `< c` (lt), s > 0, rest free of j. */
export interface EdgeTest {
  key: string;
  op: 'ge' | 'lt';
  s: number;
  rest: Expr;
  c: number;
}

/**
 * The bounds tests of `e` on positions affine in loop variable `j` whose rest reads only
 * variables in `outside` (the row's and the tap's), each once.
 */
export function edgeTests(e: Expr, j: string, outside: ReadonlySet<string>): EdgeTest[] {
  const found = new Map<string, EdgeTest>();
  const walk = (x: Expr): void => {
    if (x.k === 'bin' && (x.op === 'ge' || x.op === 'lt') && x.b.k === 'const' && x.a.k !== 'const') {
      const test = affineTest(x.a, j, outside);
      if (test) found.set(exprKey(x), { key: exprKey(x), op: x.op, s: test.s, rest: test.rest, c: x.b.v });
    }
    children(x).forEach(walk);
  };
  walk(e);
  return [...found.values()];
}

function affineTest(pos: Expr, j: string, outside: ReadonlySet<string>): { s: number; rest: Expr } | undefined {
  let s = 0;
  const rest: Expr[] = [];
  for (const t of terms(pos)) {
    const [base, k] = coeff(t);
    if (base?.k === 'var' && base.name === j) s += k;
    else if (base && varsOf(base).has(j)) return undefined;
    else rest.push(t);
  }
  const r = sumOf(rest);
  if (s <= 0 || ![...varsOf(r)].every((v) => outside.has(v))) return undefined;
  return { s, rest: r };
}

const TRUE: Expr = cst(1, 'bool');
const isTrue = (x: Expr) => x.k === 'const' && x.v !== 0 && x.dt === 'bool';

/** `e` with the tests named by `keys` replaced by true, the ands and selects they decided folded. */
export function interiorOf(e: Expr, keys: ReadonlySet<string>): Expr {
  if (e.k === 'bin' && (e.op === 'ge' || e.op === 'lt') && keys.has(exprKey(e))) return TRUE;
  const x = mapChildren(e, (c) => interiorOf(c, keys));
  if (x.k === 'bin' && x.op === 'and') {
    if (isTrue(x.a)) return x.b;
    if (isTrue(x.b)) return x.a;
  }
  if (x.k === 'cast' && isTrue(x.a) && x.dt === 'bool') return TRUE;
  if (x.k === 'where' && isTrue(x.c)) return x.a;
  return x;
}

/**
 * C statements (at `ind`) setting `lo` and `hi`, the interval of j in [0, L) where every test
 * holds (lo = hi when none does), from each test's rest as C text (`restC`).
 */
export function interiorBounds(tests: readonly EdgeTest[], restC: readonly string[], L: number, ind: string, lo: string, hi: string): string[] {
  // ceil(a / s) for s > 0 and any sign of a.
  const cdiv = (a: string, s: number) => (s === 1 ? a : `((${a}) > 0 ? ((${a}) + ${s - 1}) / ${s} : -((-(${a})) / ${s}))`);
  const lines = [`${ind}int64_t ${lo} = 0, ${hi} = ${L};`];
  tests.forEach((t, i) => {
    const bound = cdiv(`${t.c}LL - ${restC[i]}`, t.s);
    // ge: j >= ceil((c - rest) / s); lt: j < ceil((c - rest) / s).
    if (t.op === 'ge') lines.push(`${ind}{ const int64_t b = ${bound}; if (b > ${lo}) ${lo} = b; }`);
    else lines.push(`${ind}{ const int64_t b = ${bound}; if (b < ${hi}) ${hi} = b; }`);
  });
  lines.push(`${ind}if (${lo} > ${L}) ${lo} = ${L};`, `${ind}if (${hi} < ${lo}) ${hi} = ${lo};`);
  return lines;
}

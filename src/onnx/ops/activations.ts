// Activation functions without a kiln primitive, composed from the builders. Each mirrors
// the formula in the ONNX operator spec, with the spec's default attribute values.

import type { GraphBuilder } from '../../graph/builder.js';
import type { OpDef, OpTable } from './types.js';

type Act = (b: GraphBuilder, x: number, s: (v: number) => number) => number;

/** An activation over input 0; `s(v)` makes a scalar of x's dtype. */
function act(f: (n: import('../node.js').OnnxNode) => Act): OpDef {
  return {
    convert(ctx, n) {
      const g = f(n);
      return ctx.em.emit([ctx.in(n, 0)], (b, [x]) => g(b, x!, (v) => b.scalar(v, b.dtype(x!))));
    },
  };
}

/** exp(x) - 1 */
function expm1(b: GraphBuilder, x: number, s: (v: number) => number): number {
  return b.binary('sub', b.unary('exp', x), s(1));
}

export const activationOps: OpTable = {
  LeakyRelu: act((n) => {
    const alpha = n.float('alpha', 0.01);
    return (b, x, s) => b.where(b.binary('lt', x, s(0)), b.binary('mul', x, s(alpha)), x);
  }),
  Elu: act((n) => {
    const alpha = n.float('alpha', 1);
    return (b, x, s) => b.where(b.binary('lt', x, s(0)), b.binary('mul', expm1(b, x, s), s(alpha)), x);
  }),
  Selu: act((n) => {
    const alpha = n.float('alpha', 1.67326319217681884765625);
    const gamma = n.float('gamma', 1.05070102214813232421875);
    return (b, x, s) => b.binary('mul', b.where(b.binary('le', x, s(0)), b.binary('mul', expm1(b, x, s), s(alpha)), x), s(gamma));
  }),
  Celu: act((n) => {
    const alpha = n.float('alpha', 1);
    // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
    return (b, x, s) =>
      b.binary('add', b.binary('maximum', x, s(0)), b.binary('minimum', s(0), b.binary('mul', expm1(b, b.binary('div', x, s(alpha)), s), s(alpha))));
  }),
  HardSigmoid: act((n) => {
    const alpha = n.float('alpha', 0.2);
    const beta = n.float('beta', 0.5);
    return (b, x, s) => b.binary('maximum', s(0), b.binary('minimum', s(1), b.binary('add', b.binary('mul', x, s(alpha)), s(beta))));
  }),
  HardSwish: act(() => (b, x, s) => b.binary('mul', x, b.binary('maximum', s(0), b.binary('minimum', s(1), b.binary('add', b.binary('mul', x, s(1 / 6)), s(0.5)))))),
  Softsign: act(() => (b, x, s) => b.binary('div', x, b.binary('add', s(1), b.unary('abs', x)))),
  ThresholdedRelu: act((n) => {
    const alpha = n.float('alpha', 1);
    return (b, x, s) => b.where(b.binary('gt', x, s(alpha)), x, s(0));
  }),
  Mish: act(() => (b, x) => b.binary('mul', x, b.unary('tanh', b.unary('softplus', x)))),
  Gelu: {
    check: (n) => (['none', 'tanh'].includes(n.string('approximate', 'none')) ? [] : [`approximate='${n.string('approximate')}'`]),
    convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0)], (b, [x]) => b.unary(n.string('approximate', 'none') === 'tanh' ? 'gelu_tanh' : 'gelu', x!)),
  },
  PRelu: {
    convert: (ctx, n) =>
      ctx.em.emit([ctx.in(n, 0), ctx.in(n, 1)], (b, [x, slope]) => b.where(b.binary('lt', x!, b.scalar(0, b.dtype(x!))), b.binary('mul', x!, slope!), x!)),
  },
};

// Loop, unrolled at load time. kiln graphs are static, so a Loop is supported when its trip
// count and condition are known while importing (as in exporters' Range expansions and
// fixed-length scripted loops): the body is converted once per iteration in a nested scope,
// and scan outputs are stacked along a new leading axis.

import { ConstTensor } from '../const_tensor.js';
import type { ConvertContext } from '../context.js';
import type { Val } from '../emit.js';
import { Unsupported } from '../errors.js';
import { OnnxNode } from '../node.js';
import type { OpTable } from './types.js';

/** Unrolling beyond this would bloat the graph more than any static model needs. */
const MAX_ITERATIONS = 4096;

function loop(ctx: ConvertContext, n: OnnxNode): Val[] {
  const body = n.graph('body');
  if (!body) throw new Error('Loop without a body');
  const trip = ctx.optConstIn(n, 0, 'the trip count')?.values()[0];
  let cond = n.hasInput(1) ? ctx.constIn(n, 1, 'the initial loop condition').values()[0]! !== 0 : true;
  let carried = n.inputs.slice(2).map((_, k) => ctx.in(n, k + 2));
  const bodyIn = (body.input ?? []).map((v) => v.name ?? '');
  const bodyOut = (body.output ?? []).map((v) => v.name ?? '');
  const nScan = bodyOut.length - 1 - carried.length;
  if (nScan < 0) throw new Error(`Loop body has ${bodyOut.length} outputs for ${carried.length} loop-carried values`);
  const nodes = (body.node ?? []).map((p, i) => new OnnxNode(p, i, n.opset));
  const scans: Val[][] = Array.from({ length: nScan }, () => []);
  for (let i = 0; (trip === undefined || i < trip) && cond; i++) {
    if (i >= MAX_ITERATIONS) throw new Unsupported(`more than ${MAX_ITERATIONS} iterations to unroll`);
    const scope = ctx.child();
    scope.values.set(bodyIn[0]!, ConstTensor.scalar(i, 'int64'));
    if (bodyIn[1]) scope.values.set(bodyIn[1], ConstTensor.scalar(1, 'bool'));
    carried.forEach((v, k) => scope.values.set(bodyIn[k + 2]!, v));
    for (const bn of nodes) scope.convertNode(bn);
    const outs = bodyOut.map((name) => scope.value(name, n));
    cond = scope.requireConst(outs[0]!, n, 'the loop condition').values()[0]! !== 0;
    carried = outs.slice(1, 1 + carried.length);
    outs.slice(1 + carried.length).forEach((v, k) => scans[k]!.push(v));
  }
  if (nScan > 0 && scans[0]!.length === 0) throw new Unsupported('a Loop with scan outputs that runs zero times');
  const stacked = scans.map((vals) =>
    ctx.em.emit1(vals, (b, ids) => b.cat(ids.map((id) => b.reshape(id, [1, ...b.shape(id)])), 0)),
  );
  return [...carried, ...stacked];
}

export const controlOps: OpTable = {
  Loop: {
    check: (n) => (n.graph('body') ? [] : ['no body']),
    convert: loop,
  },
};

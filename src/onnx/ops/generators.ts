// Ops that make tensors from attributes or load-time values: Constant, ConstantOfShape,
// Range, EyeLike, and Dropout (inference: the identity).

import { coerceStored } from '../../graph/elementwise_ref.js';
import { isInt } from '../../graph/dtype.js';
import { numel } from '../../graph/shape.js';
import { type Dim, SymInt } from '../../graph/sym.js';
import { ConstTensor, noteUnkeyableRead } from '../const_tensor.js';
import { kilnDType, onnxTypeName } from '../dtypes.js';
import type { OnnxNode } from '../node.js';
import { type TensorProto, tensorFromProto, tensorDims } from '../proto.js';
import type { OpTable } from './types.js';

const CONSTANT_FORMS = ['value', 'value_float', 'value_floats', 'value_int', 'value_ints'];

function checkConstant(n: OnnxNode): string[] {
  const t = n.tensor('value');
  if (t) return kilnDType(t.dataType ?? 0) ? [] : [`value of type ${onnxTypeName(t.dataType ?? 0)}`];
  const form = n.attrNames().find((a) => a.startsWith('value') || a === 'sparse_value');
  if (form && !CONSTANT_FORMS.includes(form)) return [`attribute '${form}'`];
  return form ? [] : ['no value attribute'];
}

/**
 * A node attribute's tensor. One in an external data file is not in the model's bytes, which
 * key a stored conversion: reading it makes this import uncacheable (api/conversion_record.ts).
 */
function attrTensor(t: TensorProto, baseDir: string | undefined): ConstTensor {
  // data_location 1 is EXTERNAL (onnx.proto).
  if (t.dataLocation === 1 || (t.externalData ?? []).length > 0) noteUnkeyableRead();
  return tensorFromProto(t, baseDir);
}

function constant(n: OnnxNode, baseDir: string | undefined): ConstTensor {
  const t = n.tensor('value');
  if (t) return attrTensor(t, baseDir);
  const f = n.float('value_float');
  if (f !== undefined) return ConstTensor.scalar(Math.fround(f), 'float32');
  const fs = n.floats('value_floats');
  if (fs) return new ConstTensor([fs.length], 'float32', fs.map(Math.fround));
  const i = n.int('value_int');
  if (i !== undefined) return ConstTensor.scalar(i, 'int64');
  const is = n.ints('value_ints')!;
  return new ConstTensor([is.length], 'int64', is);
}

function checkConstantOfShape(n: OnnxNode): string[] {
  const t = n.tensor('value');
  return !t || kilnDType(t.dataType ?? 0) ? [] : [`value of type ${onnxTypeName(t.dataType ?? 0)}`];
}

/**
 * Range over size formulas (Range(0, seq) for positions, Range(past, past + seq) for a cache's
 * positions): its length (limit − start) / delta for a numeric delta that divides it exactly
 * and a length provably at least 0 for every binding, and its start; undefined otherwise (the
 * range is then its values at the hints).
 */
function symbolicRange(start: ConstTensor, limit: ConstTensor, delta: ConstTensor): { count: Dim; start: Dim } | undefined {
  if ((!limit.sym && !start.sym) || delta.sym || !isInt(start.dtype)) return undefined;
  const from = start.dims()[0]!;
  const count = SymInt.of(limit.dims()[0]!).sub(from).divExact(delta.values()[0]!);
  if (!count || !count.provablyNonNegative()) return undefined;
  return { count: count.constant ?? count, start: from };
}

/** The op table needs the model's directory for Constant tensors stored as external data. */
export function generatorOps(baseDir: string | undefined): OpTable {
  return {
    Constant: { check: checkConstant, convert: (_ctx, n) => [constant(n, baseDir)] },
    ConstantOfShape: {
      check: checkConstantOfShape,
      convert(ctx, n) {
        const target = ctx.constIn(n, 0, 'the shape');
        const shape = target.values();
        const t = n.tensor('value');
        const fill = t ? attrTensor(t, baseDir) : ConstTensor.scalar(0, 'float32');
        if (t && numel(tensorDims(t)) !== 1) throw new Error(`${n.label}: value must hold one element`);
        const v = fill.values()[0]!;
        // A shape of symbolic sizes (a causal mask's [seq, seq]): the fill expanded to them.
        return ctx.em.emit([], (b) => b.expand(b.scalar(v, fill.dtype), shape, target.sym));
      },
    },
    Range: {
      convert(ctx, n) {
        const [start, limit, delta] = [0, 1, 2].map((k) => ctx.constIn(n, k, ['start', 'limit', 'delta'][k]!));
        const dt = start!.dtype;
        const s = start!.values()[0]!;
        const d = delta!.values()[0]!;
        const count = Math.max(Math.ceil((limit!.values()[0]! - s) / d), 0);
        const sym = symbolicRange(start!, limit!, delta!);
        // Range(0, seq): an iota of symbolic length (positions, causal masks); a symbolic start
        // is added per call.
        if (sym) {
          return ctx.em.emit([], (b) => {
            const symbolicStart = typeof sym.start !== 'number';
            const iota = b.iota([count], 0, symbolicStart ? 0 : s, d, dt, typeof sym.count === 'number' ? undefined : [sym.count]);
            return symbolicStart ? b.binary('add', iota, b.cast(b.sizeScalar(sym.start), dt)) : iota;
          });
        }
        // Accumulate like the ONNX reference (start + i * delta), rounded to the dtype.
        return [new ConstTensor([count], dt, Array.from({ length: count }, (_, i) => coerceStored(s + i * d, dt)))];
      },
    },
    EyeLike: {
      check: (n) => (n.has('dtype') && !kilnDType(n.int('dtype', 0)) ? [`dtype=${onnxTypeName(n.int('dtype', 0))}`] : []),
      convert(ctx, n) {
        const x = ctx.in(n, 0);
        const [r, c] = ctx.shape(x) as [number, number];
        const k = n.int('k', 0);
        const dt = n.has('dtype') ? kilnDType(n.int('dtype', 0))! : ctx.em.dtype(x);
        const data = Array.from({ length: r * c }, (_, i) => (Math.floor(i / c) + k === i % c ? 1 : 0));
        return [new ConstTensor([r, c], dt, data)];
      },
    },
    Dropout: {
      convert(ctx, n) {
        const training = ctx.optConstIn(n, 2, 'training_mode');
        if (training && training.values()[0]) throw new Error(`${n.label}: training_mode=true is not supported`);
        const x = ctx.in(n, 0);
        // The mask output (all true in inference) only when the model asks for it.
        if (n.outputs.length > 1 && n.outputs[1]) return [x, ctx.em.emit1([x], (b, [x]) => b.expand(b.scalar(1, 'bool'), b.shape(x!)))];
        return [x];
      },
    },
  };
}

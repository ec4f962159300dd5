// The preludes' helpers and NVRTC's typedefs are included from what the code generator used
// (backends/emitted_uses.ts). Checked here against the text the generator wrote, read the
// way a compiler would: every helper the code calls is defined and every fixed-width type it
// names is declared, and nothing the code does not use is included (which would change the
// sources, and so the cache keys, of kernels that never use it). Programs of every dtype.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateC } from '../src/backends/cpu/codegen.js';
import { generateCuda } from '../src/backends/cuda/codegen.js';
import { recordUses } from '../src/backends/emitted_uses.js';
import { trace, type TracedFn } from '../src/frontend/trace.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { DTYPES, type DType, isFloat } from '../src/graph/dtype.js';
import { finalize } from '../src/schedule/finalize.js';
import { formKernels } from '../src/schedule/fuse.js';
import { realize } from '../src/schedule/realize.js';

const HALF_CALL = /\bkiln_(f2h|h2f|f2bf|bf2f|rnd_h|rnd_bf|rnd_hd|rnd_bfd)\(/;
const INT_CALL = /\bkiln_(idiv|udiv|imod|ifmod|umod|upow|ipow_w)\(/;
const TYPES = ['int8_t', 'int16_t', 'uint16_t', 'uint32_t', 'uint64_t'];

/** Arithmetic, division, remainders, powers, a cast to and from a half type, a sum and a max: one program per dtype. */
function program(dt: DType): TracedFn {
  return (a: Tensor, b: Tensor) => {
    const halves = [a.to('float16').to(dt), a.to('bfloat16').to(dt)];
    // bool has logic, casts and reductions only.
    if (dt === 'bool') return [a.logicalAnd(b), a.logicalXor(b), ...halves, a.sum(-1), a.max(-1)];
    const q = isFloat(dt) ? a.div(b) : a.div(b, 'trunc');
    return [a.add(b).mul(a), q, a.remainder(b).add(a.fmod(b)).add(a.pow(b)), ...halves, a.sum(-1), a.max(-1)];
  };
}

function kernelsOf(dt: DType) {
  const t = trace(program(dt), [{ shape: [6, 40], dtype: dt }, { shape: [6, 40], dtype: dt }]);
  const r = realize(t.graph);
  return finalize(t.graph, r, formKernels(t.graph, r)).kernels;
}

/** The kernel's own code: the source after its last prelude (preludes end with #endif). */
function body(source: string): string {
  return source.slice(source.lastIndexOf('#endif') + '#endif'.length);
}

for (const dt of DTYPES) {
  test(`${dt}: CUDA preludes and typedefs are exactly what the code uses`, () => {
    for (const k of kernelsOf(dt)) {
      const src = generateCuda(k, Infinity).source;
      const code = body(src);
      assert.equal(src.includes('kiln_h2f(uint16_t'), HALF_CALL.test(code), `half prelude iff the code calls a half helper:\n${src}`);
      assert.equal(src.includes('KILN_CUDA_INT_PRELUDE'), INT_CALL.test(code), `integer prelude iff the code calls an integer helper:\n${src}`);
      const prelude = src.slice(0, src.length - code.length);
      for (const t of TYPES) {
        const declared = new RegExp(`typedef [a-z ]+ ${t};`).test(prelude);
        const named = new RegExp(`\\b${t}\\b`).test(code) || (INT_CALL.test(code) && (t === 'uint64_t' || t === 'int64_t'));
        const inHalfPrelude = src.includes('kiln_h2f(uint16_t') && (t === 'uint16_t' || t === 'uint32_t');
        if (inHalfPrelude) continue;
        assert.equal(declared, named, `${t}: declared ${declared}, named by the code ${named}\n${src}`);
      }
    }
  });

  test(`${dt}: the C header has the helpers exactly when the code calls them`, () => {
    for (const k of kernelsOf(dt)) {
      const src = generateC(k).body;
      const code = body(src);
      assert.equal(/kiln_h2f\(uint16_t/.test(src), HALF_CALL.test(code), `half helpers iff called:\n${src}`);
      assert.equal(/kiln_idiv\(int64_t/.test(src), INT_CALL.test(code), `integer helpers iff called:\n${src}`);
    }
  });
}

test('a record opened inside another adds to it, and nothing is recorded outside a record', () => {
  const k = kernelsOf('float16')[0]!;
  const outer = recordUses(() => recordUses(() => generateC(k)).uses);
  assert.ok(outer.value.helpers.has('half'));
  assert.ok(outer.uses.helpers.has('half'), 'the outer record saw the inner one\'s helpers');
  assert.equal(recordUses(() => 0).uses.helpers.size, 0);
});

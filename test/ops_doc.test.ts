// docs/ops.md is generated (bench/ops_doc.ts) from the ONNX op table and the Tensor class; it
// must match what the generator writes now, so an operator or method added without
// regenerating it fails here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { OPS_DOC, opsDoc, tensorMembers } from '../bench/ops_doc.js';
import { supportedOps } from '../src/onnx/ops/index.js';
import { Tensor } from '../src/frontend/tensor.js';

test('docs/ops.md is current: run node dist/bench/ops_doc.js when this fails', () => {
  assert.equal(fs.readFileSync(OPS_DOC, 'utf8'), opsDoc());
});

test('the doc lists every supported operator and every public Tensor method', () => {
  const doc = opsDoc();
  for (const op of supportedOps()) assert.ok(doc.includes(`\`${op}\``), op);
  const listed = new Set(tensorMembers().map((m) => m.signature.replace(/\(.*$/, '')));
  // Every function-valued property of Tensor.prototype but the private helpers the class keeps.
  const runtime = Object.getOwnPropertyNames(Tensor.prototype).filter((n) => n !== 'constructor' && !['wrap', 'operand', 'un', 'bin', 'red', 'b'].includes(n));
  assert.deepEqual([...listed].sort(), runtime.sort());
  for (const name of ['add', 'matmul', 'softmax', 'shape', 'to']) assert.ok(listed.has(name), name);
  assert.ok(!listed.has('wrap'), 'private methods are not listed');
});

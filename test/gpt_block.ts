// A GPT-2-like transformer block over [batch, sequence, 64] (layer norms, a fused qkv
// projection sliced into heads, causal-free attention with a softmax over the sequence, an MLP,
// residuals), the function the symbolic CUDA tests compile: test/cuda_symbolic.test.ts
// emulates it, test/gpu/dynamic_cuda.test.ts runs it on a GPU.

import type { Tensor } from '../src/frontend/tensor.js';
import { randn } from './helpers.js';

export const D = 64;
const HEADS = 4;
const Wqkv = randn([D, 3 * D], 30);
const Wo = randn([D, D], 31);
const Wfc = randn([D, 4 * D], 32);
const Wproj = randn([4 * D, D], 33);
const gamma = randn([D], 34);

function layerNorm(x: Tensor): Tensor {
  const d = x.sub(x.mean(-1, true));
  return d.div(d.mul(d).mean(-1, true).add(1e-5).sqrt()).mul(gamma);
}

export function gptBlock(x: Tensor): Tensor {
  const [b, t] = x.shape as [number, number];
  const qkv = layerNorm(x).matmul(Wqkv);
  const part = (i: number) => qkv.slice(-1, D * i, D * (i + 1)).reshape([b, t, HEADS, D / HEADS]).permute([0, 2, 1, 3]);
  const att = part(0).matmul(part(1).transpose(-1, -2)).mul(1 / Math.sqrt(D / HEADS)).softmax(-1);
  const y = att.matmul(part(2)).permute([0, 2, 1, 3]).reshape([b, t, D]).matmul(Wo).add(x);
  return layerNorm(y).matmul(Wfc).tanh().matmul(Wproj).add(y);
}

// Checks batched/broadcast and 1-D matmuls on the GPU against a JS reference, printing the
// kernel sources; run once with cuBLAS and once with KILN_CUDA_GEMM=generated.
import { compile, NDArray } from '../dist/src/index.js';
function rnd(n, s) { const a = new Float32Array(n); for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = s / 2 ** 32 - 0.5; } return a; }
function ref(A, B, bs, M, K, N, aStride, bStride) { const o = new Float64Array(bs * M * N); for (let b = 0; b < bs; b++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) { let s = 0; for (let k = 0; k < K; k++) s += A[b * aStride + i * K + k] * B[b * bStride + k * N + j]; o[b * M * N + i * N + j] = s; } return o; }
const cases = [
  ['[5,7]@[3,7,4]', [5, 7], [3, 7, 4], 3, 5, 7, 4, 0, 28],
  ['[3,5,7]@[7,4]', [3, 5, 7], [7, 4], 3, 5, 7, 4, 35, 0],
  ['[7]@[7]', [7], [7], 1, 1, 7, 1, 0, 0],
  ['[33,17]@[17,29]', [33, 17], [17, 29], 1, 33, 17, 29, 0, 0],
];
for (const [name, sa, sb, bs, M, K, N, as, bst] of cases) {
  const a = rnd(sa.reduce((p, d) => p * d, 1), 1), b = rnd(sb.reduce((p, d) => p * d, 1), 2);
  const y = await (await compile((x, w) => x.matmul(w), { device: 'cuda' })(NDArray.from(a, sa), NDArray.from(b, sb))).toTypedArray();
  const r = ref(a, b, bs, M, K, N, as, bst);
  let worst = 0; for (let i = 0; i < r.length; i++) worst = Math.max(worst, Math.abs(r[i] - y[i]));
  console.log(process.env.KILN_CUDA_GEMM ?? 'cublas', name, 'max abs err', worst.toExponential(2), worst < 1e-4 ? 'OK' : 'BAD', Array.from(y.slice(0, 4)).map((v) => v.toFixed(3)).join(' '), '| ref', Array.from(r.slice(0, 4)).map((v) => v.toFixed(3)).join(' '));
}
process.exit(0);

// Known float16 / bfloat16 bit patterns, shared by the host tests (half.test.ts) and the
// compiled-kernel tests (ops_half.test.ts) so both sides are held to the same answers.

export const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** [value, expected float16 bits, why]. */
export const F16_CASES: [number, number, string][] = [
  [1, 0x3c00, 'one'],
  [-2, 0xc000, 'negative'],
  [0.1, 0x2e66, '0.1 rounds down'],
  [-0, 0x8000, 'negative zero keeps its sign'],
  [65504, 0x7bff, 'largest finite'],
  [65519.99, 0x7bff, 'just under the overflow midpoint'],
  [65520, 0x7c00, 'the midpoint 65520 ties to even: inf'],
  [1e6, 0x7c00, 'overflow to inf'],
  [-1e6, 0xfc00, 'overflow to -inf'],
  [Infinity, 0x7c00, 'inf'],
  [-Infinity, 0xfc00, '-inf'],
  [NaN, 0x7e00, 'NaN is a quiet NaN'],
  [2 ** -14, 0x0400, 'smallest normal'],
  [2 ** -24, 0x0001, 'smallest subnormal'],
  [1023 * 2 ** -24, 0x03ff, 'largest subnormal'],
  [2 ** -25, 0x0000, 'half the smallest subnormal ties to even zero'],
  [-(2 ** -25), 0x8000, '... keeping the sign'],
  [2 ** -25 * 1.0000001, 0x0001, 'just above that tie rounds up'],
  [1.5 * 2 ** -24, 0x0002, 'subnormal tie 1.5 → even 2'],
  [2.5 * 2 ** -24, 0x0002, 'subnormal tie 2.5 → even 2'],
  [1 + 2 ** -11, 0x3c00, 'normal tie rounds to even (down)'],
  [1 + 3 * 2 ** -11, 0x3c02, 'normal tie rounds to even (up)'],
  [2049, 0x6800, 'integer tie 2049 → 2048'],
  [2051, 0x6802, 'integer tie 2051 → 2052'],
  [1 + 2 ** -11 + 2 ** -40, 0x3c01, 'a float64 just above a tie rounds up (via float32 it would tie and round down)'],
];

/** [value, expected bfloat16 bits, why]. */
export const BF16_CASES: [number, number, string][] = [
  [1, 0x3f80, 'one'],
  [-1.5, 0xbfc0, 'negative'],
  [1 + 2 ** -8, 0x3f80, 'tie rounds to even (down)'],
  [1 + 3 * 2 ** -8, 0x3f82, 'tie rounds to even (up)'],
  [3.3895313892515355e38, 0x7f7f, 'largest finite'],
  [3.4028234663852886e38, 0x7f80, 'float32 max rounds to inf'],
  [Infinity, 0x7f80, 'inf'],
  [-Infinity, 0xff80, '-inf'],
  [NaN, 0x7fc0, 'NaN is a quiet NaN'],
  [2 ** -133, 0x0001, 'smallest subnormal'],
  [2 ** -134, 0x0000, 'half of it ties to even zero'],
  [-0, 0x8000, 'negative zero'],
  [1 + 2 ** -8 + 2 ** -40, 0x3f81, 'a float64 just above a tie rounds up'],
];

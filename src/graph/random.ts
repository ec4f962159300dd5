// The one seeded PRNG: random inputs for the CLI, and the tests' and benches' random data.

/**
 * mulberry32: a tiny, well-mixed 32-bit PRNG returning floats in [0, 1); same seed, same
 * stream on every machine. A seed of 0 (mod 2^32) is taken as 0x9e3779b9.
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` normal float32 values with standard deviation `scale` (Box–Muller over mulberry32(seed)). */
export function randnFloat32(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - r();
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u)) * scale;
    a[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) a[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return a;
}

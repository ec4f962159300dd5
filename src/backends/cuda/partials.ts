// The workspace of a reduction split over several blocks (split_reduction.ts: a long row over
// many blocks; column_reduction.ts: the reduced axis of a tile of outputs over many blocks).
// Each block publishes its partial results (value, and index for argmax/argmin) to a slot
// `row * splits + split`; an atomic counter per group of blocks tells the last one to arrive,
// which folds the group's partials back into its accumulators. The layout and the generated
// statements live here once, for both kernels.

import type { Reduction } from '../../lower/loop_ir.js';
import { accumulate, isIndexReduction, partialType } from './reduce_ops.js';

const SIZE: Record<string, number> = { float: 4, int: 4, double: 8, int64_t: 8, int32_t: 4, uint32_t: 4, uint64_t: 8 };

const align8 = (n: number) => Math.ceil(n / 8) * 8;

export class PartialsWorkspace {
  /** Bytes the kernel's workspace parameter (`ws`) needs. */
  readonly bytes: number;
  private readonly values: number[] = [];
  private readonly indices: number[] = [];
  private readonly counterOffset: number;

  /**
   * `slots` partials per reduction (outputs × splits), `counters` arrival counters; `splits`
   * partials per output, at slots `row * splits + split`.
   */
  constructor(
    private readonly reds: readonly Reduction[],
    counters: number,
    private readonly splits: number,
    slots: number,
  ) {
    let at = 0;
    for (const r of reds) {
      const size = SIZE[partialType(r)];
      // A type missing here would make the layout NaN: fail at codegen instead.
      if (size === undefined) throw new Error(`split reduction: no workspace size for partial type ${partialType(r)}`);
      this.values.push(at);
      at = align8(at + slots * size);
      this.indices.push(at);
      if (isIndexReduction(r)) at = align8(at + slots * 8);
    }
    this.counterOffset = at;
    this.bytes = at + 4 * counters;
  }

  /** The arrival counters, as an `unsigned int*` expression. */
  get counters(): string {
    return `((unsigned int*)(ws + ${this.counterOffset}))`;
  }

  /** Statements storing this block's acc{id}v (and acc{id}i) of output `row` at split `split`. */
  publish(ind: string, split: string): string[] {
    return this.reds.flatMap((r, i) => [
      `${ind}${this.value(r, i)}[row * ${this.splits} + ${split}] = acc${r.id}v;`,
      ...(isIndexReduction(r) ? [`${ind}${this.index(i)}[row * ${this.splits} + ${split}] = acc${r.id}i;`] : []),
    ]);
  }

  /**
   * Statements folding output `row`'s partial at split `q` into the accumulators, read from
   * L2 (__ldcg) so that no stale L1 line hides another block's write.
   */
  combine(ind: string, q: string): string[] {
    return this.reds.map((r, i) => {
      const slot = `row * ${this.splits} + ${q}`;
      const oi = isIndexReduction(r) ? ` const int64_t oi = __ldcg(${this.index(i)} + ${slot});` : '';
      return `${ind}{ const ${partialType(r)} ov = __ldcg(${this.value(r, i)} + ${slot});${oi} ${accumulate(r, 'ov', 'oi')} }`;
    });
  }

  private value(r: Reduction, i: number): string {
    return `((${partialType(r)}*)(ws + ${this.values[i]}))`;
  }

  private index(i: number): string {
    return `((int64_t*)(ws + ${this.indices[i]}))`;
  }
}

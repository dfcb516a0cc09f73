/** Ragged integer rows as the addon takes and returns them: one flat Int32Array plus one length per row. */
import type { NativeRagged } from "./binding-types.js";

export function toRagged(rows: ReadonlyArray<readonly number[]>): NativeRagged {
  return { ids: Int32Array.from(rows.flat()), lengths: Int32Array.from(rows, (r) => r.length) };
}

/** Splits each of `arrays` (all laid out like `lengths`) back into one plain array per row. */
export function fromRagged(lengths: Int32Array, ...arrays: ArrayLike<number>[]): number[][][] {
  const out = arrays.map(() => [] as number[][]);
  let offset = 0;
  for (const n of lengths) {
    arrays.forEach((a, k) => out[k]!.push(Array.prototype.slice.call(a, offset, offset + n) as number[]));
    offset += n;
  }
  return out;
}

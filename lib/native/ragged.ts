/**
 * Ragged integer rows as the addon takes and returns them: one flat Int32Array plus one length per row.
 * Values become int32 only after they are checked (Int32Array would turn NaN, null or "7" into 0, truncate
 * 1.9 and wrap 2**32 + 5 into 5): the error names the option, the row and the column.
 */
import { invalidOption } from "../core/errors.js";
import type { NativeRagged } from "./binding-types.js";

/** What the values of some rows are: every value must be a safe integer in [0, below). */
export interface RowValues {
  /** The argument or option the rows come from, as errors name it (`ids`, `sources`, `baselineIds`...). */
  name: string;
  /** Exclusive upper bound: the vocabulary size for token ids (capped at 2**31, the int32 range). */
  below: number;
  /** What one value is, for errors (default "a token id"). */
  what?: string;
  /** Index of the first row in the caller's list, when `rows` is one batch of it (default 0). */
  firstRow?: number;
}

const INT32_END = 2 ** 31;

/** Checks rows without converting them; throws ERR_INVALID_OPTION naming the row and column of a bad value. */
export function checkRows(rows: unknown, spec: RowValues): asserts rows is ReadonlyArray<readonly number[]> {
  const what = spec.what ?? "a token id";
  const plural = spec.what ? "integers" : "token ids";
  if (!Array.isArray(rows)) throw invalidOption(spec.name, `an array of rows of ${plural}`, rows);
  const below = Math.min(spec.below, INT32_END);
  // Index loops, not forEach: holes of sparse arrays are values (undefined) here too.
  for (let k = 0; k < rows.length; k++) {
    const r = k + (spec.firstRow ?? 0);
    const row: unknown = rows[k];
    if (!Array.isArray(row)) throw invalidOption(`${spec.name}[${r}]`, `an array of ${plural}`, row);
    for (let c = 0; c < row.length; c++) {
      const v: unknown = row[c];
      if (!(Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < below)) {
        throw invalidOption(`${spec.name}[${r}][${c}] (row ${r}, column ${c})`, `${what} (an integer in [0, ${below}))`, v);
      }
    }
  }
}

/** One row of values (a single id list, such as decode()'s): the error names the position. */
export function checkValues(values: unknown, spec: Omit<RowValues, "firstRow">): asserts values is readonly number[] {
  const what = spec.what ?? "a token id";
  if (!Array.isArray(values)) throw invalidOption(spec.name, `an array of ${spec.what ? "integers" : "token ids"}`, values);
  const below = Math.min(spec.below, INT32_END);
  for (let c = 0; c < values.length; c++) {
    const v: unknown = values[c];
    if (!(Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < below)) {
      throw invalidOption(`${spec.name}[${c}]`, `${what} (an integer in [0, ${below}))`, v);
    }
  }
}

/** Checks `rows` (see checkRows) and packs them for the addon. */
export function toRagged(rows: ReadonlyArray<readonly number[]>, spec: RowValues): NativeRagged {
  checkRows(rows, spec);
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

/**
 * 0/1 flags laid out as `rows` (one per value), set at the given positions of each row: how forward() passes
 * "replace these tokens' embeddings" to the addon. `positions` has one list per row; each position must be in
 * [0, row length); the error names the option, the row and the position.
 */
export function positionFlags(rows: ReadonlyArray<readonly number[]>, positions: unknown, name: string): Int32Array {
  if (!Array.isArray(positions) || positions.length !== rows.length) {
    throw invalidOption(name, `one array of positions per row (${rows.length})`, positions);
  }
  const flags = new Int32Array(rows.reduce((n, r) => n + r.length, 0));
  let offset = 0;
  rows.forEach((row, r) => {
    const list: unknown = positions[r];
    if (!Array.isArray(list)) throw invalidOption(`${name}[${r}]`, "an array of positions", list);
    for (const p of list as unknown[]) {
      if (!(Number.isSafeInteger(p) && (p as number) >= 0 && (p as number) < row.length)) {
        throw invalidOption(`${name}[${r}]`, `positions in [0, ${row.length})`, p);
      }
      flags[offset + (p as number)] = 1;
    }
    offset += row.length;
  });
  return flags;
}

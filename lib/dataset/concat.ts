/**
 * Several local files read as one split, in the order given — what `datasets.load_dataset(builder,
 * data_files=[a, b])` or `data_dir=DIR` gives Inseq's attribute-dataset. Rows are numbered across the files.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import type { DatasetSplit, RowResult } from "./readers.js";

/** One split over `parts` (each a whole file); every part must have the same columns (datasets requires it). */
export function concatSplits(parts: readonly DatasetSplit[]): DatasetSplit {
  if (parts.length === 0) throw new InseqError(ErrorCode.INVALID_OPTION, "Expected at least one data file but received none");
  if (parts.length === 1) return parts[0]!;
  const first = parts[0]!;
  const columnsOf = (p: DatasetSplit) => JSON.stringify([...p.columns].sort());
  for (const p of parts.slice(1)) {
    if (columnsOf(p) !== columnsOf(first)) {
      throw new InseqError(
        ErrorCode.BAD_DATASET,
        `Cannot read ${p.source} with ${first.source} as one dataset: its columns are ${JSON.stringify(p.columns)}, those of the first file ${JSON.stringify(first.columns)}`,
      );
    }
  }
  // starts[i]: the split's index of part i's first row.
  const starts: number[] = [];
  let numRows = 0;
  for (const p of parts) {
    starts.push(numRows);
    numRows += p.numRows;
  }
  return {
    source: parts.map((p) => p.source).join(", "),
    format: first.format,
    split: first.split,
    columns: first.columns,
    numRows,
    async read(start: number, end: number, fields: readonly string[]): Promise<RowResult[]> {
      const out: RowResult[] = [];
      for (let i = 0; i < parts.length; i++) {
        const lo = Math.max(start, starts[i]!);
        const hi = Math.min(end, starts[i]! + parts[i]!.numRows);
        if (lo >= hi) continue;
        // An unreadable row names its file (its line number is within that file).
        const source = parts[i]!.source;
        for (const r of await parts[i]!.read(lo - starts[i]!, hi - starts[i]!, fields)) out.push("error" in r ? { ...r, error: `${source}: ${r.error}` } : r);
      }
      return out;
    },
  };
}

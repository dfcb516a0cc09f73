/**
 * Hugging Face `datasets` split syntax ("ReadInstruction" strings), as Inseq's `--dataset_split` passes it to
 * `load_dataset(split=...)`: `train`, `train[:20]`, `train[10:20]`, `train[-5:]`, `train[:10%]`,
 * `train[10%:20%]`, `train[:10%](pct1_dropremainder)`. Percent boundaries are rounded to the closest row
 * (Python's round-half-to-even), or with `pct1_dropremainder` to multiples of 1% of the rows (trunc(n / 100)).
 * Combining splits with `+` is not supported (run once per split).
 */
import { ErrorCode, InseqError } from "../core/errors.js";

export interface SplitSpec {
  /** Split name, e.g. "train". */
  split: string;
  /** Slice boundaries as written (null: open end). */
  from: number | null;
  to: number | null;
  /** "%" when either boundary is a percentage (both are then read as percentages, as `datasets` does). */
  unit: "abs" | "%";
  rounding: "closest" | "pct1_dropremainder";
}

const SPLIT_RE = /^([\w.-]+)(?:\[(?:(-?\d+)(%)?)?:(?:(-?\d+)(%)?)?\])?(?:\(([^)]*)\))?$/;

function syntaxError(spec: string, why: string): InseqError {
  return new InseqError(
    ErrorCode.INVALID_OPTION,
    `Expected a split such as "train", "train[:20]", "train[10:20]", "train[-5:]" or "train[:10%]" for --dataset-split ` +
      `but received ${JSON.stringify(spec)} (${why})`,
  );
}

/** Parses a split string; throws ERR_INVALID_OPTION on bad syntax. */
export function parseSplit(spec: string): SplitSpec {
  if (typeof spec !== "string") throw syntaxError(String(spec), "not a string");
  const s = spec.trim();
  if (s.length === 0) throw syntaxError(spec, "empty");
  if (s.includes("+")) throw syntaxError(spec, "combining splits with + is not supported; run once per split");
  const m = SPLIT_RE.exec(s);
  if (!m) {
    if (/\[[^\]]*$/.test(s)) throw syntaxError(spec, "missing ]");
    if (/\[\s*-?\d+%?\s*\]/.test(s)) throw syntaxError(spec, "a single row index is not a slice; write [i:i+1]");
    throw syntaxError(spec, "bad syntax");
  }
  const [, split, fromStr, fromPct, toStr, toPct, roundingStr] = m;
  const unit = fromPct || toPct ? "%" : "abs";
  const from = fromStr === undefined ? null : Number(fromStr);
  const to = toStr === undefined ? null : Number(toStr);
  for (const v of [from, to]) {
    if (v !== null && !Number.isSafeInteger(v)) throw syntaxError(spec, "boundary too large");
    if (unit === "%" && v !== null && Math.abs(v) > 100) throw syntaxError(spec, "percent boundaries must be between -100 and 100");
  }
  let rounding: SplitSpec["rounding"] = "closest";
  if (roundingStr !== undefined) {
    if (unit !== "%") throw syntaxError(spec, "a rounding option is only allowed with percent boundaries");
    if (roundingStr !== "closest" && roundingStr !== "pct1_dropremainder") {
      throw syntaxError(spec, `unknown rounding ${JSON.stringify(roundingStr)}; use closest or pct1_dropremainder`);
    }
    rounding = roundingStr;
  }
  return { split: split!, from, to, unit, rounding };
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The absolute [start, end) rows a split spec selects from a split of `numRows` rows (end >= start). */
export function resolveSplit(spec: SplitSpec, numRows: number): { start: number; end: number } {
  let from: number;
  let to: number;
  if (spec.unit === "%") {
    if (spec.rounding === "pct1_dropremainder" && numRows < 100) {
      throw new InseqError(
        ErrorCode.INVALID_OPTION,
        `Expected a split of at least 100 rows for pct1_dropremainder rounding but split ${JSON.stringify(spec.split)} has ${numRows}`,
      );
    }
    const abs = (p: number) => (spec.rounding === "closest" ? roundHalfEven((p * numRows) / 100) : p * Math.trunc(numRows / 100));
    from = spec.from === null ? 0 : abs(spec.from);
    to = spec.to === null ? numRows : abs(spec.to);
  } else {
    from = spec.from ?? 0;
    to = spec.to ?? numRows;
  }
  if (from < 0) from = Math.max(numRows + from, 0);
  if (to < 0) to = Math.max(numRows + to, 0);
  from = Math.min(from, numRows);
  to = Math.min(to, numRows);
  return { start: from, end: Math.max(from, to) };
}

/** `--shard i/n`: rows with index % n == i. */
export interface Shard {
  index: number;
  count: number;
}

/**
 * `--shard i/n`, or `--shard auto` in a Kubernetes Indexed Job: i from JOB_COMPLETION_INDEX (which Kubernetes
 * sets in each pod) and n from INSEQ_SHARD_COUNT (Kubernetes does not export the completions count: the manifest
 * sets it to the same number as `completions`).
 */
export function parseShard(value: string, env: Readonly<Record<string, string | undefined>> = process.env): Shard {
  if (String(value).trim() === "auto") return autoShard(env);
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(String(value));
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index < count)) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected i/n with 0 <= i < n (e.g. "0/4"), or auto, for --shard but received ${JSON.stringify(value)}`,
    );
  }
  return { index, count };
}

const COUNT_ENV = "INSEQ_SHARD_COUNT";
const INDEX_ENV = "JOB_COMPLETION_INDEX";

function autoShard(env: Readonly<Record<string, string | undefined>>): Shard {
  const read = (name: string, what: string): number => {
    const raw = env[name];
    const n = raw !== undefined && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n)) {
      throw new InseqError(
        ErrorCode.INVALID_OPTION,
        `Expected ${what} in $${name} for --shard auto but received ${raw === undefined ? "nothing (the variable is not set)" : JSON.stringify(raw)}` +
          " (a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX; set INSEQ_SHARD_COUNT to the Job's completions)",
      );
    }
    return n;
  };
  const count = read(COUNT_ENV, "the shard count (a positive integer)");
  if (count < 1) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected the shard count (a positive integer) in $${COUNT_ENV} for --shard auto but received ${JSON.stringify(env[COUNT_ENV])}`);
  }
  const index = read(INDEX_ENV, `the shard index (an integer from 0 to ${count - 1})`);
  if (index >= count) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected the shard index (an integer from 0 to ${count - 1}) in $${INDEX_ENV} for --shard auto but received ${JSON.stringify(env[INDEX_ENV])} ($${COUNT_ENV} is ${count}; it must equal the Job's completions)`,
    );
  }
  return { index, count };
}

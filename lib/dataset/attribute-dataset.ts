/**
 * `attribute-dataset`: picks the examples of a split (slice, shard, rows already done), attributes them batch
 * by batch with `model.attribute()`, and appends one record per example to the output as each batch finishes.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import type { AttributeOptions } from "../attribution/attribute.js";
import type { Model } from "../models/model.js";
import type { Seq2SeqModel } from "../models/seq2seq-model.js";
import { FeatureAttributionOutput } from "../results/attribution.js";
import type { DatasetSplit } from "./readers.js";
import type { DatasetRecord, RecordWriter } from "./records.js";
import { checkResumeConfig, withModelRevision, type RunConfig } from "./run-config.js";
import { resolveSplit, type Shard, type SplitSpec } from "./split.js";

export interface Example {
  /** Row index in the split (before slicing): the record's "index". */
  index: number;
  input: string;
  generated?: string;
}

export interface SelectExamplesOptions {
  split: SplitSpec;
  inputTextField: string;
  generatedTextField?: string;
  shard?: Shard;
  /** Row indices to leave out (already in a resumed output). */
  done?: ReadonlySet<number>;
  /** "stop" (default): an unreadable row or a missing text throws ERR_BAD_DATASET; "skip": it is left out. */
  onError?: "stop" | "skip";
}

export interface SkippedRow {
  index: number;
  reason: string;
}

export interface Selection {
  examples: Example[];
  /** Rows in the slice (and shard). */
  selected: number;
  /** Of those, rows already done. */
  alreadyDone: number;
  skipped: SkippedRow[];
  start: number;
  end: number;
}

function checkField(ds: DatasetSplit, option: string, field: string): void {
  if (!ds.columns.includes(field)) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected a column of ${ds.source} for ${option} but received ${JSON.stringify(field)}; available columns: ${ds.columns.join(", ") || "(none)"}`,
    );
  }
}

/** Rows of the split to attribute, in index order. Validates field names first (listing the columns). */
export async function selectExamples(ds: DatasetSplit, opts: SelectExamplesOptions): Promise<Selection> {
  checkField(ds, "--input-text-field", opts.inputTextField);
  if (opts.generatedTextField !== undefined) checkField(ds, "--generated-text-field", opts.generatedTextField);
  const fields = [opts.inputTextField, ...(opts.generatedTextField !== undefined ? [opts.generatedTextField] : [])];
  const { start, end } = resolveSplit(opts.split, ds.numRows);
  const rows = await ds.read(start, end, fields);
  const out: Selection = { examples: [], selected: 0, alreadyDone: 0, skipped: [], start, end };
  const problem = (index: number, reason: string) => {
    if ((opts.onError ?? "stop") === "stop") {
      throw new InseqError(ErrorCode.BAD_DATASET, `Cannot use row ${index} of ${ds.source}: ${reason} (--on-error skip leaves such rows out)`);
    }
    out.skipped.push({ index, reason });
  };
  for (let k = 0; k < rows.length; k++) {
    const index = start + k;
    if (opts.shard && index % opts.shard.count !== opts.shard.index) continue;
    out.selected++;
    if (opts.done?.has(index)) {
      out.alreadyDone++;
      continue;
    }
    const row = rows[k]!;
    if ("error" in row) {
      problem(index, row.error);
      continue;
    }
    const where = row.line !== undefined ? ` (line ${row.line})` : "";
    const input = row.values[opts.inputTextField];
    if (typeof input !== "string") {
      problem(index, `${opts.inputTextField} is ${input === null ? "empty (null)" : `a ${typeof input}, not a string`}${where}`);
      continue;
    }
    const ex: Example = { index, input };
    if (opts.generatedTextField !== undefined) {
      const g = row.values[opts.generatedTextField];
      if (typeof g !== "string") {
        problem(index, `${opts.generatedTextField} is ${g === null ? "empty (null)" : `a ${typeof g}, not a string`}${where}`);
        continue;
      }
      ex.generated = g;
    }
    out.examples.push(ex);
  }
  return out;
}

export interface AttributeExamplesOptions {
  /** Examples per model.attribute() call, and so per flush (default 8). */
  batchSize?: number;
  /** Options for model.attribute() (generatedTexts and onProgress are set here). */
  attributeOptions?: Omit<AttributeOptions, "generatedTexts" | "onProgress" | "signal">;
  /** "stop" (default): a failing example throws (naming its row); "skip": it is left out and reported. */
  onError?: "stop" | "skip";
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  onSkip?: (row: SkippedRow) => void;
  /**
   * The run's configuration (run-config.ts `runConfig`), stored in every record with the loaded model's hub
   * revision added.
   */
  config?: RunConfig;
  /**
   * The configuration of the records already in the output (`OutputPlan.firstConfig`): a run whose
   * configuration differs once the model is loaded (its hub revision moved) is refused before anything is written.
   */
  previousConfig?: RunConfig | null;
  /** Applied to each example's output before it is written (the CLI's --attribution-aggregators). */
  transform?: (out: FeatureAttributionOutput) => FeatureAttributionOutput;
}

export interface AttributeExamplesStats {
  written: number;
  skipped: SkippedRow[];
  /** Time inside model.attribute(), ms. */
  attributeMs: number;
  /** Time splitting outputs per example, encoding records and writing them, ms. */
  writeMs: number;
  wallMs: number;
}

/** One example's output: its sequence, with per-example info (texts, positions, share of the batch time). */
export function exampleOutput(out: FeatureAttributionOutput, k: number): FeatureAttributionOutput {
  const seq = out.sequenceAttributions[k]!;
  const info: Record<string, unknown> = { ...out.info };
  for (const key of ["input_texts", "generated_texts"]) {
    const v = out.info[key];
    if (Array.isArray(v)) info[key] = v.slice(k, k + 1);
  }
  info.attr_pos_start = seq.attrPosStart;
  info.attr_pos_end = seq.attrPosEnd;
  if (typeof out.info.exec_time === "number") info.exec_time = out.info.exec_time / out.sequenceAttributions.length;
  return new FeatureAttributionOutput([seq], info);
}

/** Where attributeExamples puts records: a RecordWriter (the output file), or a list (a queue worker's job). */
export type RecordSink = Pick<RecordWriter, "path" | "write">;

const FATAL = new Set<string>([ErrorCode.ABORTED, ErrorCode.DISPOSED, ErrorCode.ADDON_LOAD, ErrorCode.DISK_FULL, ErrorCode.IO]);

/** Attributes `examples` in batches and appends their records to `writer` as each batch finishes. */
export async function attributeExamples(
  model: Model | Seq2SeqModel,
  examples: readonly Example[],
  writer: RecordSink,
  opts: AttributeExamplesOptions = {},
): Promise<AttributeExamplesStats> {
  const started = performance.now();
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a positive integer for --batch-size but received ${batchSize}`);
  }
  const stats: AttributeExamplesStats = { written: 0, skipped: [], attributeMs: 0, writeMs: 0, wallMs: 0 };
  const config = opts.config ? withModelRevision(opts.config, model.info.path) : undefined;
  if (config && opts.previousConfig) checkResumeConfig(writer.path, opts.previousConfig, config);
  const forced = examples.some((e) => e.generated !== undefined);
  const run = async (batch: readonly Example[]) => {
    const t0 = performance.now();
    try {
      return await (model as Model).attribute(
        batch.map((e) => e.input),
        { ...opts.attributeOptions, generatedTexts: forced ? batch.map((e) => e.generated ?? e.input) : undefined, signal: opts.signal },
      );
    } finally {
      stats.attributeMs += performance.now() - t0;
    }
  };
  const write = (batch: readonly Example[], out: FeatureAttributionOutput) => {
    const t0 = performance.now();
    batch.forEach((e, k) => {
      const example = exampleOutput(out, k);
      const single = opts.transform ? opts.transform(example) : example;
      const record: DatasetRecord = {
        index: e.index,
        input_text: e.input,
        generated_text: String((single.info.generated_texts as unknown[] | undefined)?.[0] ?? ""),
        ...(config ? { config } : {}),
        attribution: single.toJSON(),
      };
      writer.write(record);
      stats.written++;
    });
    stats.writeMs += performance.now() - t0;
  };
  let done = 0;
  opts.onProgress?.(0, examples.length);
  for (let b = 0; b < examples.length; b += batchSize) {
    const batch = examples.slice(b, b + batchSize);
    // Writes stay outside the try blocks: a failed write (ERR_DISK_FULL, ERR_IO) stops the run, never skips a row.
    let out: FeatureAttributionOutput | null = null;
    try {
      out = await run(batch);
    } catch (err) {
      if (!(err instanceof InseqError) || FATAL.has(err.code)) throw err;
      // Find the failing row(s): one example at a time.
      for (const e of batch) {
        let single: FeatureAttributionOutput | null = null;
        try {
          if (batch.length === 1) throw err;
          single = await run([e]);
        } catch (err1) {
          if (!(err1 instanceof InseqError) || FATAL.has(err1.code)) throw err1;
          if ((opts.onError ?? "stop") === "stop") {
            throw new InseqError(err1.code, `Attribution failed for row ${e.index}: ${err1.message} (--on-error skip leaves such rows out)`, { cause: err1 });
          }
          const row = { index: e.index, reason: `${err1.message} [${err1.code}]` };
          stats.skipped.push(row);
          opts.onSkip?.(row);
        }
        if (single) write([e], single);
      }
    }
    if (out) write(batch, out);
    done += batch.length;
    opts.onProgress?.(done, examples.length);
  }
  stats.wallMs = performance.now() - started;
  return stats;
}

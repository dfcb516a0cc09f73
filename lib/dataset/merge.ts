/**
 * `inseq merge`: joins attribute-dataset outputs (shards, resumed runs) into one file ordered by row index.
 * A row present in several inputs must have the same content (texts, and attributions within 1e-5; the
 * measured `exec_time` may differ); it is written once. The attribution settings that Inseq requires to agree
 * when merging outputs (method, model, step scores, ...) must agree across all records, and so must the records'
 * run configurations (run-config.ts: method and step-function arguments, generation arguments, revision, ...),
 * since the merged output has one `info`.
 */
import { existsSync } from "node:fs";
import { gzipSync } from "node:zlib";

import { replaceFileAtomic, writeFileAtomic } from "../core/atomic-write.js";
import { ErrorCode, InseqError } from "../core/errors.js";
import { FeatureAttributionOutput, MERGE_MATCH_INFO_FIELDS } from "../results/attribution.js";
import { encodeOutputFile } from "../results/io.js";
import { isGzipPath, planOutput, recordInfo, RecordWriter, scanRecords, type DatasetRecord } from "./records.js";
import { describeDifferences, diffRunConfigs, recordConfig, type RunConfig } from "./run-config.js";

const MERGE_HINT = "run merge again (the output was not written)";

export interface MergeOptions {
  /** Replace an existing output. Default false (ERR_INVALID_OPTION). */
  overwrite?: boolean;
}

export interface MergeStats {
  records: number;
  duplicates: number;
  inputs: number;
  /** "jsonl": one record per line (gzip members for .gz); "inseq-json": one Inseq JSON document. */
  format: "jsonl" | "inseq-json";
}

interface Entry {
  file: string;
  text: string;
  record: DatasetRecord;
}

const infoOf = recordInfo;

function withoutExecTime(r: DatasetRecord): string {
  const info = { ...infoOf(r) };
  delete info.exec_time;
  const doc = r.attribution as { attributes?: Record<string, unknown> };
  return JSON.stringify({ ...r, attribution: { ...r.attribution, attributes: { ...doc.attributes, info } } });
}

function sameContent(a: DatasetRecord, b: DatasetRecord): boolean {
  if (withoutExecTime(a) === withoutExecTime(b)) return true;
  if (a.input_text !== b.input_text || a.generated_text !== b.generated_text) return false;
  try {
    const strip = (r: DatasetRecord) => {
      const o = FeatureAttributionOutput.fromJSON(r.attribution);
      delete o.info.exec_time;
      return o;
    };
    return strip(a).equals(strip(b), 1e-5);
  } catch {
    return false;
  }
}

/** Merges attribute-dataset outputs into `output` (.jsonl / .jsonl.gz, or .json / .json.gz for one Inseq JSON document). */
export async function mergeRecordFiles(inputs: readonly string[], output: string, opts: MergeOptions = {}): Promise<MergeStats> {
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new InseqError(ErrorCode.INVALID_OPTION, "Expected at least one input file for merge but received none");
  }
  const asInseqJson = /\.json(\.gz)?$/i.test(output);
  if (!asInseqJson && !/\.jsonl(\.gz)?$/i.test(output)) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected an output path ending in .jsonl, .jsonl.gz, .json or .json.gz for --output but received ${JSON.stringify(output)}`,
    );
  }
  if (existsSync(output) && !opts.overwrite) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected an output path that does not exist (or --overwrite) for --output but received ${JSON.stringify(output)}: the file already exists`,
    );
  }
  const byIndex = new Map<number, Entry>();
  let duplicates = 0;
  let reference: { file: string; index: number; info: Record<string, unknown>; config: RunConfig } | null = null;
  for (const file of inputs) {
    const scan = scanRecords(file, (record, text) => {
      const info = infoOf(record);
      const config = recordConfig(record);
      if (!reference) {
        reference = { file, index: record.index, info, config };
      } else {
        const diffs = diffRunConfigs(reference.config, config);
        if (diffs.length > 0) {
          throw new InseqError(
            ErrorCode.BAD_DATASET,
            `Cannot merge: row ${record.index} of ${file} was attributed with another configuration than row ${reference.index} of ` +
              `${reference.file}, in ${diffs.map((d) => d.field).join(", ")} (${describeDifferences(diffs, `in ${reference.file}`, `in ${file}`)})`,
          );
        }
        for (const field of MERGE_MATCH_INFO_FIELDS) {
          if (JSON.stringify(info[field]) !== JSON.stringify(reference.info[field])) {
            throw new InseqError(
              ErrorCode.BAD_DATASET,
              `Cannot merge: row ${record.index} of ${file} has ${field} ${JSON.stringify(info[field])} but row ${reference.index} of ` +
                `${reference.file} has ${JSON.stringify(reference.info[field])}`,
            );
          }
        }
      }
      const prev = byIndex.get(record.index);
      if (prev) {
        if (!sameContent(prev.record, record)) {
          throw new InseqError(
            ErrorCode.BAD_DATASET,
            `Cannot merge: row ${record.index} appears in ${prev.file} and ${file} with different content`,
          );
        }
        duplicates++;
        return;
      }
      byIndex.set(record.index, { file, text, record });
    });
    if (scan.validBytes < scan.size) {
      throw new InseqError(
        ErrorCode.BAD_DATASET,
        `${file} ends with an interrupted record (from byte ${scan.validBytes} of ${scan.size}); finish the run with --resume first`,
      );
    }
  }
  const entries = [...byIndex.values()].sort((a, b) => a.record.index - b.record.index);
  if (asInseqJson) {
    if (entries.length === 0) throw new InseqError(ErrorCode.INVALID_OPTION, "Expected at least one record to merge into an Inseq JSON file but the inputs hold none");
    const merged = FeatureAttributionOutput.merge(entries.map((e) => FeatureAttributionOutput.fromJSON(e.record.attribution)));
    await writeFileAtomic(output, await encodeOutputFile(merged, { compress: /\.gz$/i.test(output) }), { hint: MERGE_HINT });
  } else {
    const gz = isGzipPath(output);
    await replaceFileAtomic(
      output,
      (tmp) => {
        const writer = new RecordWriter({ ...planOutput(tmp, { overwrite: true }), gzip: gz }, { hint: MERGE_HINT });
        try {
          for (const e of entries) {
            const line = Buffer.from(e.text + "\n", "utf8");
            writer.writeEncoded(gz ? gzipSync(line, { level: 5 }) : line);
          }
        } finally {
          writer.close();
        }
      },
      { hint: MERGE_HINT },
    );
  }
  return { records: entries.length, duplicates, inputs: inputs.length, format: asInseqJson ? "inseq-json" : "jsonl" };
}

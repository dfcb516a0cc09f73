/**
 * The evaluation report as a JSON file (`inseq evaluate --json`, `--from-json`): written atomically, read back
 * with its shape checked, so that a renderer never meets a half-written or foreign file. JSON has no NaN: a
 * metric that was NaN is written as null and read back as NaN (`evidenceOverDistractors` keeps its null, which
 * means "no item had distractors").
 */
import { readFile } from "node:fs/promises";

import { writeFileAtomic } from "../core/atomic-write.js";
import { describeValue, ErrorCode, InseqError } from "../core/errors.js";
import { BASELINES, REPLACEMENTS, type EvaluationReport } from "./types.js";

/** The `format` marker of the files this module reads and writes. */
export const EVALUATION_FORMAT = "inseq-evaluation/1";

/**
 * Writes the report as indented JSON, atomically (a temporary sibling renamed over `file`).
 *
 * @example
 * await saveEvaluationReport(report, "eval.json");
 */
export async function saveEvaluationReport(report: EvaluationReport, file: string): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(report, null, 2) + "\n");
}

type Json = unknown;

class ShapeError extends Error {}

function fail(where: string, expected: string, value: Json): never {
  throw new ShapeError(`expected ${expected} at ${where} but received ${describeValue(value)}`);
}

const isObject = (v: Json): v is Record<string, Json> => v !== null && typeof v === "object" && !Array.isArray(v);

function object(v: Json, where: string): Record<string, Json> {
  if (!isObject(v)) fail(where, "an object", v);
  return v;
}
function string(v: Json, where: string): string {
  if (typeof v !== "string") fail(where, "a string", v);
  return v;
}
/** A number; null (a NaN written as JSON) becomes NaN. */
function metric(v: Json, where: string): number {
  if (v === null) return NaN;
  if (typeof v !== "number") fail(where, "a number", v);
  return v;
}
function count(v: Json, where: string): number {
  if (!(typeof v === "number" && Number.isInteger(v) && v >= 0)) fail(where, "a non-negative integer", v);
  return v;
}
function array(v: Json, where: string): Json[] {
  if (!Array.isArray(v)) fail(where, "an array", v);
  return v;
}
function optionalObject(o: Record<string, Json>, key: string, where: string): void {
  if (o[key] !== undefined) object(o[key], `${where}.${key}`);
}
/** A `{ "1": number, "2": number }` record: every value checked, nulls turned into NaN. */
function metricRecord(v: Json, where: string): Record<string, number> {
  const o = object(v, where);
  for (const [k, x] of Object.entries(o)) o[k] = metric(x, `${where}.${k}`);
  return o as Record<string, number>;
}

function checkGroup(v: Json, where: string): void {
  const g = object(v, where);
  string(g.group, `${where}.group`);
  count(g.items, `${where}.items`);
  const p = object(g.plausibility, `${where}.plausibility`);
  for (const k of ["top1", "meanEvidenceRank", "auprc"]) p[k] = metric(p[k], `${where}.plausibility.${k}`);
  if (p.evidenceOverDistractors !== null && typeof p.evidenceOverDistractors !== "number") {
    fail(`${where}.plausibility.evidenceOverDistractors`, "a number or null", p.evidenceOverDistractors);
  }
  if (g.faithfulness !== undefined) {
    const f = object(g.faithfulness, `${where}.faithfulness`);
    for (const k of ["comprehensiveness", "sufficiency", "decisionFlip"]) metricRecord(f[k], `${where}.faithfulness.${k}`);
    for (const k of ["aopcComprehensiveness", "aopcSufficiency"]) f[k] = metric(f[k], `${where}.faithfulness.${k}`);
  }
}

function checkMethod(v: Json, where: string): void {
  const m = object(v, where);
  string(m.label, `${where}.label`);
  string(m.method, `${where}.method`);
  if (m.baseline !== undefined && !BASELINES.includes(m.baseline as never)) fail(`${where}.baseline`, `one of ${BASELINES.join(", ")}`, m.baseline);
  optionalObject(m, "methodArgs", where);
  if (m.attributedFn !== undefined) string(m.attributedFn, `${where}.attributedFn`);
  optionalObject(m, "attributedFnArgs", where);
  array(m.groups, `${where}.groups`).forEach((g, i) => checkGroup(g, `${where}.groups[${i}]`));
  m.msPerItem = metric(m.msPerItem, `${where}.msPerItem`);
  if (m.completeness !== undefined) {
    const c = object(m.completeness, `${where}.completeness`);
    for (const k of ["threshold", "p50", "p90", "max", "overThreshold"]) c[k] = metric(c[k], `${where}.completeness.${k}`);
    if (c.warning !== undefined) string(c.warning, `${where}.completeness.warning`);
  }
  if (m.randomization !== undefined) {
    array(m.randomization, `${where}.randomization`).forEach((s, i) => {
      const step = object(s, `${where}.randomization[${i}]`);
      string(step.randomized, `${where}.randomization[${i}].randomized`);
      count(step.blocks, `${where}.randomization[${i}].blocks`);
      step.spearman = metric(step.spearman, `${where}.randomization[${i}].spearman`);
    });
  }
}

/**
 * Checks that a parsed JSON value is an evaluation report (format marker, set, model, replacement, k, methods
 * with their groups and metrics, per-item records) and returns it typed, with JSON nulls of metrics turned back
 * into NaN. Throws ERR_BAD_DATASET naming the first problem and where it is (`methods[1].groups[0].items`).
 *
 * @example
 * const report = parseEvaluationReport(JSON.parse(text), "eval.json");
 */
export function parseEvaluationReport(value: unknown, source = "the evaluation report"): EvaluationReport {
  try {
    const r = object(value, "the top level");
    if (r.format !== EVALUATION_FORMAT) fail("format", JSON.stringify(EVALUATION_FORMAT), r.format);
    const set = object(r.set, "set");
    string(set.name, "set.name");
    string(set.description, "set.description");
    count(set.items, "set.items");
    count(set.verified, "set.verified");
    const model = object(r.model, "model");
    string(model.name, "model.name");
    string(model.path, "model.path");
    if (model.kind !== "decoder-only" && model.kind !== "encoder-decoder") fail("model.kind", '"decoder-only" or "encoder-decoder"', model.kind);
    if (!REPLACEMENTS.includes(r.replacement as never)) fail("replacement", `one of ${REPLACEMENTS.join(", ")}`, r.replacement);
    array(r.k, "k").forEach((k, i) => {
      if (!(typeof k === "number" && Number.isInteger(k) && k >= 1)) fail(`k[${i}]`, "a positive integer", k);
    });
    count(r.aopcMaxK, "aopcMaxK");
    array(r.methods, "methods").forEach((m, i) => checkMethod(m, `methods[${i}]`));
    r.seconds = metric(r.seconds, "seconds");
    string(r.createdAt, "createdAt");
    if (r.items !== undefined) {
      array(r.items, "items").forEach((it, i) => {
        const item = object(it, `items[${i}]`);
        string(item.id, `items[${i}].id`);
        string(item.kind, `items[${i}].kind`);
        string(item.label, `items[${i}].label`);
        array(item.wordScores, `items[${i}].wordScores`);
      });
    }
    return r as unknown as EvaluationReport;
  } catch (err) {
    if (err instanceof ShapeError) {
      throw new InseqError(ErrorCode.BAD_DATASET, `${source} is not an inseq evaluation report (${EVALUATION_FORMAT}): ${err.message}`);
    }
    throw err;
  }
}

/**
 * Reads a report written by `saveEvaluationReport`, checking its format and shape (`parseEvaluationReport`).
 * A missing file is ERR_NOT_FOUND; a file that is not JSON, or not a report, is ERR_BAD_DATASET naming the file and
 * the problem.
 *
 * @example
 * const report = await loadEvaluationReport("eval.json");
 * process.stdout.write(formatEvaluationTable(report));
 */
export async function loadEvaluationReport(file: string): Promise<EvaluationReport> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new InseqError(ErrorCode.NOT_FOUND, `Evaluation report not found: ${file}`, { cause: err });
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InseqError(ErrorCode.BAD_DATASET, `${file} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseEvaluationReport(value, file);
}

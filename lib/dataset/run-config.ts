/**
 * The configuration of an `attribute-dataset` run: everything besides the row that decides a record's content
 * (model and its hub revision, method and method arguments, attributed function and step scores with their
 * arguments, generation arguments, attributed positions, the text fields). Every record stores it as `config`;
 * `--resume` and `merge` refuse records whose configuration differs, naming the fields that differ.
 */
import type { AttributeOptions } from "../attribution/attribute.js";
import { ErrorCode, InseqError } from "../core/errors.js";
import { defaultAttributedFn } from "../attribution/registry.js";

/** snake_case keys (as Inseq's `info`), JSON values. */
export type RunConfig = Record<string, unknown>;

export interface RunConfigInput {
  /** Model id or path, as given (Inseq's `model_name`). */
  model: string;
  /** Options for model.attribute() (signal, progress and batching options do not change results and are left out). */
  attributeOptions?: Omit<AttributeOptions, "signal" | "onProgress">;
  inputTextField: string;
  generatedTextField?: string;
}

/** Options that change how a run is scheduled, not what it writes. */
const NOT_CONFIG = new Set(["signal", "onProgress", "batchSize", "memoryBudgetMb", "memoryBudget", "gradientCheckpointing", "schedule", "generatedTexts"]);
/** Options with a field of their own below (defaults filled in, so an omitted option equals its default). */
const NAMED = new Set([
  "method", "methodArgs", "attributedFn", "attributedFnArgs", "stepScores", "stepScoresArgs", "generationArgs",
  "attrPosStart", "attrPosEnd", "includeEosBaseline",
]);

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A JSON value with snake_case object keys in sorted order and undefined members dropped. */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v).map(([k, x]) => [snake(k), x] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v === undefined ? null : v;
}

/** The configuration of a run, before the model is loaded (`withModelRevision` adds the model's commit). */
export function runConfig(input: RunConfigInput): RunConfig {
  const o = (input.attributeOptions ?? {}) as Record<string, unknown> & AttributeOptions;
  const cfg: RunConfig = {
    model: input.model,
    attribution_method: o.method ?? null,
    attribution_args: normalize(o.methodArgs ?? {}),
    attributed_fn: o.attributedFn ?? (o.method ? defaultAttributedFn(o.method) : "probability"),
    attributed_fn_args: normalize(o.attributedFnArgs ?? {}),
    step_scores: [...(o.stepScores ?? [])],
    step_scores_args: normalize(o.stepScoresArgs ?? {}),
    generation_args: normalize(o.generationArgs ?? {}),
    attr_pos_start: o.attrPosStart ?? null,
    attr_pos_end: o.attrPosEnd ?? null,
    include_eos_baseline: o.includeEosBaseline ?? false,
    input_text_field: input.inputTextField,
    generated_text_field: input.generatedTextField ?? null,
  };
  // Any other option that reaches attribute() (contrast targets, granular, seq2seq switches, ...).
  for (const [k, v] of Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!NAMED.has(k) && !NOT_CONFIG.has(k) && v !== undefined) cfg[snake(k)] = normalize(v);
  }
  return cfg;
}

/** The commit of a hub cache snapshot folder (`.../snapshots/<40 hex>`), or null for any other folder. */
export function modelRevisionOf(modelPath: string): string | null {
  return /[\\/]snapshots[\\/]([0-9a-f]{40})[\\/]?$/.exec(modelPath)?.[1] ?? null;
}

/** `config` plus `model_revision`: the loaded model's hub commit (null for a local folder). */
export function withModelRevision(config: RunConfig, modelPath: string): RunConfig {
  return { ...config, model_revision: modelRevisionOf(modelPath) };
}

/**
 * A record's configuration: its `config`, or for records written before configurations were stored, the part
 * of its Inseq `info` that says the same (method, arguments, functions, model).
 */
export function recordConfig(record: { config?: unknown; attribution: Record<string, unknown> }): RunConfig {
  const stored = record.config;
  if (stored !== null && typeof stored === "object" && !Array.isArray(stored)) return stored as RunConfig;
  const doc = record.attribution as { attributes?: { info?: unknown }; info?: unknown };
  const raw = doc.attributes?.info ?? doc.info;
  const info = (raw !== null && typeof raw === "object" && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const cfg: RunConfig = {};
  const copy = (from: string, to = from, norm = false) => {
    if (info[from] !== undefined) cfg[to] = norm ? normalize(info[from]) : info[from];
  };
  copy("model_name", "model");
  copy("attribution_method");
  copy("attribution_args", "attribution_args", true);
  copy("attributed_fn");
  copy("attributed_fn_args", "attributed_fn_args", true);
  copy("step_scores");
  copy("step_scores_args", "step_scores_args", true);
  copy("include_eos_baseline");
  if (info.constrained_decoding === false) copy("generation_args", "generation_args", true);
  PARTIAL.add(cfg);
  return cfg;
}

export interface ConfigDifference {
  field: string;
  a: unknown;
  b: unknown;
}

/** Configurations read from an old record's `info`: they hold only some fields, so only those are compared. */
const PARTIAL = new WeakSet<RunConfig>();
/** Fields known only once the model is loaded: compared when both configurations have them. */
const AFTER_LOAD = new Set(["model_revision"]);

/**
 * Fields whose values differ (JSON comparison; a field one side lacks is null there), in `b`'s field order then
 * `a`'s. Against a configuration read from an old record's info, only the fields it has are compared.
 */
export function diffRunConfigs(a: RunConfig, b: RunConfig): ConfigDifference[] {
  const out: ConfigDifference[] = [];
  for (const field of new Set([...Object.keys(b), ...Object.keys(a)])) {
    const inA = Object.hasOwn(a, field);
    const inB = Object.hasOwn(b, field);
    if ((!inA && PARTIAL.has(a)) || (!inB && PARTIAL.has(b)) || ((!inA || !inB) && AFTER_LOAD.has(field))) continue;
    const va = inA ? a[field] : null;
    const vb = inB ? b[field] : null;
    if (JSON.stringify(normalize(va)) !== JSON.stringify(normalize(vb))) out.push({ field, a: va, b: vb });
  }
  return out;
}

/** "attribution_args {"n_steps":10} there, {"n_steps":20} here; ..." */
export function describeDifferences(diffs: readonly ConfigDifference[], there: string, here: string): string {
  return diffs.map((d) => `${d.field} ${JSON.stringify(d.a)} ${there}, ${JSON.stringify(d.b)} ${here}`).join("; ");
}

/** Throws ERR_INVALID_OPTION when a resumed output's configuration differs from this run's, listing every field. */
export function checkResumeConfig(file: string, previous: RunConfig, current: RunConfig): void {
  const diffs = diffRunConfigs(previous, current);
  if (diffs.length === 0) return;
  throw new InseqError(
    ErrorCode.INVALID_OPTION,
    `Cannot --resume ${file}: this run's configuration differs from its records' in ${diffs.map((d) => d.field).join(", ")} ` +
      `(${describeDifferences(diffs, "in the file", "in this run")}); use the same settings, or write another output`,
  );
}

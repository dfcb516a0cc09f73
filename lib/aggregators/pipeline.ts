/**
 * Aggregation pipelines (Inseq's `AggregableMixin.aggregate` + `AggregatorPipeline`): what
 * `FeatureAttributionSequenceOutput.aggregate(aggregator, options)` accepts and how it runs.
 *
 * `aggregator` is:
 * - `undefined`: the output's default aggregation (granular: `vnorm`; attention & co: `mean` per extra axis, last
 *   first; coarse: nothing), each followed by the `scores` normalisation;
 * - an aggregator id (`listAggregators()`), or an aggregation-function id (`listAggregationFunctions()`) as
 *   shorthand for `scores` with that function;
 * - a list of steps (a pipeline, run in order: `["spans", "scores"]` merges spans of the raw scores then reduces
 *   the last axis, `["scores", "spans"]` reduces and normalises first, then merges); a step is an id, an
 *   `[id, aggregateFn]` pair, or `{ aggregator, aggregateFn?, options? }` with options for that step only.
 *
 * `options.aggregateFn` is an aggregation-function id for a single aggregator, or a list aligned with the pipeline
 * (`null` entries: that step's defaults). The other options are shared by every step that reads them (as Inseq's
 * kwargs); an option no step reads throws ERR_UNKNOWN_OPTION (Inseq ignores it).
 */
import { ErrorCode, InseqError, checkKnownOptions, invalidOption } from "../core/errors.js";
import type { SequenceOutput } from "../results/types.js";
import { getAggregationFunction, listAggregationFunctions } from "./functions.js";
import { getAggregator, isAggregatorId, scoresAggregator, defaultScoresFunction, unknownAggregator, type AggregatorId } from "./registry.js";
import { postProcessScores, type AggregationFunctionId } from "./scores.js";
import type { AggregatorOptions, SequenceAggregator } from "./types.js";

/** An aggregation function id, built in or registered with registerAggregationFunction. */
export type AnyAggregationFunctionId = AggregationFunctionId | (string & {});

/** An aggregator id, or an aggregation function id as shorthand for `scores` with that function. */
export type AggregatorStepId = AggregatorId | AnyAggregationFunctionId;

/** One pipeline step. */
export type AggregatorStep =
  | AggregatorStepId
  | readonly [aggregator: AggregatorStepId, aggregateFn?: AnyAggregationFunctionId | null]
  | { readonly aggregator: AggregatorStepId; readonly aggregateFn?: AnyAggregationFunctionId | null; readonly options?: AggregatorOptions };

/** What `aggregate()` accepts as its first argument (see the module comment). */
export type AggregatorInput = AggregatorStep | readonly AggregatorStep[];

export interface AggregateOptions extends AggregatorOptions {
  /** Aggregation function id, or (for a pipeline) a list aligned with the steps; null entries use the defaults. */
  aggregateFn?: AnyAggregationFunctionId | null | ReadonlyArray<AnyAggregationFunctionId | null>;
  /**
   * Inseq's end-of-aggregation check: a pipeline containing `scores` must leave 2-D `[attributed, generated]`
   * attributions (what the renderers need). Default true; false for intermediate results (e.g. one `mean` over
   * the heads of an attention output).
   */
  doPostAggregationChecks?: boolean;
}

const GENERAL_OPTIONS = ["aggregateFn", "doPostAggregationChecks"] as const;

interface ResolvedStep {
  aggregator: SequenceAggregator;
  fn: string | null;
  /** Step-only options (object steps), merged over the shared ones. */
  options: AggregatorOptions | null;
}

/** The default's normalisation-only step (granular outputs whose hidden axis was already reduced on the device). */
const normalizeOnly: SequenceAggregator = Object.freeze({
  id: "normalize",
  family: "scores",
  options: ["normalize", "rescale"],
  takesAggregateFn: false,
  requires2D: true,
  aggregate(seq: SequenceOutput, _fn: string | null, options: AggregatorOptions) {
    const post = postProcessScores(seq.sourceAttributions, seq.targetAttributions, options);
    return seq.with({ sourceAttributions: post.source, targetAttributions: post.target, extraDimNames: seq.extraDimNames });
  },
});

/** The steps of the default aggregation of `seq` (see `defaultAggregate`). */
export function defaultSteps(seq: SequenceOutput): ResolvedStep[] {
  if (seq.kind === "coarse") return [];
  const n = seq.numExtraDims;
  if (seq.kind === "granular" && n === 0) return [{ aggregator: normalizeOnly, fn: null, options: null }];
  const fn = defaultScoresFunction(seq);
  return Array.from({ length: n }, () => ({ aggregator: scoresAggregator, fn, options: null }));
}

function checkFn(fn: unknown, where: string): string | null {
  if (fn === undefined || fn === null) return null;
  if (typeof fn !== "string") {
    throw invalidOption(where, `an aggregation function id (${listAggregationFunctions().join(", ")}) or null`, fn);
  }
  getAggregationFunction(fn);
  return fn;
}

function resolveStep(step: unknown, alignedFn: string | null, where: string): ResolvedStep {
  let id: unknown;
  let fn: string | null = null;
  let stepOptions: AggregatorOptions | null = null;
  let ownFn = false;
  if (typeof step === "string") id = step;
  else if (Array.isArray(step) && (step.length === 1 || step.length === 2) && typeof step[0] === "string") {
    id = step[0];
    fn = checkFn(step[1], `${where}[1]`);
    ownFn = step.length === 2;
  } else if (step !== null && typeof step === "object" && !Array.isArray(step) && typeof (step as { aggregator?: unknown }).aggregator === "string") {
    const s = step as { aggregator: string; aggregateFn?: unknown; options?: unknown };
    checkKnownOptions(where, s, ["aggregator", "aggregateFn", "options"]);
    id = s.aggregator;
    fn = checkFn(s.aggregateFn, `${where}.aggregateFn`);
    ownFn = s.aggregateFn !== undefined;
    if (s.options !== undefined) {
      if (s.options === null || typeof s.options !== "object" || Array.isArray(s.options)) {
        throw invalidOption(`${where}.options`, "an options object", s.options);
      }
      stepOptions = s.options as AggregatorOptions;
    }
  } else {
    throw invalidOption(where, "an aggregator id, an [aggregator, aggregateFn] pair or { aggregator, aggregateFn?, options? }", step);
  }
  if (ownFn && alignedFn !== null) {
    throw invalidOption(where, "its aggregation function either in the step or in options.aggregateFn, not both", step);
  }
  if (!ownFn) fn = alignedFn;
  const name = id as string;
  let aggregator: SequenceAggregator;
  if (isAggregatorId(name)) aggregator = getAggregator(name);
  else if (listAggregationFunctions().includes(name)) {
    if (fn !== null) {
      throw invalidOption(
        "aggregateFn",
        `no aggregation function when the aggregator is itself an aggregation function id (${JSON.stringify(name)})`,
        fn,
      );
    }
    aggregator = scoresAggregator;
    fn = name;
  } else throw unknownAggregator(name);
  if (fn !== null && !aggregator.takesAggregateFn) {
    throw invalidOption("aggregateFn", `no aggregation function for the ${aggregator.id} aggregator`, fn);
  }
  if (stepOptions) checkKnownOptions(`the ${aggregator.id} aggregator`, stepOptions, aggregator.options);
  return { aggregator, fn, options: stepOptions };
}

/** Resolves `aggregator` + `options.aggregateFn` into steps (throws before anything runs). */
export function resolvePipeline(
  seq: SequenceOutput,
  aggregator: AggregatorInput | undefined,
  aggregateFn: AggregateOptions["aggregateFn"],
): ResolvedStep[] {
  if (aggregator === undefined || aggregator === null) {
    if (aggregateFn !== undefined && aggregateFn !== null) {
      throw invalidOption("aggregateFn", "no aggregation function without an aggregator (the default aggregation picks its own)", aggregateFn);
    }
    return defaultSteps(seq);
  }
  // A top-level array is always a pipeline (as in Inseq): ["spans", "sum"] is spans then scores with sum.
  if (!Array.isArray(aggregator)) {
    if (Array.isArray(aggregateFn)) {
      throw invalidOption("aggregateFn", "a single aggregation function id for a single aggregator", aggregateFn);
    }
    return [resolveStep(aggregator, checkFn(aggregateFn, "aggregateFn"), "aggregator")];
  }
  const steps = aggregator as readonly unknown[];
  let fns: Array<string | null>;
  if (aggregateFn === undefined || aggregateFn === null) fns = steps.map(() => null);
  else if (Array.isArray(aggregateFn)) {
    if (aggregateFn.length !== steps.length) {
      throw invalidOption("aggregateFn", `a list of ${steps.length} entries (one per pipeline step)`, aggregateFn);
    }
    fns = aggregateFn.map((f, i) => checkFn(f, `aggregateFn[${i}]`));
  } else {
    throw invalidOption("aggregateFn", `a list of ${steps.length} entries aligned with the pipeline`, aggregateFn);
  }
  return steps.map((s, i) => resolveStep(s, fns[i]!, `aggregator[${i}]`));
}

function check2D(seq: SequenceOutput): void {
  for (const key of ["sourceAttributions", "targetAttributions"] as const) {
    const t = seq[key];
    if (t && t.shape.length !== 2) {
      throw new InseqError(
        ErrorCode.INVALID_OPTION,
        `Expected 2-D [attributed, generated] ${key} at the end of the aggregation but received shape [${t.shape.join(", ")}]; ` +
          "add aggregation steps (e.g. one scores step per extra axis) or pass doPostAggregationChecks: false for intermediate results",
      );
    }
  }
}

/** Runs an aggregation (see the module comment). Returns a new output; `seq` is not modified. */
export function aggregateSequence(
  seq: SequenceOutput,
  aggregator?: AggregatorInput,
  options: AggregateOptions = {},
): SequenceOutput {
  if (options === null || typeof options !== "object" || Array.isArray(options)) throw invalidOption("aggregate options", "an object", options);
  const steps = resolvePipeline(seq, aggregator, options.aggregateFn);
  const valid = new Set<string>(GENERAL_OPTIONS);
  for (const s of steps) for (const o of s.aggregator.options) valid.add(o);
  const where = steps.length ? `aggregator ${steps.map((s) => s.aggregator.id).join(" → ")}` : "an aggregation with no steps";
  checkKnownOptions(where, options, [...valid]);
  if (options.doPostAggregationChecks !== undefined && typeof options.doPostAggregationChecks !== "boolean") {
    throw invalidOption("doPostAggregationChecks", "a boolean", options.doPostAggregationChecks);
  }
  const { aggregateFn: _fn, doPostAggregationChecks, ...shared } = options;
  const out = runSteps(seq, steps, shared);
  if ((doPostAggregationChecks ?? true) && steps.some((s) => s.aggregator.requires2D)) check2D(out);
  return out;
}

/** Runs the steps in order, each with its own options over the shared ones. */
function runSteps(seq: SequenceOutput, steps: readonly ResolvedStep[], shared: AggregatorOptions): SequenceOutput {
  let out = seq;
  for (const step of steps) {
    out = step.aggregator.aggregate(out, step.fn, step.options ? { ...shared, ...step.options } : shared);
  }
  return out;
}

/**
 * Inseq's default aggregation for the output's kind (`defaultSteps`), down to 2-D `[attributed, generated]`
 * attributions: granular → `vnorm` (L2 over the last axis) + normalisation; multidimensional (e.g. attention
 * `[layer, head]`) and base → `mean` + normalisation per extra axis, last first (heads, then layers); coarse →
 * unchanged. Granular outputs whose hidden axis was already reduced on the device get the normalisation only.
 */
export function defaultAggregate(seq: SequenceOutput): SequenceOutput {
  return runSteps(seq, defaultSteps(seq), {});
}

/**
 * Inseq's `--attribution-aggregators` / `--attribution-selectors` / `--normalize-attributions` /
 * `--rescale-attributions` (`aggregate_attribution_scores` in `inseq/commands/attribute/attribute.py`): the
 * aggregation applied to an output before it is saved (the printed heatmap and --viz-path are not affected).
 */
import { Option } from "commander";

import { ErrorCode, InseqError } from "../core/errors.js";
import { listAggregationFunctions, listAggregators } from "../aggregators/registry.js";
import { METHODS } from "../attribution/registry.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import { intOption } from "./parse.js";

export interface SaveAggregation {
  aggregators: string[];
  selectors?: number[];
  normalize: boolean;
  rescale: boolean;
}

const collectInts = (value: string, previous: number[] | undefined): number[] => [...(previous ?? []), intOption(value)];

export function saveAggregationOptions(): Option[] {
  return [
    new Option("--attribution-aggregators <ids...>", "aggregate before saving: aggregators or aggregation functions, in order (e.g. mean vnorm)")
      .choices([...listAggregators(), ...listAggregationFunctions()]),
    new Option("--attribution-selectors <n...>", "with --attribution-aggregators: one select_idx per aggregator (index of the last axis kept)").argParser(collectInts),
    new Option("--normalize-attributions", "with --attribution-aggregators: L1-normalise each generated-token column before saving").default(false),
    new Option("--rescale-attributions", "with --attribution-aggregators: divide by the max |score| before saving (range [-1, 1])").default(false),
  ];
}

/**
 * Checks the options (before the model loads): selectors need one per aggregator, normalize and rescale exclude
 * each other. Returns undefined without aggregators (Inseq then saves the output as attributed); normalize /
 * rescale alone have no effect there either, so they are refused rather than silently ignored.
 */
export function saveAggregation(opts: {
  attributionAggregators?: string[];
  attributionSelectors?: number[];
  normalizeAttributions?: boolean;
  rescaleAttributions?: boolean;
}): SaveAggregation | undefined {
  const aggregators = opts.attributionAggregators;
  const selectors = opts.attributionSelectors;
  const normalize = opts.normalizeAttributions === true;
  const rescale = opts.rescaleAttributions === true;
  if (normalize && rescale) {
    throw new InseqError(ErrorCode.INVALID_OPTION, "Expected at most one of --normalize-attributions and --rescale-attributions but received both");
  }
  if (!aggregators) {
    const stray = [selectors && "--attribution-selectors", normalize && "--normalize-attributions", rescale && "--rescale-attributions"].filter(Boolean);
    if (stray.length > 0) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `Expected --attribution-aggregators with ${stray.join(", ")} (they apply to that aggregation) but received none`);
    }
    return undefined;
  }
  if (selectors && selectors.length !== aggregators.length) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected one --attribution-selectors value per aggregator (${aggregators.length}: ${aggregators.join(" ")}) but received ${selectors.length} (${selectors.join(" ")})`,
    );
  }
  return { aggregators, ...(selectors ? { selectors } : {}), normalize, rescale };
}

/**
 * Gradient methods reduce the hidden axis on the device unless `granular: true`; Inseq's aggregators run on the
 * granular output, so `granular` is set for them when aggregators are given (unless --attribution-kwargs sets it).
 */
export function granularFor(agg: SaveAggregation | undefined, method: string, kwargs: { granular?: unknown }): { granular?: boolean } {
  return agg && kwargs.granular === undefined && METHODS.find((m) => m.id === method)?.kind === "granular" ? { granular: true } : {};
}

const takesScoreOptions = (id: string) => id === "scores" || listAggregationFunctions().includes(id);

/**
 * Inseq's `aggregate_attribution_scores`: with selectors, one `aggregate(aggregator, { normalize, rescale,
 * selectIdx })` per aggregator without the end-of-pipeline 2-D check; else one `aggregate(aggregators, {
 * normalize, rescale })`. `normalize`, `rescale` and `selectIdx` go to the steps that take them (Inseq's other
 * aggregators ignore them).
 */
export function applySaveAggregation(out: FeatureAttributionOutput, agg: SaveAggregation | undefined): FeatureAttributionOutput {
  if (!agg) return out;
  const scoreOptions = { normalize: agg.normalize, rescale: agg.rescale };
  if (agg.selectors) {
    let o = out;
    agg.aggregators.forEach((id, i) => {
      const options = takesScoreOptions(id) ? { ...scoreOptions, selectIdx: agg.selectors![i]! } : {};
      o = o.aggregate(id, { ...options, doPostAggregationChecks: false });
    });
    return o;
  }
  return out.aggregate(agg.aggregators, agg.aggregators.some(takesScoreOptions) ? scoreOptions : {});
}

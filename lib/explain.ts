/**
 * `explain(id)` (Inseq's `explain`, which prints): the documentation of any id the library takes — attribution
 * methods, step functions, aggregators and aggregation functions. Above both registries, so neither imports the other.
 */
import { explainAttributionId, listFeatureAttributionMethods, listStepFunctions } from "./attribution/registry.js";
import { AGGREGATION_FUNCTION_DESCRIPTIONS, AGGREGATOR_DESCRIPTIONS, explainAggregationId } from "./aggregators/descriptions.js";
import { ErrorCode, InseqError } from "./core/errors.js";

export function explain(id: string): string {
  const text = explainAttributionId(id) ?? explainAggregationId(id);
  if (text !== undefined) return text;
  throw new InseqError(
    ErrorCode.INVALID_OPTION,
    `Unknown id ${JSON.stringify(id)}; methods: ${listFeatureAttributionMethods().join(", ")}; step functions: ${listStepFunctions().join(", ")}; ` +
      `aggregators: ${Object.keys(AGGREGATOR_DESCRIPTIONS).join(", ")}; aggregation functions: ${Object.keys(AGGREGATION_FUNCTION_DESCRIPTIONS).join(", ")}`,
  );
}

// The id unions of the public types come from the registries' `as const` tables; the tables and the
// registries agree.
import { describe, expect, it } from "vitest";

import { getAggregator, listAggregators } from "../../lib/aggregators/registry.js";
import { listAggregationFunctions } from "../../lib/aggregators/functions.js";
import { getMethod, listFeatureAttributionMethods, listStepFunctions, resolveStepFunction, type MethodId, type StepFunctionId } from "../../lib/attribution/registry.js";
import type { AggregatorId, AggregationFunctionId } from "../../lib/index.js";

describe("registry id tables", () => {
  it("aggregators are registered under their own ids", () => {
    const ids: AggregatorId[] = ["scores", "spans", "subwords", "split", "pair", "slices"];
    expect(listAggregators()).toEqual(ids);
    for (const id of ids) expect(getAggregator(id).id).toBe(id);
  });

  it("the built-in aggregation functions, methods and step functions are the listed ones", () => {
    const fns: AggregationFunctionId[] = ["mean", "max", "min", "sum", "prod", "absmax", "vnorm"];
    expect(listAggregationFunctions().slice(0, fns.length)).toEqual(fns);
    const method: MethodId = "integrated_gradients";
    expect(listFeatureAttributionMethods()).toContain(method);
    expect(getMethod(method).id).toBe(method);
    const aliases: StepFunctionId[] = ["logits", "logprob"];
    for (const a of aliases) expect(listStepFunctions()).toContain(resolveStepFunction(a).def.id);
  });
});

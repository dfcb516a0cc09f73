// The native method table is the single source of the method and step-function lists: the generated TS
// module (scripts/gen-method-table.mjs) must equal what the built addon declares, and registry.ts must read it.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { getMethod, listFeatureAttributionMethods, listStepFunctions, METHODS, resolveStepFunction, STEP_ARG_NAMES } from "../../lib/attribution/registry.js";
import { CONTRAST_OPTIONS, METHOD_TABLE, STEP_ALIASES, STEP_ARGS, STEP_FUNCTION_TABLE } from "../../lib/attribution/method-table.generated.js";
import { native } from "../../lib/native/load.js";
import { repoRoot } from "../helpers.js";

describe("native method table", () => {
  it("the generated module equals the addon's methodTable()", async () => {
    const table = native().methodTable();
    expect(METHOD_TABLE).toEqual(table.methods);
    expect(STEP_FUNCTION_TABLE).toEqual(table.stepFunctions);
    expect(STEP_ARGS).toEqual(table.stepArgs);
    expect(STEP_ARG_NAMES).toEqual(table.stepArgs.map((a) => a.name));
    expect(STEP_ALIASES).toEqual(Object.fromEntries(table.stepAliases.map((a) => [a.alias, { id: a.id, args: a.args }])));
    expect(CONTRAST_OPTIONS).toEqual(table.contrastOptions);
    // byte for byte: the committed file is what the generator writes from this addon
    const { renderMethodTable } = (await import(path.join(repoRoot, "scripts/gen-method-table.mjs"))) as { renderMethodTable: (t: unknown) => string };
    expect(readFileSync(path.join(repoRoot, "lib/attribution/method-table.generated.ts"), "utf8")).toBe(renderMethodTable(table));
  });

  it("registry.ts reads the generated tables", () => {
    expect(METHODS).toBe(METHOD_TABLE);
    expect(listFeatureAttributionMethods()).toEqual(METHOD_TABLE.map((m) => m.id));
    expect(listStepFunctions().filter((id) => !id.startsWith("custom_"))).toEqual(STEP_FUNCTION_TABLE.map((s) => s.id));
    expect(getMethod("integrated_gradients").options).toContain("nSteps");
    expect(resolveStepFunction("logprob")).toMatchObject({ def: { id: "probability" }, impliedArgs: { logprob: true } });
  });

  it("the older listings agree with the table", () => {
    const table = native().methodTable();
    expect(native().listMethods().map(({ id, family, usesBaselines, kind, defaults }) => ({ id, family, usesBaselines, kind, defaults })))
      .toEqual(table.methods.map(({ id, family, usesBaselines, kind, defaults }) => ({ id, family, usesBaselines, kind, defaults })));
    const contrastive = Object.fromEntries(native().listStepFunctions().map((s) => [s.id, [s.contrastive, s.spanAggregate]]));
    for (const s of table.stepFunctions) expect(contrastive[s.id]).toEqual([s.contrastive, s.spanAggregate]);
  });
});

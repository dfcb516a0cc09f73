// Completeness of integrated gradients: the report on hand-computed numbers, f(x) - f(baseline) recovered from
// granular attributions and deltas, and attribute()'s INSEQ_COMPLETENESS warning (bundled default model).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { loadModel, type Model } from "../../lib/index.js";
import { COMPLETENESS_WARNING, withoutCompletenessWarning } from "../../lib/attribution/completeness-warning.js";
import { completenessInputs, completenessReport } from "../../lib/attribution/completeness.js";
import { testDevice, warningsOf } from "../helpers.js";

describe("completenessReport", () => {
  it("relative |delta| quantiles, share over the threshold and the warning, on hand-computed numbers", () => {
    // relative: 0.01/1, 0.02/0.5, 0.5/1, 0/2, (NaN skipped), 0.0001/max(0.00001, eps 1e-3) = 0.1
    const r = completenessReport([0.01, -0.02, 0.5, 0, NaN, 0.0001], [1, 0.5, 1, 2, 1, 0.00001]);
    // sorted: 0, 0.01, 0.04, 0.1, 0.5
    expect(r.threshold).toBe(0.05);
    expect(r.p50).toBe(0.04);
    expect(r.p90).toBeCloseTo(0.1 + 0.6 * 0.4, 12); // position 0.9 * 4 = 3.6
    expect(r.max).toBe(0.5);
    expect(r.overThreshold).toBe(0.4); // 0.1 and 0.5
    expect(r.warning).toContain("40.0 % of items (2 of 5)");
    expect(r.warning).toContain("above 0.05");
    expect(r.warning).toContain("more than 5.0 %");
    expect(r.warning).toContain("Raise nSteps");
  });

  it("warns only when more than 5 % are over; the threshold is a parameter", () => {
    const scales = new Array(20).fill(1);
    const deltas = new Array(20).fill(0.01);
    deltas[7] = -0.2; // 1 of 20 = 5 %: not more than 5 %
    const r = completenessReport(deltas, scales);
    expect(r.overThreshold).toBe(0.05);
    expect(r.warning).toBeUndefined();
    const strict = completenessReport(deltas, scales, 0.005);
    expect(strict.overThreshold).toBe(1);
    expect(strict.warning).toContain("above 0.005");
    expect(completenessReport([], []).overThreshold).toBe(0);
    expect(() => completenessReport([1], [])).toThrow(/one per delta/);
  });
});

describe("integrated gradients completeness on the default model", () => {
  let model: Model;
  const PROMPTS = ["the doctor , a woman from the hospital , said that", "the window beside the blue letters"];
  // The first target is saturated: p("she") is ~1 at the input and ~0 at the UNK baseline.
  const TARGETS = ["the doctor , a woman from the hospital , said that she", "the window beside the blue letters was small ."];
  const ig = (nSteps: number, granular = true) =>
    model.attribute(PROMPTS, { generatedTexts: TARGETS, method: "integrated_gradients", granular, methodArgs: { returnConvergenceDelta: true, nSteps } });

  beforeAll(async () => {
    model = await loadModel("default", { device: testDevice });
  });
  afterAll(() => model.dispose());
  afterEach(() => vi.restoreAllMocks());

  it("f(x) - f(baseline) does not depend on nSteps; the engine's own equals the granular sum minus delta", async () => {
    const coarse = completenessInputs((await warningsOf(() => ig(2))).result)!;
    const fine = completenessInputs(await ig(1000))!;
    expect(coarse.scales).toHaveLength(4); // 1 + 3 attributed steps
    for (let i = 0; i < 4; i++) expect(coarse.scales[i]).toBeCloseTo(fine.scales[i]!, 4);
    expect(fine.scales[0]).toBeGreaterThan(0.9); // saturated
    // Reduced outputs carry the engine's f(x) - f(baseline) (recorded by attribute()); the granular fallback of a
    // derived output (no recorded scales) computes the same from the sums.
    const reduced = completenessInputs((await warningsOf(() => ig(2, false))).result)!;
    for (let i = 0; i < 4; i++) expect(reduced.scales[i]).toBeCloseTo(coarse.scales[i]!, 4);
    const granular = (await warningsOf(() => ig(2))).result;
    const derived = completenessInputs(granular.aggregate("scores", { aggregateFn: "sum" } as never) as never);
    expect(derived).toBeNull(); // a derived, non-granular output has neither
  });

  it("nSteps 2 on a saturated target warns, naming the share and the threshold; nSteps 1000 does not", async () => {
    const coarse = await warningsOf(() => ig(2));
    expect(coarse.warnings).toHaveLength(1);
    const [message, code] = coarse.warnings[0]!;
    expect(code).toBe(COMPLETENESS_WARNING);
    expect(message).toMatch(/^integrated_gradients: \d+\.\d % of attributed steps \(\d+ of 4\)/);
    expect(message).toContain("above 0.05");
    expect(message).toContain("Raise nSteps (now 2)");
    const fine = await warningsOf(() => ig(1000));
    expect(fine.warnings).toEqual([]);
    const r = completenessReport(...Object.values(completenessInputs(fine.result)!) as [number[], number[]]);
    expect(r.max).toBeLessThan(0.05);
  });

  it("reduced (default) outputs warn too; integrated gradients checks without being asked; none inside withoutCompletenessWarning", async () => {
    const reduced = await warningsOf(() => ig(2, false));
    expect(reduced.warnings.map(([, code]) => code)).toEqual([COMPLETENESS_WARNING]);
    expect(reduced.result.sequenceAttributions[0]!.stepScores.deltas).toBeDefined();
    const quiet = await warningsOf(() => withoutCompletenessWarning(() => ig(2, false)));
    expect(quiet.warnings).toEqual([]);
    // Without returnConvergenceDelta, integrated gradients still checks (and drops the deltas from the output);
    // returnConvergenceDelta: false turns the check off.
    const plain = await warningsOf(() =>
      model.attribute(PROMPTS[0]!, { generatedTexts: TARGETS[0]!, method: "integrated_gradients", methodArgs: { nSteps: 2 } }),
    );
    expect(plain.warnings.map(([, code]) => code)).toEqual([COMPLETENESS_WARNING]);
    expect(Object.keys(plain.result.sequenceAttributions[0]!.stepScores)).toEqual([]);
    const off = await warningsOf(() =>
      model.attribute(PROMPTS[0]!, { generatedTexts: TARGETS[0]!, method: "integrated_gradients", methodArgs: { nSteps: 2, returnConvergenceDelta: false } }),
    );
    expect(off.warnings).toEqual([]);
    // DeepLIFT is checked only when its deltas are asked for.
    const deeplift = await warningsOf(() => model.attribute(PROMPTS[0]!, { generatedTexts: TARGETS[0]!, method: "deeplift" }));
    expect(deeplift.warnings).toEqual([]);
  });
});

// memoryBudget (bytes | "auto"; ERR_OUT_OF_MEMORY naming what one row needs, the model still usable after) and
// gradientCheckpointing (blocks recomputed in the backward pass: the same attributions). The activation bytes
// a checkpointed pass keeps are measured in native/tests/budget_tests.cc.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, type Model } from "../../lib/index.js";
import { nanAwareMaxDiff, stories260K, testDevice } from "../helpers.js";

const prompt = "Once upon a time, there was a";
const target = "Once upon a time, there was a little girl named Lily.";

describe("memoryBudget and gradient checkpointing (stories260K)", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(stories260K, { device: testDevice });
  });
  afterAll(() => model.dispose());

  const attr = async (method: string, extra: Record<string, unknown>) => {
    const out = await model.attribute(prompt, { generatedTexts: [target], method, methodArgs: method === "integrated_gradients" ? { nSteps: 8 } : {}, ...extra });
    return out.sequenceAttributions[0]!.targetAttributions!.data;
  };
  const scale = (a: ArrayLike<number>) => Math.max(...Array.from(a, (v) => (Number.isNaN(v) ? 0 : Math.abs(v))));

  for (const method of ["saliency", "integrated_gradients"]) {
    it(`${method}: checkpointing on equals off (1e-5 of the scale)`, async () => {
      const off = await attr(method, { gradientCheckpointing: false, granular: true });
      const on = await attr(method, { gradientCheckpointing: true, granular: true });
      expect(on.length).toBe(off.length);
      expect(nanAwareMaxDiff(on, off)).toBeLessThanOrEqual(1e-5 * scale(off));
    });
  }

  it("a budget smaller than one row rejects with ERR_OUT_OF_MEMORY naming the size; the next call works", async () => {
    const before = await attr("saliency", {});
    for (const method of ["saliency", "occlusion", "attention"]) {
      const err = await attr(method, { memoryBudget: 4096 }).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe("ERR_OUT_OF_MEMORY");
      expect(err?.message).toMatch(/^One row of \d+ tokens needs \d+ bytes \([\d.]+ MiB\) of activation memory .*more than the memoryBudget of 4096 bytes/);
    }
    expect(Array.from(await attr("saliency", {}))).toEqual(Array.from(before));
  });

  it("a budget between a checkpointed row and a whole row fits by recomputing blocks", async () => {
    const whole = await attr("integrated_gradients", { granular: true });
    const fitted = await attr("integrated_gradients", { granular: true, memoryBudget: 200_000 });
    expect(nanAwareMaxDiff(fitted, whole)).toBeLessThanOrEqual(1e-5 * scale(whole));
    const err = await attr("integrated_gradients", { granular: true, memoryBudget: 200_000, gradientCheckpointing: false }).catch((e: Error & { code?: string }) => e);
    expect((err as { code?: string }).code).toBe("ERR_OUT_OF_MEMORY");
  });

  it('"auto" runs, and memoryBudgetMb stays an alias', async () => {
    const base = await attr("saliency", {});
    expect(nanAwareMaxDiff(await attr("saliency", { memoryBudget: "auto" }), base)).toBeLessThanOrEqual(1e-6);
    expect(nanAwareMaxDiff(await attr("saliency", { memoryBudgetMb: 64 }), base)).toBeLessThanOrEqual(1e-6);
  });

  it("refuses a bad budget, both forms at once, and a bad checkpointing value", async () => {
    for (const bad of [{ memoryBudget: -1 }, { memoryBudget: 1.5 }, { memoryBudget: "lots" }, { memoryBudget: 1 << 20, memoryBudgetMb: 1 }, { gradientCheckpointing: "yes" }]) {
      await expect(attr("saliency", bad)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    }
    await expect(attr("occlusion", { gradientCheckpointing: true })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});

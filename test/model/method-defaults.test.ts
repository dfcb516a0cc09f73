// Each attribution method has its own defaults (issue 10, item 7): LIME's nSamples was GradientSHAP's 5,
// leaving LIME's ridge problem underdetermined, while the docs said 50. The docs table in docs/attribution.md,
// the native method table (listMethods().defaults) and what a call without the option computes must agree.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, type Model } from "../../lib/index.js";
import { native } from "../../lib/native/load.js";
import { referenceDir, repoRoot } from "../helpers.js";

/** method id -> { option: default } from the methods table of docs/attribution.md (`option` (value) in the notes). */
function documentedDefaults(): Map<string, Record<string, number>> {
  const lines = readFileSync(path.join(repoRoot, "docs/attribution.md"), "utf8").split("\n");
  const start = lines.findIndex((l) => /^\| id \| what \| notes \|/.test(l));
  expect(start).toBeGreaterThan(-1);
  const out = new Map<string, Record<string, number>>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const [, idCell, , notes] = line.split(/(?<!\\)\|/);
    const defaults: Record<string, number> = {};
    for (const m of notes!.matchAll(/`(\w+)` \((-?[\d.]+)\)/g)) defaults[m[1]!] = Number(m[2]);
    for (const m of idCell!.matchAll(/`(\w+)`/g)) out.set(m[1]!, defaults);
  }
  // The layer methods row documents only what differs: their options and defaults are the base method's.
  for (const [id, defaults] of out) {
    const base = id.startsWith("layer_") ? out.get(id.slice(6)) : undefined;
    if (base) out.set(id, { ...base, ...defaults });
  }
  return out;
}

describe("method defaults", () => {
  it("the docs table lists exactly the native defaults of every method", () => {
    const docs = documentedDefaults();
    const methods = native().listMethods();
    expect([...docs.keys()].sort()).toEqual(methods.map((m) => m.id).sort());
    for (const m of methods) expect({ id: m.id, defaults: docs.get(m.id) }).toEqual({ id: m.id, defaults: m.defaults });
    const byId = Object.fromEntries(methods.map((m) => [m.id, m.defaults]));
    expect(byId.lime).toEqual({ nSamples: 50, maskProb: 0.3 });
    expect(byId.gradient_shap).toEqual({ nSamples: 5, stdevs: 0 });
    expect(byId.integrated_gradients).toEqual({ nSteps: 50 });
  });

  describe("calls without the option use the method's own default", () => {
    let model: Model;
    const prompt = "He was";
    const target = "He was in the park with her and the dog";
    beforeAll(async () => {
      model = await loadModel(referenceDir("llama"), { device: "cpu" });
    });
    afterAll(() => model.dispose());

    const scores = async (method: string, methodArgs: Record<string, unknown>) =>
      (await model.attribute([prompt], { generatedTexts: [target], method, methodArgs })).sequenceAttributions[0]!.targetAttributions!.data;

    it("lime: 50 samples (and never-masked tokens are not all exactly 0)", async () => {
      const byDefault = await scores("lime", { seed: 3 });
      expect(byDefault).toEqual(await scores("lime", { seed: 3, nSamples: 50 }));
      expect(byDefault).not.toEqual(await scores("lime", { seed: 3, nSamples: 5 }));
    });

    it("gradient_shap: 5 samples", async () => {
      expect(await scores("gradient_shap", { seed: 3 })).toEqual(await scores("gradient_shap", { seed: 3, nSamples: 5 }));
    });

    it("integrated_gradients: 50 steps", async () => {
      expect(await scores("integrated_gradients", {})).toEqual(await scores("integrated_gradients", { nSteps: 50 }));
    });
  });
});

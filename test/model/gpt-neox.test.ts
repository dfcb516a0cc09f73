// GPT-NeoX (Pythia) through the public API, beyond the transformers goldens of reference.test.ts: its block and
// embedding names for layer methods, every attribution method on both residual layouts, and the randomisation
// cascade over its checkpoint names.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { listFeatureAttributionMethods, loadModel, type Model } from "../../lib/index.js";
import { readCheckpointTensors } from "../../lib/evaluation/checkpoint-tensors.js";
import { cascadeBlocks, writeCascadingRandomizations } from "../../lib/evaluation/randomize.js";
import { referenceDir, tempDir, testDevice } from "../helpers.js";

const PROMPT = "Ben and the cat";
const TARGET = "Ben and the cat sat on";

describe.each(["gpt_neox", "gpt_neox-sequential"])("GPT-NeoX checkpoint %s", (name) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(referenceDir(name), { device: testDevice });
  });
  afterAll(() => model.dispose());

  it("layer methods take its block names (gpt_neox.layers.N) and embedding name (gpt_neox.embed_in)", async () => {
    const run = async (layer: unknown) =>
      (await model.attribute(PROMPT, { generatedTexts: TARGET, method: "layer_gradient_x_activation", granular: true, methodArgs: { layer } }))
        .sequenceAttributions[0]!.targetAttributions!.data;
    expect(await run("gpt_neox.layers.1")).toEqual(await run(1));
    expect(await run("gpt_neox.embed_in")).toEqual(await run("embeddings"));
    expect(await run("gpt_neox.layers.0")).not.toEqual(await run(1));
  });

  it("every attribution method runs: finite scores exactly at the causal cells, not all zero", async () => {
    const digCache = tempDir("neox-dig-knn");
    for (const method of listFeatureAttributionMethods().filter((m) => m !== "dummy")) {
      const out = await model.attribute(PROMPT, {
        generatedTexts: TARGET, method,
        // Few integration steps; ReAGent bounded to 50 rounds of 4 probes (a random model rarely converges).
        methodArgs: method.includes("integrated") ? { nSteps: 4, ...(method.startsWith("discretized") ? { cacheDir: digCache } : {}) }
          : method === "reagent" ? { maxProbeSteps: 50, numProbes: 4 } : undefined,
      });
      const s = out.sequenceAttributions[0]!;
      const t = s.targetAttributions!;
      const steps = s.attrPosEnd - s.attrPosStart;
      expect(t.shape.slice(0, 2), method).toEqual([s.attrPosEnd, steps]);
      const inner = t.data.length / (t.shape[0]! * steps);
      for (let r = 0; r < t.shape[0]!; r++)
        for (let j = 0; j < steps; j++)
          for (let k = 0; k < inner; k++) {
            const x = t.data[(r * steps + j) * inner + k]!;
            expect(Number.isNaN(x) ? "nan" : Number.isFinite(x) ? "finite" : "inf", `${method} [${r}, ${j}, ${k}]`).toBe(r < s.attrPosStart + j ? "finite" : "nan");
          }
      expect([...t.data].some((x) => !Number.isNaN(x) && x !== 0), method).toBe(true);
    }
  });
});

describe("randomisation cascade over a GPT-NeoX checkpoint", () => {
  it("finds its blocks top first and every step loads and runs", async () => {
    const { tensors } = await readCheckpointTensors(referenceDir("gpt_neox"));
    expect(cascadeBlocks(tensors.map((t) => t.name))).toEqual(["layers.1", "layers.0"]);
    const steps = await writeCascadingRandomizations(referenceDir("gpt_neox"), { outDir: tempDir("neox-cascade") });
    expect(steps.map((s) => s.randomized)).toEqual(["top 1", "all blocks", "all + embeddings"]);
    const original = await loadModel(referenceDir("gpt_neox"), { device: testDevice });
    const want = (await original.forward([[34, 292, 280]])).logits.data;
    await original.dispose();
    for (const step of steps) {
      const m = await loadModel(step.dir, { device: testDevice });
      const got = (await m.forward([[34, 292, 280]])).logits.data;
      expect(got.every(Number.isFinite)).toBe(true);
      expect(got).not.toEqual(want);
      await m.dispose();
    }
  });
});

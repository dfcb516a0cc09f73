// Tiny random checkpoints written by transformers' save_pretrained (scripts/reference/make_checkpoints.py):
// the native families must give transformers' logits (1e-4), greedy tokens, and batched == single.
import path from "node:path";
import { describe, expect, it } from "vitest";

import { loadModel } from "../../lib/index.js";
import { maxAbsDiff, readJson, referenceDir, testDevice } from "../helpers.js";

interface Golden {
  model_type: string;
  prompts: Array<{ text: string; ids: number[] }>;
  logits: number[][][];
  greedy: number[][];
  greedy_batched: number[][];
  attentions_layer0_prompt2: number[][][];
  hidden_states_last_prompt2: number[][];
}

const MODELS = [
  "gpt2", "llama", "qwen2", "mistral", "llama-sharded", "llama-bf16", "gpt2-f16",
  "gemma", "gemma2", "gemma2-nocap", "gemma3", "gemma3-hd12",
  "qwen3", "qwen3-bias", "olmo2", "phi3", "phi3-longrope",
  "gpt_neox", "gpt_neox-sequential",
];

describe.each(MODELS)("transformers reference checkpoint %s", (name) => {
  const dir = referenceDir(name);
  const golden = readJson<Golden>(path.join(dir, "golden.json"));

  it("tokenizes, runs the forward pass and generates like transformers", async () => {
    const model = await loadModel(dir, { device: testDevice });
    try {
      expect(model.info.modelType).toBe(golden.model_type);
      const encoded = await model.encode(golden.prompts.map((p) => p.text));
      expect(encoded.map((e) => e.ids)).toEqual(golden.prompts.map((p) => p.ids));

      for (let p = 0; p < golden.prompts.length; p++) {
        const { logits } = await model.forward([golden.prompts[p]!.ids]);
        const vocab = logits.shape[2]!;
        golden.logits[p]!.forEach((row, pos) => {
          expect(maxAbsDiff(logits.data.subarray(pos * vocab, (pos + 1) * vocab), row)).toBeLessThanOrEqual(1e-4);
        });
        const single = await model.generate(golden.prompts[p]!.text, { maxNewTokens: golden.greedy[p]!.length, returnIds: true });
        expect(single.sequences[0]!.generatedIds).toEqual(golden.greedy[p]);
      }
      const batched = await model.generate(golden.prompts.map((p) => p.text), { maxNewTokens: golden.greedy_batched[0]!.length, returnIds: true });
      expect(batched.sequences.map((s) => s.generatedIds)).toEqual(golden.greedy_batched);

      const internals = await model.forward([golden.prompts[2]!.ids], { outputAttentions: true, outputHiddenStates: true });
      expect(internals.attentions.length).toBe(model.info.numLayers);
      expect(internals.hiddenStates.length).toBe(model.info.numLayers + 1);
      expect(internals.attentions[0]!.dims).toEqual(["batch", "head", "query", "key"]);
      expect(maxAbsDiff(internals.attentions[0]!.data, golden.attentions_layer0_prompt2.flat(2))).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(internals.hiddenStates.at(-1)!.data, golden.hidden_states_last_prompt2.flat())).toBeLessThanOrEqual(1e-4);
    } finally {
      await model.dispose();
    }
  });
});

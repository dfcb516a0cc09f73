// Acceptance: the real trained stories260K Llama (llama2.c weights in Hugging Face format) through the
// public API: tokenizer, greedy generation ids, top-5 next-token logits.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";

import { loadModel, type Model } from "../../lib/index.js";
import { readJson, sharedFixtures, stories260K, testDevice } from "../helpers.js";

interface Case {
  prompt: string;
  prompt_token_ids: number[];
  greedy_steps: number;
  token_ids: number[];
  text: string;
  next_token_logits_top5: Array<[number, number]>;
}
const expected = readJson<{ cases: Case[] }>(path.join(sharedFixtures, "stories260K/expected.json"));

describe("hf-stories260K", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(stories260K, { device: testDevice });
  });
  afterAll(() => model.dispose());

  it("reports the architecture", () => {
    expect(model.info).toMatchObject({ modelType: "llama", numLayers: 5, numHeads: 8, numKvHeads: 4, vocabSize: 512, numParameters: 260032, device: testDevice === "cuda" ? "cuda:0" : testDevice, dtype: "float32" });  // the device index is made explicit
  });

  for (const c of expected.cases) {
    it(`greedy generation reproduces llama2.c for ${JSON.stringify(c.prompt)}`, async () => {
      const out = await model.generate(c.prompt, { maxNewTokens: c.greedy_steps, returnIds: true });
      expect(out.sequences[0]!.promptIds).toEqual(c.prompt_token_ids);
      expect(out.sequences[0]!.ids).toEqual(c.token_ids);
      expect(out.texts[0]).toBe(c.text);
    });

    it(`top-5 next-token logits match within 1e-4 for ${JSON.stringify(c.prompt)}`, async () => {
      const { logits } = await model.forward([c.prompt_token_ids]);
      const [, seq, vocab] = logits.shape as [number, number, number];
      const last = logits.data.subarray((seq - 1) * vocab, seq * vocab);
      const top = [...last.keys()].sort((a, b) => last[b]! - last[a]!).slice(0, 5);
      expect(top).toEqual(c.next_token_logits_top5.map(([id]) => id));
      for (const [id, value] of c.next_token_logits_top5) expect(Math.abs(last[id]! - value)).toBeLessThanOrEqual(1e-4);
    });
  }

  it("batched generation of prompts of different lengths equals one-by-one, token for token", async () => {
    const prompts = ["Once upon a time", "Lily", "The dog was very happy because", ""];
    const batched = await model.generate(prompts, { maxNewTokens: 40, returnIds: true });
    for (let i = 0; i < prompts.length; i++) {
      const single = await model.generate(prompts[i]!, { maxNewTokens: 40, returnIds: true });
      expect(batched.sequences[i]!.ids).toEqual(single.sequences[0]!.ids);
    }
  });

  it("sampling is reproducible with a seed and top-k 1 equals greedy", async () => {
    const opts = { maxNewTokens: 30, doSample: true, temperature: 0.9, topP: 0.95, seed: 11 } as const;
    const a = await model.generate(["Once upon a time", "Ben"], opts);
    const b = await model.generate(["Once upon a time", "Ben"], opts);
    expect(a).toEqual(b);
    const c = await model.generate(["Once upon a time", "Ben"], { ...opts, seed: 12 });
    expect(c).not.toEqual(a);
    const k1 = await model.generate(["Once upon a time", "Ben"], { ...opts, topK: 1 });
    expect(k1).toEqual(await model.generate(["Once upon a time", "Ben"], { maxNewTokens: 30 }));
  });

  it("keeps the event loop free while a long generation runs", async () => {
    let ticks = 0;
    let maxGap = 0;
    let last = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const started = Date.now();
    await model.generate(Array(8).fill("Once upon a time"), { maxNewTokens: 200, doSample: true, seed: 3 });
    const elapsed = Date.now() - started;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(elapsed / 50);
    expect(maxGap).toBeLessThan(200);
  });

  it("aborts through an AbortSignal with ERR_ABORTED", async () => {
    const ac = new AbortController();
    let steps = 0;
    // 16 high-temperature samples: generation cannot end early through EOS in all of them before step 5.
    const p = model.generate(Array(16).fill("Once upon a time"), {
      maxNewTokens: 500, doSample: true, temperature: 1.5, seed: 1, onProgress: (done) => { steps = done; if (done === 5) ac.abort(); }, signal: ac.signal,
    });  // prompt + 500 fits the 512 positions (more is refused)
    await expect(p).rejects.toMatchObject({ code: "ERR_ABORTED" });
    expect(steps).toBeLessThan(500);
    // the model still works afterwards
    expect((await model.generate("Lily", { maxNewTokens: 3 }))[0]!.startsWith("Lily")).toBe(true);
  });
});

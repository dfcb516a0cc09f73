// Inputs beyond the model's context (config max_position_embeddings / n_positions) are refused up front with
// ERR_INVALID_OPTION (issue 10, item 3): RoPE models used to keep going and produce garbage, GPT-2 failed in
// the middle of a generation.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { referenceDir, rejection, repoRoot } from "../helpers.js";

describe.each(["llama", "qwen2", "gpt2", "gpt_neox"])("decoder-only %s (128 positions)", (name) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(referenceDir(name), { device: "cpu" });
  });
  afterAll(() => model.dispose());

  it("generate: prompt + maxNewTokens beyond the context is refused before generating", async () => {
    expect(model.info.maxPositionEmbeddings).toBe(128);
    const [enc] = await model.encode("He was");
    const e = await rejection(model.generate("He was", { maxNewTokens: 128 }));
    expect(e.code).toBe("ERR_INVALID_OPTION");
    const key = name === "gpt2" ? "n_positions" : "max_position_embeddings";
    expect(e.message).toBe(`A prompt of ${enc!.ids.length} tokens + maxNewTokens 128 needs ${enc!.ids.length + 128} positions but the model's context is 128 (${key})`);
  });

  it("generate: up to the context is fine", async () => {
    const [enc] = await model.encode("He was");
    const out = await model.generate("He was", { maxNewTokens: 128 - enc!.ids.length, returnIds: true });
    expect(out.sequences[0]!.ids.length).toBeLessThanOrEqual(128);
  });

  it("forward: more ids than positions are refused", async () => {
    const e = await rejection(model.forward([new Array(129).fill(1)]));
    expect(e.code).toBe("ERR_INVALID_OPTION");
    expect(e.message).toMatch(/needs 129 positions but the model's context is 128/);
    expect((await model.forward([new Array(128).fill(1)])).logits.shape).toEqual([1, 128, model.info.vocabSize]);
  });

  it("attribute: a forced target beyond the context is refused, naming the sequence", async () => {
    const long = "He was in the park with her. ".repeat(40);
    const e = await rejection(model.attribute(["He was"], { generatedTexts: [`He was ${long}`], method: "saliency" }));
    expect(e.code).toBe("ERR_INVALID_OPTION");
    expect(e.message).toMatch(/^Sequence 0 \(prompt \+ target, \d+ tokens\) needs \d+ positions but the model's context is 128/);
  });
});

describe("encoder-decoder (64 positions)", () => {
  let model: Seq2SeqModel;
  beforeAll(async () => {
    model = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq/marian"), { device: "cpu" });
  });
  afterAll(() => model.dispose());

  it("generate: maxNewTokens beyond the decoder's positions names maxNewTokens", async () => {
    const e = await rejection(model.generate("hello", { maxNewTokens: 64 }));
    expect(e.code).toBe("ERR_INVALID_OPTION");
    expect(e.message).toBe("The decoder start token + a target prefix of 0 tokens + maxNewTokens 64 needs 65 positions but the model's context is 64 (max_position_embeddings)");
  });
});

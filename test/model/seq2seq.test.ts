// Encoder-decoders through the public API: tiny marian / bart / mbart / m2m_100 / t5 / t5-v1_1 checkpoints saved by
// transformers (scripts/reference/make_seq2seq_checkpoints.py) generate transformers' greedy tokens, one by
// one and batched; loadModel() loads them as Seq2SeqModel.
import path from "node:path";
import { describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, Seq2SeqModel } from "../../lib/index.js";
import { expectCode, readJson, repoRoot, testDevice } from "../helpers.js";

interface Golden {
  model_type: string;
  sources: number[][];
  greedy: number[][];
  greedy_batched: number[][];
}

describe.each(["marian", "bart", "mbart", "m2m_100", "t5", "t5-v1_1"])("encoder-decoder %s", (name) => {
  const dir = path.join(repoRoot, "test/fixtures/reference-seq2seq", name);
  const golden = readJson<Golden>(path.join(dir, "golden.json"));

  it("tokenizes and generates transformers' greedy tokens, single and batched", async () => {
    const model = await loadSeq2SeqModel(dir, { device: testDevice });
    try {
      expect(model.info).toMatchObject({ modelType: golden.model_type, isEncoderDecoder: true, numLayers: 2, numEncoderLayers: 2 });
      const texts = await model.tokenizer.decodeBatch(golden.sources, { skipSpecialTokens: true });
      const encoded = await model.tokenizer.encodeBatch(texts);
      expect(encoded.map((e) => e.ids)).toEqual(golden.sources);
      // transformers ran with eos_token_id=None; generate() stops at the first EOS (t5 emits it)
      const eos = model.info.eosTokenIds[0]!;
      const upToEos = (ids: number[]) => (ids.includes(eos) ? ids.slice(0, ids.indexOf(eos) + 1) : ids);
      for (let i = 0; i < texts.length; i++) {
        const out = await model.generate(texts[i]!, { maxNewTokens: golden.greedy[i]!.length, returnIds: true });
        expect(out.sequences[0]!.ids).toEqual(upToEos(golden.greedy[i]!));
      }
      const batched = await model.generate(texts, { maxNewTokens: golden.greedy_batched[0]!.length, returnIds: true });
      expect(batched.sequences.map((s) => s.ids)).toEqual(golden.greedy_batched.map(upToEos));
      expect(batched.texts.length).toBe(3);
    } finally {
      await model.dispose();
    }
  });
});

describe("encoder-decoder loading", () => {
  it("loadModel() loads encoder-decoders too (kind checked when given); bad options are rejected", async () => {
    const dir = path.join(repoRoot, "test/fixtures/reference-seq2seq/bart");
    const any = await loadModel(dir, { device: testDevice });
    expect(any).toBeInstanceOf(Seq2SeqModel);
    expect(any.info).toMatchObject({ isEncoderDecoder: true, name: dir });
    await any.dispose();
    await expectCode(loadModel(dir, { device: testDevice, kind: "decoder-only" }), "ERR_UNSUPPORTED_MODEL", "is an encoder-decoder");
    await expectCode(loadModel(path.join(repoRoot, "test/fixtures/reference/llama"), { kind: "encoder-decoder" }), "ERR_UNSUPPORTED_MODEL", "decoder-only");
    await expectCode(loadModel(dir, { kind: "seq2seq" as never }), "ERR_INVALID_OPTION", "kind");
    await expectCode(loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference/llama")), "ERR_UNSUPPORTED_MODEL", "not an encoder-decoder");
    const model = await loadSeq2SeqModel(dir, { device: testDevice });
    await expectCode(model.generate("", {}), "ERR_INVALID_OPTION", "texts");
    await expectCode(model.generate("a b", { maxNewTokens: -1 }), "ERR_INVALID_OPTION", "maxNewTokens");
    await model.dispose();
    await expectCode(model.generate("a b"), "ERR_DISPOSED", "disposed");
  });
});

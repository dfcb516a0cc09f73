// Ids that come from JS reach the model only as safe integers in [0, vocab): every path (forward of both model
// kinds, seq2seq generation from ids, baselines, contrast targets) names the row and column of a bad value.
// Before, Int32Array conversion ran NaN / null / "7" as id 0, 1.9 as 1 and 2**32 + 5 as 5.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { expectCode, repoRoot, testDevice } from "../helpers.js";

const BAD: Array<[unknown, string]> = [
  [Number.NaN, "NaN"], [null, "null"], [Infinity, "Infinity"], [2 ** 53, "9007199254740992"], [2 ** 32 + 5, "4294967301"],
  [1.9, "1.9"], ["7", '"7"'],
];

describe("decoder-only ids", () => {
  let model: Model;
  beforeAll(async () => {
    model = (await loadModel(path.join(repoRoot, "test/fixtures/reference/llama"), { device: testDevice })) as Model;
  });
  afterAll(() => model.dispose());

  it.each(BAD)("forward() rejects %s naming row and column", async (bad, shown) => {
    await expectCode(model.forward([[1, 2], [3, 4, bad as number]]), "ERR_INVALID_OPTION",
      `Expected a token id (an integer in [0, 300)) for ids[1][2] (row 1, column 2) but received ${shown}`);
  });

  it("forward() rejects an id past the vocabulary, and still runs valid ids", async () => {
    await expectCode(model.forward([[1, 300]]), "ERR_INVALID_OPTION", "ids[0][1] (row 0, column 1) but received 300");
    const out = await model.forward([[1, 299]]);
    expect(out.logits.shape).toEqual([1, 2, 300]);
  });

  it("decode() refuses ids the model does not have (naming the position), keeps the tokenizer's skipping", async () => {
    await expectCode(model.decode([1, 2, 307]), "ERR_INVALID_OPTION", "Expected a token id (an integer in [0, 300)) for ids[2] but received 307");
    for (const [bad, shown] of BAD) await expectCode(model.decode([bad as number]), "ERR_INVALID_OPTION", `for ids[0] but received ${shown}`);
    expect(typeof (await model.decode([1, 299]))).toBe("string");
  });

  it("attribute() checks baselineIds per row and column", async () => {
    const n = (await model.encode("a b c"))[0]!.ids.length;
    for (const [bad, shown] of BAD) {
      const baseline = Array.from({ length: n }, (_, j) => (j === 1 ? bad : 0)) as number[];
      await expectCode(model.attribute("a", { generatedTexts: "a b c", baselineIds: [baseline] }), "ERR_INVALID_OPTION",
        `for baselineIds[0][1] (row 0, column 1) but received ${shown}`);
    }
  });
});

describe("encoder-decoder ids", () => {
  let model: Seq2SeqModel;
  beforeAll(async () => {
    model = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq/marian"), { device: testDevice });
  });
  afterAll(() => model.dispose());

  it.each(BAD)("forward() rejects %s in sources and in targets", async (bad, shown) => {
    const dst = model.info.decoderStartTokenId;
    await expectCode(model.forward([[5, bad as number]], [[dst]]), "ERR_INVALID_OPTION",
      `Expected a token id (an integer in [0, 160)) for sources[0][1] (row 0, column 1) but received ${shown}`);
    await expectCode(model.forward([[5, 6]], [[dst, 7, bad as number]]), "ERR_INVALID_OPTION",
      `for targets[0][2] (row 0, column 2) but received ${shown}`);
  });

  it.each(BAD)("generateIds() rejects %s in sources", async (bad, shown) => {
    await expectCode(model.generateIds([[5, 6], [bad as number]], { maxNewTokens: 1 }), "ERR_INVALID_OPTION",
      `for sources[1][0] (row 1, column 0) but received ${shown}`);
  });

  it("attribute() checks source baselineIds per row and column", async () => {
    const n = (await model.tokenizer.encode("a b")).ids.length;
    const baseline = Array.from({ length: n }, (_, j) => (j === n - 1 ? 1.9 : 0));
    await expectCode(model.attribute("a b", { generatedTexts: "c d", baselineIds: [baseline] }), "ERR_INVALID_OPTION",
      `for baselineIds[0][${n - 1}] (row 0, column ${n - 1}) but received 1.9`);
  });
});

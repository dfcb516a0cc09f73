// Options of the wrong type are refused before anything runs (ERR_INVALID_OPTION naming the option), for every
// public options object: each is one table (lib/core/options.ts) of names and kinds. Before, "yes" for a boolean,
// 1.5 for a position or an unknown schedule ran as if valid, and a string signal threw a TypeError.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { checkOptions } from "../../lib/core/options.js";
import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { expectCode, repoRoot, testDevice } from "../helpers.js";

describe("checkOptions", () => {
  const table = { flag: "boolean", n: "integer", fn: "function", signal: "signal", args: "object", s: "string", mode: { oneOf: ["a", "b"] }, free: "checked" } as const;
  it("accepts the right kinds and undefined", () => {
    expect(() => checkOptions("f", { flag: false, n: -3, fn: () => 0, signal: new AbortController().signal, args: {}, s: "", mode: "b", free: Symbol("x"), s2: undefined } as object, { ...table, s2: "string" })).not.toThrow();
    expect(() => checkOptions("f", undefined, table)).not.toThrow();
  });
  it.each([
    [{ flag: "yes" }, "Expected a boolean for flag but received \"yes\""],
    [{ flag: 1 }, "Expected a boolean for flag but received 1"],
    [{ n: 1.5 }, "Expected an integer for n but received 1.5"],
    [{ n: 2 ** 53 }, "Expected an integer for n"],
    [{ fn: 5 }, "Expected a function for fn but received 5"],
    [{ signal: "x" }, "Expected an AbortSignal for signal"],
    [{ args: [] }, "Expected an object for args but received array of length 0"],
    [{ s: 3 }, "Expected a string for s"],
    [{ mode: "c" }, 'Expected one of "a", "b" for mode but received "c"'],
  ])("refuses %j", (options, message) => {
    expect(() => checkOptions("f", options, table)).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining(message) }));
  });
  it("refuses a non-object and unknown names", () => {
    expect(() => checkOptions("f", "flag", table)).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    expect(() => checkOptions("f", { flagg: true }, table)).toThrow(expect.objectContaining({ code: "ERR_UNKNOWN_OPTION" }));
  });
});

describe("model calls", () => {
  let model: Model;
  let seq2seq: Seq2SeqModel;
  beforeAll(async () => {
    model = (await loadModel(path.join(repoRoot, "test/fixtures/reference/llama"), { device: testDevice })) as Model;
    seq2seq = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq/bart"), { device: testDevice });
  });
  afterAll(async () => {
    await model.dispose();
    await seq2seq.dispose();
  });

  it("generate, forward and attribute refuse wrong types", async () => {
    const bad = (o: unknown) => o as never;
    await expectCode(model.generate("a", bad({ returnIds: "yes" })), "ERR_INVALID_OPTION", "for returnIds");
    await expectCode(model.generate("a", bad({ outputGeneratedOnly: 1 })), "ERR_INVALID_OPTION", "for outputGeneratedOnly");
    await expectCode(model.generate("a", bad({ skipSpecialTokens: "no" })), "ERR_INVALID_OPTION", "for skipSpecialTokens");
    await expectCode(model.generate("a", bad({ signal: "x" })), "ERR_INVALID_OPTION", "an AbortSignal for signal");
    await expectCode(model.generate("a", bad({ onProgress: 5 })), "ERR_INVALID_OPTION", "a function for onProgress");
    await expectCode(model.forward([[1, 2]], bad({ outputAttentions: "true" })), "ERR_INVALID_OPTION", "for outputAttentions");
    const gen = { generationArgs: { maxNewTokens: 2 } };
    await expectCode(model.attribute("a", bad({ ...gen, schedule: "nope" })), "ERR_INVALID_OPTION", 'one of "batched", "per_step" for schedule');
    await expectCode(model.attribute("a", bad({ ...gen, attrPosStart: 1.5 })), "ERR_INVALID_OPTION", "an integer for attrPosStart");
    await expectCode(model.attribute("a", bad({ ...gen, includeEosBaseline: "yes" })), "ERR_INVALID_OPTION", "for includeEosBaseline");
    await expectCode(model.attribute("a", bad({ ...gen, methodArgs: 3 })), "ERR_INVALID_OPTION", "an object for methodArgs");
    await expectCode(seq2seq.generate("a", bad({ returnIds: "yes" })), "ERR_INVALID_OPTION", "for returnIds");
    await expectCode(seq2seq.attribute("a", bad({ ...gen, attributeTarget: "y" })), "ERR_INVALID_OPTION", "for attributeTarget");
    // Valid calls still run.
    expect((await model.generate("a", { maxNewTokens: 1, returnIds: true })).texts).toHaveLength(1);
  });

  it("loadModel refuses wrong types before touching anything", async () => {
    const dir = path.join(repoRoot, "test/fixtures/reference/gpt2");
    await expectCode(loadModel(dir, { offline: "yes" as never }), "ERR_INVALID_OPTION", "a boolean for offline");
    await expectCode(loadModel(dir, { signal: {} as never }), "ERR_INVALID_OPTION", "an AbortSignal for signal");
    await expectCode(loadModel(dir, { onDownloadProgress: "x" as never }), "ERR_INVALID_OPTION", "a function for onDownloadProgress");
  });
});

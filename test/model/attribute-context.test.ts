// attributeContext(): the output cases that generate (3-6 of prepareOutputs), where Python Inseq 0.7.1 fails on
// decoder-only models (case 3 compares the prompt prefix with the new tokens only; cases 5/6 without a split
// candidate crash in prompt_user_for_context), so they are checked by invariants: a generated run gives the same
// CTI / CCI as the forced run of the texts it generated. Plus the contrastive alternatives we generate, the
// refusals with their codes, and cancellation.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { attributeContext } from "../../lib/context/attribute-context.js";
import { referenceDir, repoRoot, stories260K, testDevice } from "../helpers.js";
import { expectScoresClose } from "../helpers/context-golden.js";

let stories: Model;
let gpt2: Model;
let bart: Seq2SeqModel;
beforeAll(async () => {
  stories = (await loadModel(stories260K, { device: testDevice })) as Model;
  gpt2 = (await loadModel(referenceDir("gpt2"), { device: testDevice })) as Model;
  bart = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq/bart"), { device: testDevice });
});
afterAll(async () => {
  await stories?.dispose();
  await gpt2?.dispose();
  await bart?.dispose();
});

const BASE = { inputContextText: "Lily was sad.", inputCurrentText: "Tom said" } as const;

describe("attributeContext() output cases", () => {
  it("case 3 (decoder-only): generates the current output after the forced output context, as the forced run", async () => {
    const gen = await stories.attributeContext({ ...BASE, outputContextText: "Tom was happy.", generationArgs: { maxNewTokens: 8 } });
    const expected = (await stories.generate("Lily was sad. Tom said Tom was happy.", { maxNewTokens: 8, outputGeneratedOnly: true }))[0]!.trim();
    expect(gen.outputContext).toBe("Tom was happy.");
    expect(gen.outputCurrent).toBe(expected);
    expect(gen.ctiScores!.length).toBe(gen.outputCurrentTokens!.length);
    const forced = await stories.attributeContext({ ...BASE, outputContextText: "Tom was happy.", outputCurrentText: expected });
    expectScoresClose(gen.ctiScores, forced.ctiScores, "CTI");
    expect(gen.cciScores.map((c) => c.ctiIdx)).toEqual(forced.cciScores.map((c) => c.ctiIdx));
    gen.cciScores.forEach((c, i) => expectScoresClose(c.outputContextScores, forced.cciScores[i]!.outputContextScores, `CCI ${i}`));
  }, 60_000);

  it("case 3 (encoder-decoder): the forced output context is the decoder prefix of the generation", async () => {
    const out = await bart.attributeContext({ inputContextText: "Ben was sad.", inputCurrentText: "So Ben too", outputContextText: "Tom was sad.", generationArgs: { maxNewTokens: 5 } });
    const [text] = await bart.generate("Ben was sad. So Ben too", { maxNewTokens: 5, targetPrefix: "Tom was sad." });
    expect(text!.startsWith("Tom was sad.")).toBe(true);
    expect(out.outputContext).toBe("Tom was sad.");
    expect(out.outputCurrent).toBe(text!.slice("Tom was sad.".length).trim());
    expect(out.cciScores.every((c) => c.outputContextScores!.length === out.outputContextTokens!.length)).toBe(true);
  }, 60_000);

  it("case 5: splits a generated output with confirmOutputContext (manual), as the forced run", async () => {
    const seen: Array<[string, string | null]> = [];
    const gen = await stories.attributeContext({
      ...BASE, outputTemplate: "{context} {current}", generationArgs: { maxNewTokens: 8 }, handleOutputContextStrategy: "manual",
      confirmOutputContext: async (output, candidate) => {
        seen.push([output, candidate]);
        return output.split(" ").slice(0, 2).join(" ");
      },
    });
    expect(seen.length).toBe(1);
    const [output] = seen[0]!;
    const context = output.split(" ").slice(0, 2).join(" ");
    expect(gen.outputContext).toBe(context);
    expect(gen.outputCurrent).toBe(output.slice(context.length + 1).trim());
    const forced = await stories.attributeContext({ ...BASE, outputContextText: context, outputCurrentText: gen.outputCurrent });
    expectScoresClose(gen.ctiScores, forced.ctiScores, "CTI");
  }, 60_000);

  it("case 6: a forced current output with a generated context keeps the forced current", async () => {
    const out = await stories.attributeContext({
      ...BASE, outputTemplate: "{context} {current}", outputCurrentText: "He smiled.", generationArgs: { maxNewTokens: 6 },
      handleOutputContextStrategy: "manual", confirmOutputContext: async (output) => output.split(" ")[0]!,
    });
    expect(out.outputCurrent).toBe("He smiled.");
    expect(out.outputContext).not.toBeNull();
    expect(out.outputContextTokens!.length).toBeGreaterThan(0);
  }, 60_000);

  it("cases 5/6 without a split candidate (auto) ask for outputContextText; encoder-decoders name the missing LaBSE fallback", async () => {
    const e1 = await stories.attributeContext({ ...BASE, outputTemplate: "{context} {current}", generationArgs: { maxNewTokens: 8 } }).catch((e) => e);
    expect(e1.code).toBe("ERR_INVALID_OPTION");
    expect(e1.message).toContain("outputContextText");
    const e2 = await bart.attributeContext({ inputContextText: "Ben was sad.", inputCurrentText: "So Ben too", outputTemplate: "{context} {current}", generationArgs: { maxNewTokens: 5 } }).catch((e) => e);
    expect(e2.code).toBe("ERR_INVALID_OPTION");
    expect(e2.message).toContain("LaBSE");
  }, 60_000);

  it("encoder-decoder contrastive CCI: the alternative is the greedy next token after the contextless prefix (with the decoder start token)", async () => {
    const out = await bart.attributeContext({
      inputContextText: "Ben was sad.", inputCurrentText: "So Ben too", outputCurrentText: "And that was it", attributedFn: "contrast_prob_diff", contextSensitivityTopk: 1,
    });
    const cci = out.cciScores[0]!;
    const prefix = await bart.targetTokenizer.decode(
      out.outputCurrentTokens!.slice(0, cci.ctiIdx).map((t) => bart.targetTokenizer.tokenToId(t)!), { skipSpecialTokens: false });
    const gen = await bart.generate("So Ben too", { maxNewTokens: 1, returnIds: true, ...(prefix ? { targetPrefix: prefix } : {}) });
    const next = gen.sequences[0]!.generatedIds.at(-1)!;
    expect(cci.contrastToken).toBe(bart.targetTokenizer.idToToken(next));
    expect(cci.inputContextScores!.length).toBe(out.inputContextTokens!.length);
    expect(cci.inputContextScores!.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
  }, 60_000);
});

describe("contextless alternatives chosen by a callback (Inseq's prompt_user_for_contextless_output_next_tokens)", () => {
  const opts = {
    inputContextText: "George was sick yesterday.", inputCurrentText: "His colleagues asked him to come",
    outputCurrentText: "to the hospital. He said he was fine", attributedFn: "contrast_prob_diff", contextSensitivityTopk: 2,
    inseqCurrentOffset: true, // the standalone tokens, below (tiny GPT-2 splits "to" alone but not " to")
  } as const;
  it("a word replaces the generated alternative, null keeps it", async () => {
    const queries: Array<{ prefix: string; token: string; ctiIdx: number }> = [];
    const chosen = await gpt2.attributeContext({ ...opts, chooseContextlessNextToken: async (q) => (queries.push(q), queries.length === 1 ? "Bob" : null) });
    const generated = await gpt2.attributeContext(opts);
    expect(queries.map((q) => q.ctiIdx)).toEqual(generated.cciScores.map((c) => c.ctiIdx));
    // the prefix is cut from the standalone tokenization of the current output (as Inseq's contextless outputs)
    const standalone = (await gpt2.tokenizer.encode(opts.outputCurrentText)).ids;
    expect(queries[0]!.prefix).toBe(await gpt2.tokenizer.decode(standalone.slice(0, queries[0]!.ctiIdx), { skipSpecialTokens: false }));
    const first = await gpt2.tokenizer.decode([(await gpt2.tokenizer.encode("Bob")).ids[0]!]);  // the first token of the word
    expect(chosen.cciScores[0]!.contextlessOutput).toBe(`${queries[0]!.prefix}${first}`);
    const forced = await gpt2.attributeContext({ ...opts, contextlessOutputNextTokens: ["Bob", generated.cciScores[1]!.contrastToken!] });
    expect(chosen.cciScores[0]!.contrastToken).toBe(forced.cciScores[0]!.contrastToken);
    expect(chosen.cciScores[0]!.contextlessOutput).toBe(forced.cciScores[0]!.contextlessOutput);
    expectScoresClose(chosen.cciScores[0]!.inputContextScores, forced.cciScores[0]!.inputContextScores, "chosen");
    expect(chosen.cciScores[1]!.contextlessOutput).toBe(generated.cciScores[1]!.contextlessOutput);
    expectScoresClose(chosen.cciScores[1]!.inputContextScores, generated.cciScores[1]!.inputContextScores, "generated");
    const err = await gpt2.attributeContext({ ...opts, contextlessOutputNextTokens: ["a", "b"], chooseContextlessNextToken: async () => null }).catch((e) => e);
    expect(err.code).toBe("ERR_INVALID_OPTION");
  }, 60_000);
});

describe("attributeContext() refusals and cancellation", () => {
  const forced = { inputContextText: "George was sick yesterday.", inputCurrentText: "His colleagues asked him to come", outputCurrentText: "to the hospital." };
  it("refuses options with codes", async () => {
    const cases: Array<[object, string, string]> = [
      [{ ...forced, inputCurrentText: "" }, "ERR_INVALID_OPTION", "inputCurrentText"],
      [{ ...forced, inputTemplate: "{context}" }, "ERR_INVALID_OPTION", "{current}"],
      [{ ...forced, contextSensitivityMetric: "probability" }, "ERR_INVALID_OPTION", "contextSensitivityMetric"],
      [{ ...forced, outputTemplate: "{current} {context}", outputContextText: "x" }, "ERR_INVALID_OPTION", "before {current}"],
      [{ ...forced, handleOutputContextStrategy: "manual" }, "ERR_INVALID_OPTION", "confirmOutputContext"],
      [{ ...forced, handleOutputContextStrategy: "pre", outputTemplate: "{context} {current}" }, "ERR_INVALID_OPTION", "pre"],
      [{ ...forced, attributedFn: "contrast_prob_diff", contextlessOutputNextTokens: ["a", "b", "c", "d", "e", "f", "g", "h", "i"] }, "ERR_INVALID_OPTION", "contextlessOutputNextTokens"],
      [{ ...forced, nope: 1 }, "ERR_UNKNOWN_OPTION", "nope"],
    ];
    for (const [opts, code, mention] of cases) {
      const err = await attributeContext(gpt2, opts as never).catch((e) => e);
      expect(err?.code, JSON.stringify(opts)).toBe(code);
      expect(err.message).toContain(mention);
    }
  }, 60_000);

  it("reports progress: CTI, then one step per selected token", async () => {
    const calls: Array<[number, number]> = [];
    const out = await gpt2.attributeContext({ ...forced, contextSensitivityTopk: 2, onProgress: (d, t) => calls.push([d, t]) });
    const total = 1 + out.cciScores.length;
    expect(calls).toEqual(Array.from({ length: total }, (_, i) => [i + 1, total]));
  });

  it("an aborted signal rejects with ERR_ABORTED", async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await gpt2.attributeContext({ ...forced, signal: ac.signal }).catch((e) => e);
    expect(err.code).toBe("ERR_ABORTED");
  });
});

describe("attributeContext() when the output tokenizes differently on its own", () => {
  it("CCI attributes each selected token where it is in context (a small BPE vocabulary splits 'to' alone, not ' to')", async () => {
    const llama = (await loadModel(referenceDir("llama"), { device: testDevice })) as Model;
    try {
      const out = await llama.attributeContext({
        inputContextText: "George was sick yesterday.", inputCurrentText: "His colleagues asked him to come",
        outputCurrentText: "to the hospital.", contextSensitivityStdThreshold: 0,
      });
      // In context the output is 10 tokens ("Ġto", "Ġthe", ...); alone, 11 ("t", "o", "Ġthe", ...).
      expect(out.outputCurrentTokens).toEqual(["Ġto", "Ġthe", "Ġh", "o", "s", "p", "it", "a", "l", "."]);
      expect(out.ctiScores!.length).toBe(10);
      expect(out.cciScores.length).toBeGreaterThan(0);
      for (const c of out.cciScores) {
        // The contextual output of a CCI step ends with the selected token itself.
        const prefix = ["to", " the", " h", "o", "s", "p", "it", "a", "l", "."].slice(0, c.ctiIdx + 1).join("");
        expect(c.contextualOutput).toBe(`George was sick yesterday. His colleagues asked him to come ${prefix}`);
        expect(c.inputContextScores!.length).toBeGreaterThan(0);
      }
    } finally {
      await llama.dispose();
    }
  });
});

// Contrastive attribution that can only give zeros warns (one process warning with a code per call), and the
// saved info records every contrastive argument, in snake_case, so the call can be reproduced. Bundled model.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import path from "node:path";

import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { CONTRAST_WARNINGS } from "../../lib/attribution/contrast.js";
import { repoRoot, testDevice, warningsOf } from "../helpers.js";

const PROMPT = "the window beside the blue letters";
const TARGET = "the window beside the blue letters was small .";
// Same continuation, other prompt: the attributed tokens are the same, only the context differs.
const OTHER_PROMPT = "the windows beside the blue letter was small .";

const allZero = (d: Float32Array) => d.every((x) => Number.isNaN(x) || x === 0);

describe("contrastive attribution that can only give zeros", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel("default", { device: testDevice });
  });
  afterAll(() => model.dispose());
  afterEach(() => vi.restoreAllMocks());


  it("an attributed contrastive function without contrastTargets: one warning per call naming the function", async () => {
    const { result, warnings } = await warningsOf(() =>
      model.attribute([PROMPT, PROMPT], { generatedTexts: [TARGET, TARGET], attributedFn: "contrast_prob_diff", batchSize: 1 }),
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]![1]).toBe(CONTRAST_WARNINGS.missing);
    expect(warnings[0]![0]).toContain('attributedFn "contrast_prob_diff"');
    expect(warnings[0]![0]).toContain("contrastTargets");
    expect(allZero(result.sequenceAttributions[0]!.targetAttributions!.data)).toBe(true);
    // The same holds for a contrastive step score.
    const scores = await warningsOf(() => model.attribute(PROMPT, { generatedTexts: TARGET, method: "dummy", stepScores: ["contrast_prob_diff"] }));
    expect(scores.warnings.map((w) => w[1])).toEqual([CONTRAST_WARNINGS.missing]);
    expect(scores.warnings[0]![0]).toContain('step score "contrast_prob_diff"');
  });

  it("contrast targets that differ only in the prompt, contrastForceInputs off: warns; forcing the inputs does not", async () => {
    const base = { generatedTexts: TARGET, attributedFn: "contrast_prob_diff", contrastTargets: OTHER_PROMPT } as const;
    const off = await warningsOf(() => model.attribute(PROMPT, base));
    expect(off.warnings).toHaveLength(1);
    expect(off.warnings[0]![1]).toBe(CONTRAST_WARNINGS.unchanged);
    expect(off.warnings[0]![0]).toContain("contrastForceInputs");
    expect(off.warnings[0]![0]).toContain("input 0");
    expect(allZero(off.result.sequenceAttributions[0]!.targetAttributions!.data)).toBe(true);
    const on = await warningsOf(() => model.attribute(PROMPT, { ...base, contrastForceInputs: true }));
    expect(on.warnings).toEqual([]);
    expect(allZero(on.result.sequenceAttributions[0]!.targetAttributions!.data)).toBe(false);
    // A contrast that changes an attributed token is what contrastive attribution is for: no warning.
    const real = await warningsOf(() => model.attribute(PROMPT, { ...base, contrastTargets: "the window beside the blue letters were small ." }));
    expect(real.warnings).toEqual([]);
  });

  it("info records the contrastive arguments (snake_case) where Inseq puts them", async () => {
    const out = await model.attribute(PROMPT, {
      generatedTexts: TARGET,
      method: "integrated_gradients",
      methodArgs: { nSteps: 3, internalBatchSize: 8 },
      attributedFn: "contrast_prob_diff",
      stepScores: ["probability", "contrast_prob"],
      contrastTargets: "the window beside the blue letters were small .",
      contrastTargetsAlignments: [[6, 6]],
      stepScoresArgs: { logprob: true },
    });
    const contrast = {
      contrast_targets: ["the window beside the blue letters were small ."],
      contrast_targets_alignments: [[6, 6]],
      contrast_force_inputs: false,
    };
    expect(out.info.attribution_args).toEqual({ n_steps: 3, internal_batch_size: 8 });
    expect(out.info.attributed_fn_args).toEqual(contrast);
    expect(out.info.step_scores_args).toEqual({ logprob: true, ...contrast });
    const generated = await model.attribute(PROMPT, { generationArgs: { maxNewTokens: 2, doSample: false } });
    expect(generated.info.generation_args).toEqual({ max_new_tokens: 2, do_sample: false });
    expect(generated.info.attributed_fn_args).toEqual({});
  });
});

describe("encoder-decoders: contrast sources alone", () => {
  let model: Seq2SeqModel;
  beforeAll(async () => {
    model = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq/bart"), { device: testDevice });
  });
  afterAll(() => model.dispose());

  it("warn unless contrastForceInputs is on, and are recorded as contrast_sources", async () => {
    const base = { generatedTexts: "And that'", attributedFn: "contrast_prob_diff", contrastSources: "Ben went home" } as const;
    const off = await warningsOf(() => model.attribute("So Ben too", base));
    expect(off.warnings.map((w) => w[1])).toEqual([CONTRAST_WARNINGS.unchanged]);
    expect(allZero(off.result.sequenceAttributions[0]!.sourceAttributions!.data)).toBe(true);
    const on = await warningsOf(() => model.attribute("So Ben too", { ...base, contrastForceInputs: true }));
    expect(on.warnings).toEqual([]);
    expect(on.result.info.attributed_fn_args).toEqual({ contrast_sources: ["Ben went home"], contrast_force_inputs: true });
    const none = await warningsOf(() => model.attribute("So Ben too", { generatedTexts: "And that'", attributedFn: "contrast_prob_diff" }));
    expect(none.warnings.map((w) => w[1])).toEqual([CONTRAST_WARNINGS.missing]);
  });
});

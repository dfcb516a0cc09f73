// One lifecycle for both model kinds: a call holds the model from its first moment until it settles, so
// dispose() while attribute() is still tokenizing or generating lets it finish (as generate() already did),
// refuses calls made after it at once, and frees the weights when the last call settles.
import path from "node:path";
import { describe, expect, it } from "vitest";

import { loadModel, registerStepFunction, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { expectCode, repoRoot, testDevice } from "../helpers.js";

registerStepFunction("lifecycle_target_logit", ({ logits, target }) => logits[target]!, { overwrite: true });

const kinds = [
  { kind: "decoder-only", dir: "test/fixtures/reference/llama", prompt: "a b" },
  { kind: "encoder-decoder", dir: "test/fixtures/reference-seq2seq/marian", prompt: "a b" },
] as const;

/** Starts `call`, then dispose() after `delay` ms (0: in the same tick, while the inputs are being tokenized). */
async function disposeDuring<T>(model: Model | Seq2SeqModel, call: () => Promise<T>, delay: number): Promise<T> {
  const pending = call();
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  const disposed = model.dispose();
  expect(model.disposed).toBe(true);
  // Started after dispose(): refused at once, although the earlier call still runs.
  await expectCode(model.generate(["a"]), "ERR_DISPOSED", "disposed");
  const [result] = await Promise.all([pending, disposed]);
  return result;
}

describe.each(kinds)("$kind lifecycle", ({ dir, prompt }) => {
  const load = () => loadModel(path.join(repoRoot, dir), { device: testDevice }) as Promise<Model | Seq2SeqModel>;

  it.each([0, 1, 5])("attribute() started before dispose() (after %d ms) finishes, custom JS step scores included", async (delay) => {
    const model = await load();
    const out = await disposeDuring(model, () => model.attribute(prompt, {
      method: "saliency", stepScores: ["lifecycle_target_logit"], generationArgs: { maxNewTokens: 3 },
    }), delay);
    const seq = out.sequenceAttributions[0]!;
    expect(seq.stepScores.lifecycle_target_logit!.length).toBe(seq.attrPosEnd - seq.attrPosStart);
    expect(seq.attrPosEnd - seq.attrPosStart).toBeGreaterThan(0);
    await expectCode(model.attribute(prompt), "ERR_DISPOSED", "disposed");
  });

  it("generate() and forward() started before dispose() finish; dispose() twice waits both times", async () => {
    const model = await load();
    const gen = model.generate([prompt], { maxNewTokens: 2 });
    const fwd = model.info.isEncoderDecoder
      ? (model as Seq2SeqModel).forward([[5, 6]], [[(model as Seq2SeqModel).info.decoderStartTokenId]])
      : (model as Model).forward([[1, 2]]);
    const first = model.dispose();
    const second = model.dispose();
    expect((await gen).length).toBe(1);
    expect((await fwd).logits.shape[0]).toBe(1);
    await Promise.all([first, second]);
    await expectCode(model.generate([prompt]), "ERR_DISPOSED", "disposed");
  });
});

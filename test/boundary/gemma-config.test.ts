// Gemma configs we refuse, through the library: the multimodal gemma3 (nested text_config) names the native
// gemma3_text, bidirectional Gemma encoders are unsupported, impossible soft-capping values name their field.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { InseqError, loadModel } from "../../lib/index.js";
import { copyModel, readJson, referenceDir } from "../helpers.js";

async function loadError(dir: string): Promise<InseqError> {
  const e = await loadModel(dir, { device: "cpu" }).then(
    async (m) => {
      await m.dispose();
      return null;
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(InseqError);
  return e as InseqError;
}

function edited(name: string, edit: (c: Record<string, any>) => void): string {
  const dir = copyModel(referenceDir(name));
  const config = readJson(path.join(dir, "config.json"));
  edit(config);
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

describe("Gemma configs", () => {
  it("a multimodal gemma3 config is ERR_UNSUPPORTED_MODEL naming the native gemma3_text", async () => {
    const e = await loadError(edited("gemma3", (c) => { c.model_type = "gemma3"; }));
    expect(e.code).toBe("ERR_UNSUPPORTED_MODEL");
    expect(e.message).toContain('model_type "gemma3" (the multimodal Gemma3ForConditionalGeneration');
    expect(e.message).toContain("model_type gemma3_text (Gemma3ForCausalLM), is native");
  });

  it("use_bidirectional_attention is ERR_UNSUPPORTED_MODEL", async () => {
    const e = await loadError(edited("gemma3", (c) => { c.use_bidirectional_attention = true; }));
    expect(e.code).toBe("ERR_UNSUPPORTED_MODEL");
    expect(e.message).toContain("use_bidirectional_attention");
  });

  it("a soft-cap of 0 or a layer_types list of the wrong length is ERR_BAD_CHECKPOINT naming the key", async () => {
    const cap = await loadError(edited("gemma2", (c) => { c.attn_logit_softcapping = 0; }));
    expect(cap.code).toBe("ERR_BAD_CHECKPOINT");
    expect(cap.message).toContain("attn_logit_softcapping");
    const types = await loadError(edited("gemma2", (c) => { c.layer_types = ["full_attention"]; }));
    expect(types.code).toBe("ERR_BAD_CHECKPOINT");
    expect(types.message).toContain("layer_types");
  });

  it("soft-capping null loads (off), as transformers reads it", async () => {
    const m = await loadModel(edited("gemma2", (c) => { c.final_logit_softcapping = null; }), { device: "cpu" });
    const capped = await loadModel(referenceDir("gemma2"), { device: "cpu" });
    const ids = [[5, 71, 120, 33]];
    const a = (await m.forward(ids)).logits.data, b = (await capped.forward(ids)).logits.data;
    expect(b.every((v) => Math.abs(v) < 8)).toBe(true); // capped at 8
    expect(a.some((v) => Math.abs(v) >= 8) || a.some((v, i) => Math.abs(v - b[i]!) > 1e-3)).toBe(true);
    await m.dispose();
    await capped.dispose();
  });
});

// The one table of natively implemented model types (lib/models/model-types.ts): the addon agrees with it, and
// what a user reads about supported models (the unsupported-model error, `inseq doctor`) lists every kind from it
// and says how to load anything else (tools/export-torchscript, shipped in the package).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { InseqError, loadModel, loadSeq2SeqModel, runtimeInfo } from "../../lib/index.js";
import { describeNativeModelTypes, NATIVE_MODEL_TYPES } from "../../lib/models/model-types.js";
import { native } from "../../lib/native/load.js";
import { copyModel, readJson, referenceDir, repoRoot } from "../helpers.js";

const ALL_TYPES = Object.values(NATIVE_MODEL_TYPES).flat();

describe("natively implemented model types", () => {
  it("the addon's table is the library's, kind by kind", () => {
    const native = runtimeInfo().modelTypes;
    expect(Object.keys(native).sort()).toEqual(Object.keys(NATIVE_MODEL_TYPES).sort());
    for (const [kind, types] of Object.entries(NATIVE_MODEL_TYPES)) expect([...native[kind as keyof typeof native]].sort()).toEqual([...types].sort());
  });

  it("each encoder-decoder type of the table loads natively (a fixture per type)", async () => {
    for (const type of NATIVE_MODEL_TYPES["encoder-decoder"]) {
      const dir = path.join(repoRoot, "test/fixtures/reference-seq2seq", type);
      expect(readJson(path.join(dir, "config.json")).model_type).toBe(type);
      const model = await loadModel(dir, { device: "cpu" });
      expect(model.info.isEncoderDecoder).toBe(true);
      await model.dispose();
    }
  });

  it("an unknown model_type: ERR_UNSUPPORTED_MODEL listing every native type by kind and naming tools/export-torchscript", async () => {
    const dir = copyModel(referenceDir("llama"));
    const config = readJson(path.join(dir, "config.json"));
    config.model_type = "mamba";
    writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
    const e = await loadModel(dir, { device: "cpu" }).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(InseqError);
    expect((e as InseqError).code).toBe("ERR_UNSUPPORTED_MODEL");
    const msg = (e as InseqError).message;
    expect(msg).toContain(`${path.join(dir, "config.json")}: model_type "mamba" is not implemented natively`);
    expect(msg).toContain("decoder-only: gpt2, gpt_neox, llama, mistral, qwen2, qwen3, olmo2, phi3, gemma, gemma2, gemma3_text; encoder-decoder: bart, m2m_100, marian, mbart, t5");
    expect(msg).toContain("tools/export-torchscript MODEL OUT_DIR");
    expect(msg).toContain("node_modules/inseq/tools/export-torchscript");
  });

  it("the addon's own refusal (a direct native load) words the list the same way", async () => {
    const dir = copyModel(referenceDir("llama"));
    const config = readJson(path.join(dir, "config.json"));
    config.model_type = "mamba";
    writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
    const e = await native().loadModel(dir, { kind: "decoder-only", device: "cpu", dtype: "float32" }).then(() => null, (err: unknown) => err);
    expect(e).toMatchObject({ code: "ERR_UNSUPPORTED_MODEL" });
    expect((e as Error).message).toContain(`model_type "mamba" is not implemented natively (${describeNativeModelTypes()}); export it as a TorchScript bundle with tools/export-torchscript`);
  });

  it("loadSeq2SeqModel says the same for an unknown model_type, and names the loader for a decoder-only one", async () => {
    const dir = copyModel(referenceDir("llama"));
    const e1 = await loadSeq2SeqModel(dir, { device: "cpu" }).then(() => null, (err: unknown) => err);
    expect(e1).toMatchObject({ code: "ERR_UNSUPPORTED_MODEL" });
    expect((e1 as InseqError).message).toContain(`model_type "llama" in ${dir} is a decoder-only model`);
    expect((e1 as InseqError).message).toContain("loadModel()");
    const config = readJson(path.join(dir, "config.json"));
    config.model_type = "pegasus";
    writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
    const e2 = await loadSeq2SeqModel(dir, { device: "cpu" }).then(() => null, (err: unknown) => err);
    expect(e2).toMatchObject({ code: "ERR_UNSUPPORTED_MODEL" });
    expect((e2 as InseqError).message).toContain('model_type "pegasus" is not implemented natively (decoder-only: gpt2, gpt_neox, llama, mistral, qwen2, qwen3, olmo2, phi3, gemma, gemma2, gemma3_text; encoder-decoder: bart, m2m_100, marian, mbart, t5)');
    expect((e2 as InseqError).message).toContain("tools/export-torchscript");
  });

  it("the export tool the message names ships in the npm package (package.json files)", () => {
    const files: string[] = readJson(path.join(repoRoot, "package.json")).files;
    for (const f of ["tools/export-torchscript", "tools/export_torchscript.py"]) {
      expect(files).toContain(f);
      expect(existsSync(path.join(repoRoot, f))).toBe(true);
    }
    // the wrapper runs the module next to it
    expect(readFileSync(path.join(repoRoot, "tools/export-torchscript"), "utf8")).toContain("from export_torchscript import main");
  });

  it("inseq doctor lists every native model type by kind and how to load any other", () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, "dist/cli/index.js"), "doctor"], { cwd: repoRoot, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const line = r.stdout.split("\n").find((l) => l.startsWith("native models"));
    expect(line).toBeDefined();
    for (const type of ALL_TYPES) expect(line).toContain(type);
    expect(line).toContain("decoder-only: gpt2, gpt_neox, llama, mistral, qwen2, qwen3, olmo2, phi3, gemma, gemma2, gemma3_text; encoder-decoder: bart, m2m_100, marian, mbart, t5");
    expect(line).toContain("tools/export-torchscript");
  });
});

// Bad input never crashes the process: every failure is a rejected Promise with a stable code and a
// message naming the file or option.
import { appendFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, type Model } from "../../lib/index.js";
import { copyModel, readJson, referenceDir, rejection, repoRoot, tempDir } from "../helpers.js";

const llama = referenceDir("llama");

describe("loading errors", () => {
  it("missing directory", async () => {
    const e = await rejection(loadModel("/definitely/not/here"));
    expect(e.code).toBe("ERR_NOT_FOUND");
    expect(e.message).toContain("/definitely/not/here");
  });

  it("directory without config.json", async () => {
    const dir = tempDir("empty");
    const e = await rejection(loadModel(dir));
    expect(e.code).toBe("ERR_NOT_FOUND");
    expect(e.message).toContain("config.json");
  });

  it("truncated safetensors", async () => {
    const dir = copyModel(llama);
    const file = path.join(dir, "model.safetensors");
    truncateSync(file, readFileSync(file).length - 100);
    const e = await rejection(loadModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_BAD_CHECKPOINT");
    expect(e.message).toContain(file);
    expect(e.message).toContain("truncated");
  });

  it("corrupt safetensors header", async () => {
    const dir = copyModel(llama);
    const file = path.join(dir, "model.safetensors");
    const bytes = readFileSync(file);
    bytes.write("#", 9); // break the JSON header
    writeFileSync(file, bytes);
    const e = await rejection(loadModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_BAD_CHECKPOINT");
    expect(e.message).toContain(file);
  });

  it("a tensor of the wrong shape", async () => {
    const dir = copyModel(llama);
    const config = readJson(path.join(dir, "config.json"));
    config.intermediate_size = 48; // the checkpoint's MLP weights are 64 wide
    writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
    const e = await rejection(loadModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_BAD_CHECKPOINT");
    expect(e.message).toMatch(/model\.layers\.0\.mlp\.\w+_proj\.weight/);
    expect(e.message).toContain("[64, 32]");
  });

  it("unknown model_type", async () => {
    const dir = copyModel(llama);
    const config = readJson(path.join(dir, "config.json"));
    config.model_type = "mamba";
    writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
    const e = await rejection(loadModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_UNSUPPORTED_MODEL");
    expect(e.message).toContain('"mamba"');
    expect(e.message).toContain(path.join(dir, "config.json"));
  });

  it("malformed config.json", async () => {
    const dir = copyModel(llama);
    writeFileSync(path.join(dir, "config.json"), "{ nope");
    const e = await rejection(loadModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_BAD_CHECKPOINT");
    expect(e.message).toContain("config.json");
  });

  it("malformed tokenizer.json", async () => {
    const dir = copyModel(llama);
    appendFileSync(path.join(dir, "tokenizer.json"), "}}}");
    const e = await rejection(loadModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_BAD_TOKENIZER");
    expect(e.message).toContain(path.join(dir, "tokenizer.json"));
  });

  it("missing weights", async () => {
    const dir = copyModel(llama);
    rmSync(path.join(dir, "model.safetensors"));
    const e = await rejection(loadModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_NOT_FOUND");
    expect(e.message).toContain("model.safetensors");
  });

  it("bad options", async () => {
    expect((await rejection(loadModel(llama, { device: "tpu" as never }))).code).toBe("ERR_INVALID_OPTION");
    expect((await rejection(loadModel(llama, { dtype: "int8" as never }))).code).toBe("ERR_INVALID_OPTION");
    const half = await rejection(loadModel(path.join(repoRoot, "test/fixtures/torchscript/llama"), { device: "cpu", dtype: "float16" }));
    expect(half.code).toBe("ERR_INVALID_OPTION");
    expect(half.message).toContain("TorchScript bundles run in float32 only");
    const unknown = await rejection(loadModel(llama, { devise: "cpu" } as never));
    expect(unknown.code).toBe("ERR_UNKNOWN_OPTION");
    expect(unknown.message).toContain("device");
  });
});

describe("call errors", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(llama, { device: "cpu" });
  });
  afterAll(() => model.dispose());

  it("negative maxNewTokens and other bad generation options", async () => {
    const e = await rejection(model.generate("He was", { maxNewTokens: -1 }));
    expect(e.code).toBe("ERR_INVALID_OPTION");
    expect(e.message).toBe("Expected a non-negative integer for maxNewTokens but received -1");
    expect((await rejection(model.generate("He was", { topP: 0 }))).message).toContain("topP");
    expect((await rejection(model.generate("He was", { temperature: -2 }))).message).toContain("temperature");
    expect((await rejection(model.generate("He was", { maxTokens: 3 } as never))).code).toBe("ERR_UNKNOWN_OPTION");
    expect((await rejection(model.generate(42 as never))).code).toBe("ERR_INVALID_OPTION");
  });

  it("out-of-vocabulary ids in forward are rejected natively", async () => {
    const e = await rejection(model.forward([[1, 2, 99999]]));
    expect(e.code).toBe("ERR_INVALID_OPTION");
    expect(e.message).toContain("99999");
  });

  it("the model still works after errors, and rejects after dispose", async () => {
    expect((await model.generate("He was", { maxNewTokens: 2 })).length).toBe(1);
    const other = await loadModel(llama, { device: "cpu" });
    const pending = other.generate("He was", { maxNewTokens: 4 });
    await other[Symbol.asyncDispose]();
    expect((await pending)[0]!.startsWith("He was")).toBe(true); // in-flight work finished first
    expect(other.disposed).toBe(true);
    expect((await rejection(other.generate("He was"))).code).toBe("ERR_DISPOSED");
  });
});

// The default model's training tool outside the product: `npm run build:train` builds the inseq-train executable
// (tools/default-model/train/) and the corpus tools (build/ts/); a short run trains deterministically, writes
// weights that load as a model, and reports bad input with a code and an exit status; the training script
// reproduces every file of models/default/ but the weights, the training report and the `verified` marks of the
// eval set (the model's own causal checks) byte for byte.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

import { defaultModelDir, loadModel } from "../../lib/index.js";
import { TextTokenizer } from "../../lib/tokenizers/tokenizer.js";
import { writeCorpusFiles } from "../../tools/default-model/corpus-files.js";
import { repoRoot, tempDir } from "../helpers.js";

const trainer = path.join(repoRoot, "build/inseq-train");
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** A corpus folder (tokenizer files included) with a tiny llama config and the training sequences as id lines. */
let corpus = "";
let sequences = "";

function train(out: string, extra: string[] = []) {
  const r = spawnSync(trainer, [
    "--config", path.join(corpus, "config.json"), "--sequences", sequences, "--out", out,
    "--steps", "20", "--batch-size", "8", "--warmup-steps", "5", "--seed", "7", "--pad-token-id", "3", "--threads", "1", "--log-every", "10",
    ...extra,
  ], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  execFileSync("npm", ["run", "build:train"], { cwd: repoRoot, stdio: "pipe", env: { ...process.env, OMP_NUM_THREADS: "1" } });
  corpus = tempDir("trainer");
  const files = writeCorpusFiles(corpus, { trainSize: 400, evalSize: 10, seed: 11 });
  const tokenizer = await TextTokenizer.fromDir(corpus);
  const lines = readFileSync(files.train, "utf8").split("\n").filter(Boolean);
  const encoded = await tokenizer.encodeBatch(lines);
  sequences = path.join(corpus, "train.ids");
  writeFileSync(sequences, encoded.map((e) => `${[...e.ids, tokenizer.eosTokenId].join(" ")}\n`).join(""));
  writeFileSync(path.join(corpus, "config.json"), JSON.stringify({
    architectures: ["LlamaForCausalLM"], model_type: "llama", vocab_size: tokenizer.vocabSize, hidden_size: 32,
    intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16,
    max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10000.0, hidden_act: "silu", tie_word_embeddings: true,
    bos_token_id: tokenizer.bosTokenId, eos_token_id: tokenizer.eosTokenId, pad_token_id: tokenizer.padTokenId, torch_dtype: "float32",
  }));
}, 900_000);

describe("inseq-train (npm run build:train)", () => {
  it("is built outside the addon: the executable and the compiled corpus tools", () => {
    expect(existsSync(trainer)).toBe(true);
    expect(existsSync(path.join(repoRoot, "build/ts/tools/default-model/corpus-files.js"))).toBe(true);
    expect(existsSync(path.join(repoRoot, "dist/default-model/corpus-files.js"))).toBe(false);
    const help = execFileSync(trainer, ["--help"], { encoding: "utf8" });
    for (const flag of ["--config", "--sequences", "--out", "--steps", "--batch-size", "--learning-rate", "--seed", "--threads"]) expect(help).toContain(flag);
  });

  it("trains deterministically: same inputs, same weights (sha256) and losses; the loss falls", () => {
    const a = train(path.join(corpus, "a.safetensors"));
    const b = train(path.join(corpus, "b.safetensors"));
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(sha256(path.join(corpus, "a.safetensors"))).toBe(sha256(path.join(corpus, "b.safetensors")));
    const ra = JSON.parse(a.stdout);
    expect(ra).toEqual(JSON.parse(b.stdout));
    expect(ra.losses).toHaveLength(20);
    expect(ra.numParameters).toBeGreaterThan(0);
    expect(Math.max(...ra.losses.slice(-3))).toBeLessThan(ra.losses[0]);
    expect(a.stderr).toMatch(/^step 10\/20 loss [0-9.]+ \([0-9]+ s\)\nstep 20\/20 loss/);
    // another seed, other weights
    const c = train(path.join(corpus, "c.safetensors"), ["--seed", "8"]);
    expect(c.status, c.stderr).toBe(0);
    expect(sha256(path.join(corpus, "c.safetensors"))).not.toBe(sha256(path.join(corpus, "a.safetensors")));
  });

  it("writes weights that load as a Hugging Face llama with the corpus tokenizer", async () => {
    expect(train(path.join(corpus, "model.safetensors")).status).toBe(0);
    const model = await loadModel(corpus, { device: "cpu" });
    try {
      expect(model.info).toMatchObject({ modelType: "llama", numLayers: 2, hiddenSize: 32 });
      const [text] = await model.generate("mary went to", { maxNewTokens: 4 });
      expect(text!.startsWith("mary went to ")).toBe(true);
    } finally {
      await model.dispose();
    }
  });

  it("rejects bad input with a code on stderr and an exit status", () => {
    const usage = spawnSync(trainer, ["--steps", "0"], { encoding: "utf8" });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('inseq-train: ERR_INVALID_OPTION: Expected an integer >= 1 for --steps but received "0"');
    const missing = spawnSync(trainer, ["--config", "c.json", "--sequences", "s.txt"], { encoding: "utf8" });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("Expected a file path for --out");
    expect(spawnSync(trainer, ["--frobnicate", "1"], { encoding: "utf8" }).stderr).toContain('Unknown option "--frobnicate"');

    const bad = path.join(corpus, "bad.ids");
    writeFileSync(bad, "1 5 6\n1  5\n");
    const malformed = spawnSync(trainer, ["--config", path.join(corpus, "config.json"), "--sequences", bad, "--out", path.join(corpus, "x.safetensors")], { encoding: "utf8" });
    expect(malformed.status).toBe(1);
    expect(malformed.stderr).toContain(`inseq-train: ERR_INVALID_OPTION: Expected token ids (non-negative integers) separated by single spaces on line 2 of ${bad}`);
    writeFileSync(bad, "1 5 99999\n");
    const outside = spawnSync(trainer, ["--config", path.join(corpus, "config.json"), "--sequences", bad, "--out", path.join(corpus, "x.safetensors")], { encoding: "utf8" });
    expect(outside.status).toBe(1);
    expect(outside.stderr).toContain("ERR_INVALID_OPTION: Training token id 99999 is outside the vocabulary");
    const noConfig = spawnSync(trainer, ["--config", path.join(corpus, "none.json"), "--sequences", sequences, "--out", path.join(corpus, "x.safetensors")], { encoding: "utf8" });
    expect(noConfig.status).toBe(1);
    expect(noConfig.stderr).toContain("inseq-train: ERR_NOT_FOUND:");
    writeFileSync(path.join(corpus, "broken.json"), "{");
    const broken = spawnSync(trainer, ["--config", path.join(corpus, "broken.json"), "--sequences", sequences, "--out", path.join(corpus, "x.safetensors")], { encoding: "utf8" });
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain(`inseq-train: ERR_BAD_CHECKPOINT: ${path.join(corpus, "broken.json")} is not valid JSON`);
    expect(existsSync(path.join(corpus, "x.safetensors"))).toBe(false);
  });

  it("stops between steps on SIGINT: ERR_ABORTED, exit status 130, no weights written", async () => {
    const out = path.join(corpus, "aborted.safetensors");
    const child = spawn(trainer, [
      "--config", path.join(corpus, "config.json"), "--sequences", sequences, "--out", out, "--steps", "100000", "--log-every", "1", "--threads", "1",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (!stderr) child.kill("SIGINT");  // after the first step's progress line
      stderr += d;
    });
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(status, stderr).toBe(130);
    expect(stderr).toMatch(/^step 1\/100000 loss/);
    expect(stderr).toContain("inseq-train: ERR_ABORTED: Training was aborted");
    expect(existsSync(out)).toBe(false);
  });
});

describe("scripts/train-default-model.mjs", () => {
  it("reproduces models/default/ but for the weights, the training report and the verified marks (2 steps)", () => {
    const out = tempDir("default-model");
    // 2 steps miss the gates: --allow-failing-gates writes the model all the same
    execFileSync(process.execPath, [path.join(repoRoot, "scripts/train-default-model.mjs"), "--steps", "2", "--out", out, "--allow-failing-gates"], {
      cwd: repoRoot, stdio: "pipe", env: { ...process.env, OMP_NUM_THREADS: "1" },
    });
    for (const f of ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "grammar/README.md"]) {
      expect(readFileSync(path.join(out, f), "utf8"), f).toBe(readFileSync(path.join(defaultModelDir(), f), "utf8"));
    }
    const unverified = (file: string) => readFileSync(file, "utf8").replaceAll(/,"verified":(true|false)/g, "");
    expect(unverified(path.join(out, "grammar/eval.jsonl"))).toBe(unverified(path.join(defaultModelDir(), "grammar/eval.jsonl")));
    const report = JSON.parse(readFileSync(path.join(out, "training.json"), "utf8"));
    expect(report).toMatchObject({ seed: 20261127, steps: 2, batchSize: 64, trainSentences: 100000, parameters: 766208, threads: 2 });
    expect(report.gates.failures.length).toBeGreaterThan(0); // recorded, not hidden
    expect(existsSync(path.join(out, "model.safetensors"))).toBe(true);
    expect(existsSync(path.join(out, ".work"))).toBe(false);
  }, 600_000);

  it("replaces nothing and exits with 1 when a gate fails (2 steps)", () => {
    const out = tempDir("default-model-gates");
    const r = spawnSync(process.execPath, [path.join(repoRoot, "scripts/train-default-model.mjs"), "--steps", "2", "--out", out], {
      cwd: repoRoot, encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("gates failed");
    expect(r.stderr).toMatch(/agreement pronoun_gender 0\.\d+ \(\d+\/\d+\) < 0\.99/);
    expect(existsSync(path.join(out, "model.safetensors"))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(out, ".work/training.json"), "utf8")).gates.failures.length).toBeGreaterThan(0);
  }, 600_000);
});

// discretized_integrated_gradients' kNN cache through attribute(): one file per embedding table and k under
// cacheDir, read back on the next call with the same results, a corrupt file rebuilt (not trusted), and no file
// with saveCache false or cacheDir null.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, type Model } from "../../lib/index.js";
import { repoRoot, testDevice } from "../helpers.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "inseq-dig-cache-"));
let model: Model;
beforeAll(async () => {
  model = await loadModel(path.join(repoRoot, "test/fixtures/reference/gpt2"), { device: testDevice });
});
afterAll(async () => {
  await model.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const run = (methodArgs: Record<string, unknown>) =>
  model.attribute("He was", { method: "discretized_integrated_gradients", generatedTexts: "He was in the park", methodArgs: { nSteps: 6, ...methodArgs } })
    .then((o) => Array.from(o.sequenceAttributions[0]!.targetAttributions!.data));

describe("discretized_integrated_gradients kNN cache", () => {
  it("writes <table hash>-k<k>.bin, reads it back, and rebuilds a corrupt one", async () => {
    const cacheDir = path.join(dir, "a", "b");  // created on demand
    const first = await run({ cacheDir, nNeighbors: 12 });
    const files = readdirSync(cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{16}-k12\.bin$/);
    const file = path.join(cacheDir, files[0]!);
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, 8).toString("latin1")).toBe("INSEQKNN");
    // V x k int64 indices + float32 distances, a 48-byte header and an 8-byte checksum
    expect(bytes.length).toBe(48 + 300 * 12 * 12 + 8);
    expect(await run({ cacheDir, nNeighbors: 12 })).toEqual(first);
    // garbage in place of the neighbour lists: the checksum fails, the graph is rebuilt and rewritten
    const bad = Buffer.from(bytes);
    bad.fill(7, 48, 48 + 300 * 12 * 8);
    writeFileSync(file, bad);
    expect(await run({ cacheDir, nNeighbors: 12 })).toEqual(first);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    // another k is another file; the strategy and the path do not change the graph
    await run({ cacheDir, nNeighbors: 5, method: "maxcount" });
    expect(readdirSync(cacheDir).sort()).toEqual([files[0]!, files[0]!.replace("-k12", "-k5")].sort());
  });

  it("writes nothing with saveCache false or cacheDir null, and gives the same scores", async () => {
    const cacheDir = path.join(dir, "c");
    const saved = await run({ cacheDir: path.join(dir, "d") });
    expect(await run({ cacheDir, saveCache: false })).toEqual(saved);
    expect(() => readdirSync(cacheDir)).toThrow();
    expect(await run({ cacheDir: null })).toEqual(saved);
    expect(await run({ cacheDir: path.join(dir, "d"), overwriteCache: true })).toEqual(saved);
  });
});

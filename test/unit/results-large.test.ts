/**
 * Saving long outputs: the streamed document equals the whole-text one byte for byte (plain and gzip, several
 * tensor chunks), a 4,000 x 4,000 map saved as float16 loads back within half precision, and the save's extra
 * memory stays far below the size of its JSON text (sampled, after a full
 * collection, while the save streams).
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { outputDocumentChunks } from "../../lib/results/document-chunks.js";
import { TENSOR_CHUNK_VALUES } from "../../lib/results/inseq-codecs.js";
import { serializeOutputDocument } from "../../lib/results/inseq-json.js";
import { longOutput } from "../fixtures/viz/long-output.js";
import { tempDir } from "../helpers.js";

const dir = tempDir("results-large");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("streamed save of long outputs", () => {
  it("the chunks concatenate to the whole document (several chunks per tensor, both precisions)", () => {
    const out = longOutput(300); // 90,000 values: 2 chunks
    expect(300 * 300).toBeGreaterThan(TENSOR_CHUNK_VALUES);
    for (const scoresPrecision of ["float32", "float16"] as const) {
      const chunks = [...outputDocumentChunks(out, { scoresPrecision })];
      expect(chunks.length).toBeGreaterThan(4);
      expect(Buffer.concat(chunks).toString("latin1")).toBe(serializeOutputDocument(out, { scoresPrecision }));
    }
  });

  it("save (streamed gzip) and saveSync write the same bytes as gzipping the whole text", async () => {
    const out = longOutput(300);
    const a = await out.save(path.join(dir, "a.json.gz"), { compress: true });
    const b = out.saveSync(path.join(dir, "b.json.gz"), { compress: true });
    const whole = gzipSync(Buffer.from(serializeOutputDocument(out), "utf8"), { level: 5 });
    expect(readFileSync(a[0]!).equals(whole)).toBe(true);
    expect(readFileSync(b[0]!).equals(whole)).toBe(true);
    const c = await out.save(path.join(dir, "c.json"), { scoresPrecision: "float16" });
    const d = out.saveSync(path.join(dir, "d.json"), { scoresPrecision: "float16" });
    expect(readFileSync(c[0]!).equals(readFileSync(d[0]!))).toBe(true);
  });

  it("a 4,000-token map: float16 round trip within 1e-3, extra live memory while saving << JSON text", async () => {
    const n = 4000;
    const out = longOutput(n);
    const file = path.join(dir, "long.json");
    // Live memory: a full collection before each sample, so chunks already written (garbage) do not count.
    v8.setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const sample = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const base = sample();
    let peak = base;
    let samples = 0;
    const timer = setInterval(() => {
      peak = Math.max(peak, sample());
      samples++;
    }, 25);
    await out.save(file, { scoresPrecision: "float16" });
    clearInterval(timer);
    peak = Math.max(peak, sample());
    const size = statSync(file).size;
    const extra = peak - base;
    console.log(`4000x4000 float16 save: file ${(size / 2 ** 20).toFixed(1)} MiB, peak extra heap+buffers ${(extra / 2 ** 20).toFixed(1)} MiB over ${samples} samples`);
    expect(samples).toBeGreaterThan(5);
    // A whole-text save holds the text (size bytes as a one-byte string) plus its base64 pieces and half copy.
    expect(extra).toBeLessThan(size / 4);

    const back = await FeatureAttributionOutput.load(file);
    const a = out.sequenceAttributions[0]!.sourceAttributions!;
    const b = back.sequenceAttributions[0]!.sourceAttributions!;
    expect(b.shape).toEqual([n, n]);
    let maxDiff = 0;
    for (let i = 0; i < a.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.data[i]! - b.data[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1e-3);
    expect(back.sequenceAttributions[0]!.source.length).toBe(n);
  }, 60_000);
});

/**
 * lib/results/io.ts: one save/load behind the sync and async methods (same bytes either way), atomic writes
 * with ERR_IO / ERR_DISK_FULL, and the file bytes `inseq merge` writes through `encodeOutputFile`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";

import { ErrorCode } from "../../lib/core/errors.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { encodeOutputFile, loadOutput, loadOutputSync, saveOutput, saveOutputSync } from "../../lib/results/io.js";
import { rejection, repoRoot, tempDir } from "../helpers.js";
import { twoSequenceOutput } from "../fixtures/viz/outputs.js";

const dir = tempDir("results-io");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const leftovers = () => readdirSync(dir, { recursive: true }).filter((f) => String(f).includes(".tmp-"));

describe("save / saveSync / encodeOutputFile", () => {
  it("write the same bytes, plain and gzip, whole and split", async () => {
    const out = twoSequenceOutput();
    for (const options of [{}, { compress: true }, { scoresPrecision: "float16" as const }, { splitSequences: true }, { splitSequences: true, compress: true }]) {
      const tag = JSON.stringify(options).replace(/\W+/g, "_");
      const a = await out.save(path.join(dir, `async${tag}.json`), options);
      const b = out.saveSync(path.join(dir, `sync${tag}.json`), options);
      expect(a.length).toBe(b.length);
      a.forEach((p, i) => expect(readFileSync(p).equals(readFileSync(b[i]!)), `${tag} file ${i}`).toBe(true));
      if (!options.splitSequences) {
        const bytes = await encodeOutputFile(out, options);
        expect(Buffer.from(bytes).equals(readFileSync(a[0]!))).toBe(true);
        const text = options.compress ? gunzipSync(readFileSync(a[0]!)).toString("utf8") : readFileSync(a[0]!, "utf8");
        expect(text).toBe(out.toJSONString(options));
      }
    }
    expect(leftovers()).toEqual([]);
  });

  it("the methods are the io functions (same paths, same bytes)", async () => {
    const out = twoSequenceOutput();
    const p = path.join(dir, "fn.json");
    expect(await saveOutput(out, p)).toEqual([p]);
    expect(saveOutputSync(out, path.join(dir, "fn-sync.json"))).toEqual([path.join(dir, "fn-sync.json")]);
    expect(readFileSync(p).equals(readFileSync(path.join(dir, "fn-sync.json")))).toBe(true);
    const data = await loadOutput(p);
    expect(FeatureAttributionOutput.fromData(data).equals(out, 0)).toBe(true);
    expect(FeatureAttributionOutput.fromData(loadOutputSync(p)).equals(out, 0)).toBe(true);
  });

  it("a write that fails: ERR_IO naming the file, nothing left behind, an earlier file kept", async () => {
    const out = twoSequenceOutput();
    const missing = path.join(dir, "no-such-dir", "out.json");
    const err = await rejection(out.save(missing));
    expect(err.code).toBe(ErrorCode.IO);
    expect(err.message).toContain(missing);
    expect(err.message).toContain("save again");
    expect(() => out.saveSync(missing)).toThrow(expect.objectContaining({ code: ErrorCode.IO }));
    // The target is a directory: the rename fails after the temporary file was written.
    const target = path.join(dir, "taken.json");
    mkdirSync(target);
    writeFileSync(path.join(target, "inside"), "kept");
    expect((await rejection(out.save(target, { overwrite: true }))).code).toBe(ErrorCode.IO);
    expect(readFileSync(path.join(target, "inside"), "utf8")).toBe("kept");
    expect(leftovers()).toEqual([]);
  });

  it("existing files are refused before anything is written (every split file is checked first)", async () => {
    const out = FeatureAttributionOutput.merge([twoSequenceOutput(), twoSequenceOutput()]);
    const base = path.join(dir, "refuse.json");
    await out.save(base, { splitSequences: true });
    expect(existsSync(path.join(dir, "refuse_0.json"))).toBe(true);
    rmSync(path.join(dir, "refuse_0.json"));
    writeFileSync(path.join(dir, "refuse_1.json"), "mine");
    const err = await rejection(out.save(base, { splitSequences: true }));
    expect(err.code).toBe(ErrorCode.INVALID_OPTION);
    expect(existsSync(path.join(dir, "refuse_0.json"))).toBe(false);
    expect(readFileSync(path.join(dir, "refuse_1.json"), "utf8")).toBe("mine");
  });
});

describe("load / loadSync", () => {
  it("read Python Inseq's files (plain and gzip) the same way", async () => {
    for (const f of ["py-granular.json", "py-granular.json.gz", "py-granular-f16.json", "py-attention.json"]) {
      const file = path.join(repoRoot, "test/fixtures/results", f);
      const a = await FeatureAttributionOutput.load(file);
      const b = FeatureAttributionOutput.loadSync(file);
      expect(a.equals(b, 0), f).toBe(true);
    }
  });

  it("a missing file is ERR_NOT_FOUND; decompress: true on a plain file is ERR_INVALID_OPTION", async () => {
    const missing = path.join(dir, "missing.json");
    expect((await rejection(FeatureAttributionOutput.load(missing))).code).toBe(ErrorCode.NOT_FOUND);
    expect(() => FeatureAttributionOutput.loadSync(missing)).toThrow(expect.objectContaining({ code: ErrorCode.NOT_FOUND }));
    const plain = path.join(repoRoot, "test/fixtures/results/py-granular.json");
    expect((await rejection(FeatureAttributionOutput.load(plain, { decompress: true }))).code).toBe(ErrorCode.INVALID_OPTION);
  });
});

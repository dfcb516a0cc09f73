// A TorchScript bundle whose archive was truncated or edited is refused on load with ERR_BAD_MODEL (issue 10,
// items 4 and 12): a tensor storage record shorter than its tensor (LibTorch would read past the buffer) and
// code that does not compile (LibTorch raises a non-c10 error, which leaked as ERR_NATIVE).
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import zlib from "node:zlib";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, type InseqError } from "../../lib/index.js";
import { ZipReader } from "../../lib/torch/zip.js";
import { rejection, repoRoot, tempDir } from "../helpers.js";
import { writeZip, type ZipInput } from "../helpers/zip-writer.js";

const bundles = path.join(repoRoot, "test/fixtures/torchscript");
const source = path.join(bundles, "gpt2");

/** The archive's entries, in order, with their contents. */
async function readEntries(file: string): Promise<Array<{ name: string; data: Buffer }>> {
  const zip = await ZipReader.open(file);
  const scratch = mkdtempSync(path.join(os.tmpdir(), "inseq-zip-"));
  try {
    const out: Array<{ name: string; data: Buffer }> = [];
    for (const [i, entry] of zip.entries.entries()) {
      const dest = path.join(scratch, String(i));
      await zip.extract(entry, dest);
      out.push({ name: entry.name, data: readFileSync(dest) });
    }
    return out;
  } finally {
    await zip.close();
  }
}

/** A copy of the gpt2 bundle whose module archive is rewritten by `edit`. */
async function editedBundle(edit: (entries: Array<{ name: string; data: Buffer; crc32?: number }>) => void): Promise<string> {
  const dir = tempDir("bundle");
  for (const f of readdirSync(source)) if (f !== "model.torchscript") copyFileSync(path.join(source, f), path.join(dir, f));
  const entries: Array<{ name: string; data: Buffer; crc32?: number }> = await readEntries(path.join(source, "model.torchscript"));
  edit(entries);
  const zip: ZipInput[] = entries.map((e) => ({ name: e.name, data: e.data, store: true, crc32: e.crc32 }));
  writeFileSync(path.join(dir, "model.torchscript"), writeZip(zip));
  return dir;
}

/** Why loading the bundle in `dir` fails (a bundle that loads is disposed and fails the test). */
const loadError = (dir: string): Promise<InseqError> => rejection(loadModel(dir, { device: "cpu", kind: "decoder-only" }).then((m) => m.dispose()));

describe("TorchScript bundle integrity", () => {
  it("the archive rewritten unchanged still loads (the test's zip writer is faithful)", async () => {
    const dir = await editedBundle(() => {});
    const m = await loadModel(dir, { device: "cpu", kind: "decoder-only" });
    expect(m.info.family).toBe("torchscript");
    await m.dispose();
  });

  it("a truncated tensor storage is refused, naming the tensor and its size", async () => {
    const dir = await editedBundle((entries) => {
      const data = entries.filter((e) => /\/data\/\d+$/.test(e.name)).sort((a, b) => b.data.length - a.data.length)[0]!;
      data.data = data.data.subarray(0, data.data.length / 2);
    });
    const e = await loadError(dir);
    expect(e.code).toBe("ERR_BAD_MODEL");
    expect(e.message).toContain(path.join(dir, "model.torchscript"));
    expect(e.message).toMatch(/: tensor \S*wte\S* needs a storage of 38400 bytes but no storage record in the archive has that size \(truncated or corrupt bundle\)/);
  });

  it("a flipped byte in a weight record (its CRC-32 left stale) is refused, naming the record", async () => {
    const dir = await editedBundle((entries) => {
      const data = entries.find((e) => e.name.endsWith("/data/4"))!;
      data.crc32 = zlib.crc32(data.data);
      data.data = Buffer.from(data.data);
      data.data[1000] ^= 0xff;
    });
    const e = await loadError(dir);
    expect(e.code).toBe("ERR_BAD_MODEL");
    expect(e.message).toMatch(/: record model\/data\/4 has CRC-32 [0-9a-f]{8} but the archive records [0-9a-f]{8} \(truncated or corrupt bundle\)/);
  });

  it("module code that does not compile is ERR_BAD_MODEL, not ERR_NATIVE", async () => {
    const dir = await editedBundle((entries) => {
      const code = entries.find((e) => e.name.endsWith("code/__torch__/export_torchscript.py"))!;
      code.data = Buffer.from(code.data.toString().replace(/Tensor/g, "Tensr"));  // parses, but names an unknown type
    });
    const e = await loadError(dir);
    expect(e.code).toBe("ERR_BAD_MODEL");
    expect(e.message).toContain(`Cannot load ${path.join(dir, "model.torchscript")}`);
    expect(e.message).toContain("Unknown type name 'Tensr'");
  });

  // [bundle, sidecar edit, what the message names]
  const SIDECARS: Array<[string, Record<string, unknown>, string]> = [
    ["gpt2", { bos_token_id: -5 }, "bos_token_id must be a token id (>= 0) or null"],
    ["bart", { eos_token_id: [2, -1] }, "eos_token_id must be a token id (>= 0) or null"],
    ["gpt2", { max_positions: 0 }, "max_positions must be at least 2"],
    ["llama", { num_layers: 3 }, "num_layers 3 disagrees with the 2 layers of forward_attentions"],
    ["gpt2", { num_heads: 2 }, "the head count 2 disagrees with forward_attentions"],
    ["bart", { num_layers: 3 }, "num_layers 3 disagrees with the 2 layers of forward_attentions' cross attentions"],
    ["marian", { encoder_layers: 1 }, "encoder_layers 1 disagrees with the 2 layers of forward_attentions' encoder attentions"],
  ];
  for (const [name, edit, message] of SIDECARS) {
    it(`${name}: sidecar ${JSON.stringify(edit)} is refused (ERR_BAD_MODEL)`, async () => {
      const dir = tempDir("sidecar");
      for (const f of readdirSync(path.join(bundles, name))) copyFileSync(path.join(bundles, name, f), path.join(dir, f));
      const sidecar = JSON.parse(readFileSync(path.join(dir, "inseq_bundle.json"), "utf8"));
      writeFileSync(path.join(dir, "inseq_bundle.json"), JSON.stringify({ ...sidecar, ...edit }));
      const seq2seq = sidecar.model_kind === "encoder-decoder";
      const err = await rejection((seq2seq ? loadSeq2SeqModel(dir, { device: "cpu" }) : loadModel(dir, { device: "cpu", kind: "decoder-only" })).then((m) => m.dispose()));
      expect(err.code).toBe("ERR_BAD_MODEL");
      expect(err.message).toContain(message);
      expect(err.message).toContain(path.join(dir, "inseq_bundle.json"));
    });
  }
});

// The model-randomisation sanity check (cascading, Adebayo et al. 2018): spearman on hand-computed values, the
// cascade's directories (which tensors change at each step, in F32 single-file and BF16 / F16 sharded
// checkpoints), refusals, and randomizationCheck with saliency against a model-ignoring control.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

import { defaultModelDir, loadModel, type AnyModel, type Model } from "../../lib/index.js";
import { ErrorCode } from "../../lib/core/errors.js";
import { decodeSafetensors, float32ToFloat16Bits } from "../../lib/results/inseq-codecs.js";
import { readCheckpointTensors, type CheckpointTensor } from "../../lib/evaluation/checkpoint-tensors.js";
import {
  blockOf, cascadeBlocks, cascadingRandomizations, randomizationCheck, writeCascadingRandomizations,
} from "../../lib/evaluation/randomize.js";
import { averageRanks, spearman } from "../../lib/evaluation/spearman.js";
import type { EvalItem } from "../../lib/evaluation/types.js";
import { rejection, repoRoot, tempDir, testDevice } from "../helpers.js";

/** Awaits `p`, expecting an InseqError of `code` whose message matches `pattern`. */
async function expectInseqError(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  const err = await rejection(p);
  expect(err.code).toBe(code);
  if (pattern) expect(err.message).toMatch(pattern);
}

describe("spearman", () => {
  it("average ranks for ties", () => {
    expect([...averageRanks([10, 20, 20, 5])]).toEqual([2, 3.5, 3.5, 1]);
    expect([...averageRanks([1, 1, 1])]).toEqual([2, 2, 2]);
  });

  it("hand-computed values, with ties", () => {
    // ranks b: 1, 2, 3.5, 5, 3.5; centred a: -2..2, b: -2, -1, .5, 2, .5 -> 8 / sqrt(10 * 9.5) (scipy: 0.8207826816681233)
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(8 / Math.sqrt(95), 12);
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 12);
    // ties on both sides: ranks a 1.5 1.5 3 4, b 1 2.5 2.5 4 -> centred a -1 -1 .5 1.5, b -1.5 0 0 1.5:
    // sab = 1.5 + 0 + 0 + 2.25 = 3.75, saa = 4.5, sbb = 4.5 -> 3.75 / 4.5
    expect(spearman([0, 0, 1, 2], [3, 4, 4, 9])).toBeCloseTo(3.75 / 4.5, 12);
    expect(spearman([1, 2, 3], [30, 20, 10])).toBe(-1);
    expect(spearman([0.1, 0.5, 0.2], [1, 9, 4])).toBe(1);
  });

  it("constant vectors: both 1, one 0; bad input throws", () => {
    expect(spearman([2, 2, 2], [7, 7, 7])).toBe(1);
    expect(spearman([2, 2, 2], [1, 2, 3])).toBe(0);
    expect(spearman([], [])).toBe(1);
    expect(() => spearman([1, 2], [1])).toThrow(/same length/);
    expect(() => spearman([1, NaN], [1, 2])).toThrow(/finite/);
  });
});

describe("block names", () => {
  it("Llama, GPT-2, GPT-NeoX, Marian / BART; cascade order top first, decoder before encoder", () => {
    expect(blockOf("model.layers.12.mlp.up_proj.weight")).toBe("layers.12");
    expect(blockOf("gpt_neox.layers.7.attention.query_key_value.weight")).toBe("layers.7");
    expect(blockOf("gpt_neox.embed_in.weight")).toBeNull();
    expect(blockOf("embed_out.weight")).toBeNull();
    expect(blockOf("transformer.h.3.attn.c_attn.weight")).toBe("h.3");
    expect(blockOf("model.decoder.layers.5.fc1.weight")).toBe("decoder.5");
    expect(blockOf("model.encoder.layers.0.fc1.weight")).toBe("encoder.0");
    expect(blockOf("model.embed_tokens.weight")).toBeNull();
    expect(blockOf("lm_head.weight")).toBeNull();
    expect(cascadeBlocks(["model.layers.0.a", "model.layers.10.a", "model.layers.2.b", "model.norm.weight"])).toEqual(["layers.10", "layers.2", "layers.0"]);
    expect(cascadeBlocks(["model.encoder.layers.0.x", "model.encoder.layers.1.x", "model.decoder.layers.0.x", "model.decoder.layers.1.x", "model.shared.weight"]))
      .toEqual(["decoder.1", "decoder.0", "encoder.1", "encoder.0"]);
  });
});

/** The raw bytes of every tensor of a model directory, by name. */
function tensorBytes(dir: string, tensors: CheckpointTensor[]): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const out = new Map<string, Buffer>();
  for (const t of tensors) {
    if (!files.has(t.file)) files.set(t.file, readFileSync(path.join(dir, t.file)));
    out.set(t.name, files.get(t.file)!.subarray(t.begin, t.end));
  }
  return out;
}

/** Writes a multi-tensor safetensors file (test helper): tensors as float32 values, stored in `dtype`. */
function writeSafetensors(file: string, tensors: Array<{ name: string; shape: number[]; data: Float32Array }>, dtype: "F32" | "F16" | "BF16"): void {
  const size = dtype === "F32" ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * size] };
    offset += t.data.length * size;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const data = Buffer.alloc(offset);
  let o = 0;
  const u32 = new Uint32Array(1), f32 = new Float32Array(u32.buffer);
  for (const t of tensors) {
    for (const v of t.data) {
      if (dtype === "F32") data.writeFloatLE(v, o);
      else if (dtype === "F16") data.writeUInt16LE(float32ToFloat16Bits(v), o);
      else { f32[0] = v; data.writeUInt16LE(((u32[0]! + 0x7fff + ((u32[0]! >>> 16) & 1)) >>> 16) & 0xffff, o); }
      o += size;
    }
  }
  writeFileSync(file, Buffer.concat([head, Buffer.from(json), data]));
}

/** Writes a safetensors file of raw tensors (any dtype). */
function writeRawSafetensors(file: string, tensors: Array<{ name: string; dtype: string; shape: number[]; bytes: Buffer }>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(file, Buffer.concat([head, Buffer.from(json), ...tensors.map((t) => t.bytes)]));
}

/** The default model re-saved as `shards` safetensors shards in `dtype`, with an index. */
function shardedCopy(dtype: "F16" | "BF16", shards: number): string {
  const src = defaultModelDir();
  const dir = tempDir(`sharded-${dtype}`);
  for (const f of readdirSync(src, { withFileTypes: true })) {
    if (f.isFile() && f.name !== "model.safetensors") copyFileSync(path.join(src, f.name), path.join(dir, f.name));
  }
  const bytes = readFileSync(path.join(src, "model.safetensors"));
  const hlen = Number(bytes.readBigUInt64LE(0));
  const names = Object.keys(JSON.parse(bytes.toString("utf8", 8, 8 + hlen))).filter((n) => n !== "__metadata__");
  const tensors = names.map((name) => decodeSafetensors(bytes, name));
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const part = tensors.slice(s * per, (s + 1) * per);
    writeSafetensors(path.join(dir, file), part, dtype);
    for (const t of part) weightMap[t.name] = file;
  }
  writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return dir;
}

/** Every element of a tensor's bytes equal (the element size from the dtype). */
function isConstant(bytes: Buffer, dtype: string): boolean {
  const size = dtype === "F32" ? 4 : dtype === "F64" ? 8 : 2;
  for (let o = size; o < bytes.length; o += size) if (bytes.compare(bytes, 0, size, o, o + size) !== 0) return false;
  return true;
}

const LABELS = ["top 1", "top 2", "top 3", "all blocks", "all + embeddings"];
/** The blocks each step of the default model's cascade randomises (4 layers), the last step everything. */
const expectedRandomised = (step: number, name: string) => step === 4 || (blockOf(name) !== null && 3 - Number(blockOf(name)!.split(".")[1]) < step + 1);

function checkCascade(modelDir: string, steps: Array<{ randomized: string; blocks: number; dir: string }>): void {
  const { tensors } = readCheckpointTensorsSync(modelDir);
  const original = tensorBytes(modelDir, tensors);
  expect(steps.map((s) => s.randomized)).toEqual(LABELS);
  expect(steps.map((s) => s.blocks)).toEqual([1, 2, 3, 4, 4]);
  let previous: Map<string, Buffer> | null = null;
  steps.forEach((step, k) => {
    const read = readCheckpointTensorsSync(step.dir);
    expect(read.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(tensors.map((t) => [t.name, t.dtype, t.shape]));
    const now = tensorBytes(step.dir, read.tensors);
    for (const t of tensors) {
      const changed = !now.get(t.name)!.equals(original.get(t.name)!);
      expect({ step: step.randomized, name: t.name, changed }).toEqual({ step: step.randomized, name: t.name, changed: expectedRandomised(k, t.name) });
      // Nested cascade: a tensor randomised at the previous step has the same values now.
      if (previous && !previous.get(t.name)!.equals(original.get(t.name)!)) expect(now.get(t.name)!.equals(previous.get(t.name)!)).toBe(true);
    }
    previous = now;
  });
}

// readCheckpointTensors is async; the checks above are easier to read synchronously.
let headerCache = new Map<string, { tensors: CheckpointTensor[] }>();
function readCheckpointTensorsSync(dir: string): { tensors: CheckpointTensor[] } {
  const hit = headerCache.get(dir);
  if (!hit) throw new Error(`headers of ${dir} not preloaded`);
  return hit;
}
async function preload(...dirs: string[]): Promise<void> {
  for (const d of dirs) headerCache.set(d, await readCheckpointTensors(d));
}

describe("cascading randomisation of checkpoints", () => {
  const cleanup: string[] = [];
  afterAll(() => {
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
    headerCache = new Map();
  });

  it("default model (F32, one file): L + 1 directories whose tensors differ exactly in the randomised blocks, and that load and run", async () => {
    const out = tempDir("cascade");
    cleanup.push(out);
    const steps = await writeCascadingRandomizations(defaultModelDir(), { seed: 3, outDir: out });
    await preload(defaultModelDir(), ...steps.map((s) => s.dir));
    checkCascade(defaultModelDir(), steps);
    // Config and tokenizer come along; the eval-set folder and other weights do not.
    expect(existsSync(path.join(steps[0]!.dir, "tokenizer.json"))).toBe(true);
    expect(existsSync(path.join(steps[0]!.dir, "grammar"))).toBe(false);
    // Re-initialised with the tensor's own mean and std.
    const bytes = readFileSync(path.join(defaultModelDir(), "model.safetensors"));
    const randomised = readFileSync(path.join(steps[4]!.dir, "model.safetensors"));
    for (const name of ["model.layers.3.mlp.up_proj.weight", "model.embed_tokens.weight"]) {
      const a = decodeSafetensors(bytes, name).data, b = decodeSafetensors(randomised, name).data;
      const moments = (x: Float32Array) => {
        const m = x.reduce((s, v) => s + v, 0) / x.length;
        return [m, Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length)] as const;
      };
      const [ma, sa] = moments(a), [mb, sb] = moments(b);
      expect(Math.abs(mb - ma)).toBeLessThan(0.05 * sa);
      expect(sb / sa).toBeGreaterThan(0.95);
      expect(sb / sa).toBeLessThan(1.05);
    }
    // Same seed, same values; another seed, others.
    const again = await writeCascadingRandomizations(defaultModelDir(), { seed: 3, outDir: tempDir("cascade-again") });
    const other = await writeCascadingRandomizations(defaultModelDir(), { seed: 4, outDir: tempDir("cascade-other") });
    cleanup.push(path.dirname(again[0]!.dir), path.dirname(other[0]!.dir));
    expect(readFileSync(path.join(again[2]!.dir, "model.safetensors")).equals(readFileSync(path.join(steps[2]!.dir, "model.safetensors")))).toBe(true);
    expect(readFileSync(path.join(other[2]!.dir, "model.safetensors")).equals(readFileSync(path.join(steps[2]!.dir, "model.safetensors")))).toBe(false);
    // Every step loads and generates.
    for (const step of steps) {
      const model = await loadModel(step.dir, { device: testDevice, kind: "decoder-only" });
      try {
        const [text] = (await model.generate("the window beside", { maxNewTokens: 3 })) as string[];
        expect(typeof text).toBe("string");
      } finally {
        await model.dispose();
      }
    }
  });

  for (const dtype of ["BF16", "F16"] as const) {
    it(`${dtype} sharded checkpoint: the untouched shards are shared, the others rewritten in ${dtype}; it loads`, async () => {
      const src = shardedCopy(dtype, 3);
      const out = tempDir(`cascade-${dtype}`);
      cleanup.push(src, out);
      const steps = await writeCascadingRandomizations(src, { outDir: out });
      await preload(src, ...steps.map((s) => s.dir));
      checkCascade(src, steps);
      expect(readCheckpointTensorsSync(steps[0]!.dir).tensors.every((t) => t.dtype === dtype)).toBe(true);
      expect(existsSync(path.join(steps[0]!.dir, "model.safetensors.index.json"))).toBe(true);
      // Step 1 randomises the top block only: the shard(s) without it are hard links to the original ones.
      const touched = new Set(readCheckpointTensorsSync(src).tensors.filter((t) => blockOf(t.name) === "layers.3").map((t) => t.file));
      const files = [...new Set(readCheckpointTensorsSync(src).tensors.map((t) => t.file))];
      expect(files).toHaveLength(3);
      for (const f of files) {
        const same = statSync(path.join(src, f)).ino === statSync(path.join(steps[0]!.dir, f)).ino;
        expect({ f, same }).toEqual({ f, same: !touched.has(f) });
      }
      const model = await loadModel(steps[1]!.dir, { device: testDevice, kind: "decoder-only" });
      try {
        expect((await model.generate("the window beside", { maxNewTokens: 2 })).length).toBe(1);
      } finally {
        await model.dispose();
      }
    });
  }

  it.each([
    ["reference/gpt2", ["h.1", "h.0"]],
    ["reference/llama-sharded", ["layers.1", "layers.0"]],
    ["reference-seq2seq/marian", ["decoder.1", "decoder.0", "encoder.1", "encoder.0"]],
    ["reference-seq2seq/bart", ["decoder.1", "decoder.0", "encoder.1", "encoder.0"]],
    ["reference-seq2seq/t5", ["decoder.1", "decoder.0", "encoder.1", "encoder.0"]],
  ])("%s: blocks in cascade order (decoder before encoder), each step's randomised blocks differ, the last step loads", async (fixture, blocks) => {
    const src = path.join(repoRoot, "test/fixtures", fixture);
    const { tensors } = await readCheckpointTensors(src);
    expect(cascadeBlocks(tensors.map((t) => t.name))).toEqual(blocks);
    const out = tempDir("cascade-fixture");
    cleanup.push(out);
    const steps = await writeCascadingRandomizations(src, { outDir: out });
    expect(steps.map((s) => s.randomized)).toEqual([...blocks.slice(0, -1).map((_, k) => `top ${k + 1}`), "all blocks", "all + embeddings"]);
    const original = tensorBytes(src, tensors);
    for (const [k, step] of steps.entries()) {
      const now = tensorBytes(step.dir, (await readCheckpointTensors(step.dir)).tensors);
      for (const t of tensors) {
        const b = blockOf(t.name);
        const expected = k === blocks.length || (b !== null && blocks.indexOf(b) <= k);
        // A constant tensor (a zero bias, final_logits_bias) stays the same when re-initialised.
        if (!expected || !isConstant(original.get(t.name)!, t.dtype)) {
          expect({ step: k, name: t.name, changed: !now.get(t.name)!.equals(original.get(t.name)!) }).toEqual({ step: k, name: t.name, changed: expected });
        }
      }
    }
    const model = await loadModel(steps.at(-1)!.dir, { device: testDevice });
    try {
      expect((await (model as Model).generate("So Ben too", { maxNewTokens: 2 })).length).toBe(1); // same call for both kinds
    } finally {
      await model.dispose();
    }
  });

  it("one step at a time: each directory exists until the next step, nothing is left afterwards", async () => {
    const seen: string[] = [];
    for await (const step of cascadingRandomizations(defaultModelDir(), { seed: 1 })) {
      expect(existsSync(path.join(step.dir, "model.safetensors"))).toBe(true);
      for (const d of seen) expect(existsSync(d)).toBe(false);
      seen.push(step.dir);
    }
    expect(seen).toHaveLength(5);
    expect(existsSync(path.dirname(seen[0]!))).toBe(false);
    // Stopping early deletes the current step too.
    for await (const step of cascadingRandomizations(defaultModelDir())) {
      seen.push(step.dir);
      break;
    }
    expect(existsSync(seen[5]!)).toBe(false);
    const controller = new AbortController();
    controller.abort();
    await expectInseqError(writeCascadingRandomizations(defaultModelDir(), { signal: controller.signal, outDir: tempDir("aborted") }), ErrorCode.ABORTED);
  });

  it("TorchScript bundles, checkpoints without safetensors and unknown layouts are refused with ERR_UNSUPPORTED_MODEL", async () => {
    const bundle = tempDir("bundle");
    const bin = tempDir("bin");
    const odd = tempDir("odd");
    cleanup.push(bundle, bin, odd);
    writeFileSync(path.join(bundle, "inseq_bundle.json"), JSON.stringify({ model_kind: "decoder-only" }));
    writeFileSync(path.join(bin, "config.json"), "{}");
    writeFileSync(path.join(bin, "pytorch_model.bin"), "x");
    mkdirSync(odd, { recursive: true });
    writeSafetensors(path.join(odd, "model.safetensors"), [{ name: "backbone.stage.0.weight", shape: [2], data: new Float32Array([1, 2]) }], "F32");
    await expectInseqError(writeCascadingRandomizations(bundle), ErrorCode.UNSUPPORTED_MODEL, /TorchScript bundle/);
    await expectInseqError(writeCascadingRandomizations(bin), ErrorCode.UNSUPPORTED_MODEL, /safetensors/);
    await expectInseqError(writeCascadingRandomizations(odd), ErrorCode.UNSUPPORTED_MODEL, /No transformer blocks.*backbone\.stage\.0\.weight/);
    // Integer tensors: refused inside a block (quantised weights), kept outside (buffers).
    const quantised = tempDir("quantised");
    cleanup.push(quantised);
    const int8 = (name: string, values: number[]) => ({ name, dtype: "I8", shape: [values.length], bytes: Buffer.from(Int8Array.from(values).buffer) });
    writeRawSafetensors(path.join(quantised, "model.safetensors"), [int8("model.layers.0.mlp.up_proj.weight", [1, -2, 3])]);
    await expectInseqError(writeCascadingRandomizations(quantised), ErrorCode.UNSUPPORTED_MODEL, /dtype I8 \(quantised\?\)/);
    writeRawSafetensors(path.join(quantised, "model.safetensors"), [
      int8("model.position_ids", [0, 1, 2]), { name: "model.layers.0.w", dtype: "F32", shape: [2], bytes: Buffer.from(new Float32Array([1, 3]).buffer) },
    ]);
    const steps = await writeCascadingRandomizations(quantised, { outDir: path.join(quantised, "out") });
    const last = await readCheckpointTensors(steps[1]!.dir);
    const bytes = tensorBytes(steps[1]!.dir, last.tensors);
    expect([...bytes.get("model.position_ids")!]).toEqual([0, 1, 2]);
    expect(bytes.get("model.layers.0.w")!.equals(Buffer.from(new Float32Array([1, 3]).buffer))).toBe(false);
  });
});

describe("randomizationCheck", () => {
  const items: EvalItem[] = [
    { id: "a", kind: "pronoun_gender", input: "the doctor , a woman from the hospital , said that", target: "she", alternatives: ["he"], evidence: [4], distractors: [] },
    { id: "b", kind: "subject_verb_number", input: "the window beside the blue letters", target: "was", alternatives: ["were"], evidence: [1], distractors: [5] },
    { id: "c", kind: "subject_verb_number", input: "the keys near the old door", target: "were", alternatives: ["was"], evidence: [1], distractors: [4] },
  ];
  /** Saliency of the target's first token over the input's tokens (the default model's tokens are words). */
  const saliency = async (model: AnyModel, its: EvalItem[]): Promise<number[][]> => {
    const out = await (model as Model).attribute(its.map((i) => i.input), {
      generatedTexts: its.map((i) => `${i.input} ${i.target}`), method: "saliency",
    });
    return out.sequenceAttributions.map((s) => {
      const t = s.targetAttributions!;
      const cols = t.shape[1]!;
      return Array.from({ length: s.attrPosStart }, (_, r) => t.data[r * cols]!);
    });
  };
  let original: number[][];
  let model: Model;
  beforeAll(async () => {
    model = await loadModel("default", { device: testDevice });
    original = await saliency(model, items);
  });
  afterAll(() => model.dispose());

  it("saliency drifts away from the trained model's as blocks are randomised; a model-ignoring control stays at exactly 1", async () => {
    const done: string[] = [];
    const steps = await randomizationCheck("default", { device: testDevice }, items, saliency, original, {
      seed: 0, onStep: (s, i, total) => done.push(`${i + 1}/${total} ${s.randomized}`),
    });
    expect(steps.map((s) => s.randomized)).toEqual(LABELS);
    expect(done).toEqual(LABELS.map((l, i) => `${i + 1}/5 ${l}`));
    for (const s of steps) expect(s.spearman).toBeLessThanOrEqual(1);
    expect(steps[3]!.spearman).toBeLessThan(0.9); // all blocks
    expect(steps[4]!.spearman).toBeLessThan(0.9); // all + embeddings
    // The control: fixed scores (the item's word positions), whatever the model.
    const fixed = (its: EvalItem[]) => its.map((i) => i.input.split(" ").map((_, k) => (k * 7) % 5));
    const control = await randomizationCheck("default", { device: testDevice }, items, async (_m, its) => fixed(its), fixed(items));
    expect(control.map((s) => s.spearman)).toEqual([1, 1, 1, 1, 1]);
  });

  it("checks the original rows and aborts", async () => {
    await expect(randomizationCheck("default", {}, items, saliency, original.slice(1))).rejects.toThrow(/one per item/);
    const controller = new AbortController();
    controller.abort();
    await expectInseqError(randomizationCheck("default", { device: testDevice }, items, saliency, original, { signal: controller.signal }), ErrorCode.ABORTED);
  });
});

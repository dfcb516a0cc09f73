// The model contract (lib/contract/model-contract.ts) without LibTorch: both kinds, built on fake native models
// and the fixtures' tokenizers, satisfy it, resolve generate() to the same shape, encode()/decode() on both, and
// dispose() waits for in-flight calls (generate, attribute) before it frees the native model once.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";

// Native jobs take a CancelToken from the addon: a plain one stands in for it here.
vi.mock("../../lib/native/load.js", () => ({ native: () => ({ CancelToken: class { cancel(): void {} } }) }));

import { LAYOUTS, type GenerationOutput, type ModelContract } from "../../lib/contract/model-contract.js";
import type {
  NativeAttributionRequest, NativeAttributionResult, NativeModel, NativeModelInfo, NativeSeq2SeqInfo, NativeSeq2SeqModel,
} from "../../lib/native/binding-types.js";
import { Model } from "../../lib/models/model.js";
import { Seq2SeqModel } from "../../lib/models/seq2seq-model.js";
import { TextTokenizer } from "../../lib/tokenizers/tokenizer.js";
import { expectCode, referenceDir, repoRoot } from "../helpers.js";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => { resolve = res; });
  return { promise, resolve };
}

/** What a fake native model records and how long its jobs take. */
interface Fake {
  events: string[];
  /** Jobs wait for this before they resolve. */
  gate: Promise<void>;
  requests: NativeAttributionRequest[];
}

// generate: two tokens (7, 8) per row with log-probabilities -1, -2; attribute: zeros [rows, steps].
function fakeCommon(fake: Fake) {
  return {
    async generate(_ids: Int32Array, lengths: Int32Array) {
      fake.events.push("generate");
      await fake.gate;
      const rows = lengths.length;
      return {
        ids: Int32Array.from({ length: rows * 2 }, (_, k) => (k % 2 === 0 ? 7 : 8)),
        lengths: Int32Array.from({ length: rows }, () => 2),
        logprobs: Float32Array.from({ length: rows * 2 }, (_, k) => -1 - (k % 2)),
      };
    },
    async attribute(request: NativeAttributionRequest): Promise<NativeAttributionResult> {
      fake.events.push("attribute");
      fake.requests.push(request);
      await fake.gate;
      const lengths = [...request.sequences.lengths];
      return {
        kind: "coarse", extraDims: [],
        sequences: lengths.map((n, i) => {
          const steps = request.attrEnd[i]! - request.attrStart[i]!;
          return { attributions: { shape: [n, steps], data: new Float32Array(n * steps) }, stepScores: {}, sequenceScores: {} };
        }),
      };
    },
    dispose() {
      fake.events.push("freed");
    },
  };
}

function fakeDecoder(fake: Fake): NativeModel {
  const info: NativeModelInfo = {
    modelType: "llama", family: "llama", vocabSize: 300, hiddenSize: 16, numLayers: 2, numHeads: 2, numKvHeads: 2, headDim: 8,
    maxPositionEmbeddings: 128, numParameters: 1, bosTokenId: 0, padTokenId: 0, eosTokenIds: [0], device: "cpu", dtype: "float32",
  };
  return { ...fakeCommon(fake), info: () => info, forward: () => Promise.reject(new Error("not used")) };
}

function fakeSeq2Seq(fake: Fake): NativeSeq2SeqModel {
  const info: NativeSeq2SeqInfo = {
    modelType: "bart", family: "seq2seq", implementation: "native", vocabSize: 160, sourceVocabSize: 160, hiddenSize: 16, numLayers: 2,
    numEncoderLayers: 2, numHeads: 2, maxPositions: 128, padTokenId: 1, bosTokenId: 0, unkTokenId: 3, eosTokenIds: [2], eosTokenId: 2,
    decoderStartTokenId: 2, embedScale: 1, hasAttentions: true, device: "cpu", dtype: "float32",
  };
  return { ...fakeCommon(fake), info: () => info, forward: () => Promise.reject(new Error("not used")) };
}

const meta = { name: "fake", path: "/fake", modelClass: "Fake", tokenizerClass: "Fake" };

async function both(fake: Fake): Promise<{ decoder: Model; seq2seq: Seq2SeqModel }> {
  const llamaTok = await TextTokenizer.fromDir(referenceDir("llama"));
  const bartTok = await TextTokenizer.fromDir(path.join(repoRoot, "test/fixtures/reference-seq2seq/bart"));
  return {
    decoder: new Model(fakeDecoder(fake), llamaTok, { ...meta, generationEos: [] }),
    seq2seq: new Seq2SeqModel(fakeSeq2Seq(fake), bartTok, bartTok, meta),
  };
}

const newFake = (): Fake => ({ events: [], gate: Promise.resolve(), requests: [] });

describe("model contract", () => {
  it("both kinds implement it, with their kind's layout", async () => {
    const { decoder, seq2seq } = await both(newFake());
    const models: ModelContract[] = [decoder, seq2seq];
    expect(models.map((m) => m.kind)).toEqual(["decoder-only", "encoder-decoder"]);
    expect(decoder.layout).toBe(LAYOUTS["decoder-only"]);
    expect(seq2seq.layout).toBe(LAYOUTS["encoder-decoder"]);
    expect(decoder.layout.targetFloor(5)).toBe(5);
    expect(seq2seq.layout.targetFloor(5)).toBe(1);
    expect(decoder.targetTokenizer).toBe(decoder.tokenizer);
  });

  it("generate() resolves to the same shape for both kinds", async () => {
    const { decoder, seq2seq } = await both(newFake());
    const shape = (out: GenerationOutput) => out.sequences.map((s) => Object.keys(s).sort());
    const keys = ["generatedIds", "ids", "logprobs", "promptIds", "text"];
    const a = await decoder.generate(["hello", "a b"], { maxNewTokens: 2, returnIds: true });
    const b = await seq2seq.generate(["hello", "a b"], { maxNewTokens: 2, returnIds: true });
    expect(shape(a)).toEqual([keys, keys]);
    expect(shape(b)).toEqual([keys, keys]);
    for (const out of [a, b]) {
      expect(out.texts).toEqual(out.sequences.map((s) => s.text));
      for (const s of out.sequences) {
        expect(s.generatedIds).toEqual([7, 8]);
        expect(s.logprobs).toEqual([-1, -2]);
      }
    }
    // decoder-only: ids = prompt + generated; encoder-decoder: ids = the target, promptIds = the source
    a.sequences.forEach((s) => expect(s.ids).toEqual([...s.promptIds, ...s.generatedIds]));
    const sources = await seq2seq.encode(["hello", "a b"]);
    b.sequences.forEach((s, i) => {
      expect(s.promptIds).toEqual(sources[i]!.ids);
      expect(s.ids).toEqual(s.generatedIds);
    });
    // the texts alone without returnIds
    expect(await seq2seq.generate("hello", { maxNewTokens: 2 })).toEqual([b.texts[0]]);
  });

  it("encode() and decode() on both kinds", async () => {
    const { decoder, seq2seq } = await both(newFake());
    for (const m of [decoder, seq2seq]) {
      const [e] = await m.encode("hello world");
      expect(e!.ids.length).toBeGreaterThan(0);
      expect(e!.wordIds.length).toBe(e!.ids.length);
      expect(await m.decode(e!.ids)).toContain("hello");
    }
    await expectCode(seq2seq.decode([160]), "ERR_INVALID_OPTION", "ids");
  });

  it.each(["decoder-only", "encoder-decoder"] as const)("%s: dispose() waits for in-flight generate() and attribute() calls, then frees once", async (kind) => {
    const gate = deferred();
    const fake: Fake = { ...newFake(), gate: gate.promise };
    const { decoder, seq2seq } = await both(fake);
    const model = kind === "decoder-only" ? decoder : seq2seq;
    const generating = model.generate("hello", { maxNewTokens: 2, returnIds: true });
    const attributing = kind === "decoder-only"
      ? decoder.attribute("hello", { generatedTexts: "hello world" })
      : seq2seq.attribute("hello", { generatedTexts: "world" });
    const disposed = model.dispose().then(() => fake.events.push("dispose resolved"));
    expect(model.disposed).toBe(true);
    await expectCode(model.generate("late"), "ERR_DISPOSED", "disposed");
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.events).toEqual(["generate"]);  // the attribution queues behind the generation
    gate.resolve();
    const [gen, out] = await Promise.all([generating, attributing]);
    await disposed;
    expect(fake.events).toEqual(["generate", "attribute", "freed", "dispose resolved"]);
    expect(gen.sequences[0]!.generatedIds).toEqual([7, 8]);
    const seq = out.sequenceAttributions[0]!;
    const request = fake.requests[0]!;
    if (kind === "decoder-only") {
      // one sequence: the prompt is its first tokens, attributed from the end of the prompt
      expect(request.sourceLengths).toBeUndefined();
      expect(seq.source.map((t) => t.id)).toEqual(seq.target.slice(0, seq.attrPosStart).map((t) => t.id));
      expect(seq.targetAttributions).not.toBeNull();
    } else {
      // source ++ target, the target starting with the decoder start token, attributed from position 1
      expect(request.sourceLengths).toEqual([seq.source.length]);
      expect(seq.target[0]!.id).toBe(2);
      expect(seq.attrPosStart).toBe(1);
      expect(seq.sourceAttributions).not.toBeNull();
      expect(seq.targetAttributions).toBeNull();
    }
  });
});

describe("import direction (models -> attribution -> contract)", () => {
  const libDir = path.join(repoRoot, "lib");
  const sources = (dir: string): string[] => readdirSync(path.join(libDir, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts")).map((f) => path.join(dir, f));
  /** lib-relative paths a lib file imports (type-only imports too). */
  const importsOf = (file: string): string[] => [...readFileSync(path.join(libDir, file), "utf8").matchAll(/(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/g)]
    .map((m) => path.relative(libDir, path.resolve(path.dirname(path.join(libDir, file)), m[1]!)).replace(/\.js$/, ".ts"));

  it("the contract imports neither models nor attribution; attribution does not import models", () => {
    for (const f of sources("contract")) expect(importsOf(f).filter((d) => /^(models|attribution)\//.test(d)), f).toEqual([]);
    for (const f of sources("attribution")) expect(importsOf(f).filter((d) => d.startsWith("models/")), f).toEqual([]);
  });

  it("only lib/native loads the addon", () => {
    const all = readdirSync(libDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts") && !f.startsWith("native/"));
    for (const f of all) expect(importsOf(f).filter((d) => d === "native/load.ts"), f).toEqual([]);
  });

  it("no import cycle through models, attribution or contract", () => {
    const files = [...sources("models"), ...sources("attribution"), ...sources("contract")];
    const inScope = new Set(files);
    const state = new Map<string, "open" | "done">();
    const visit = (f: string, trail: string[]): void => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "open") throw new Error(`import cycle: ${[...trail.slice(trail.indexOf(f)), f].join(" -> ")}`);
      state.set(f, "open");
      for (const d of importsOf(f)) if (inScope.has(d)) visit(d, [...trail, f]);
      state.set(f, "done");
    };
    for (const f of files) visit(f, []);
  });
});

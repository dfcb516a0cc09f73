/**
 * SentencePiece model files -> tokenizer.json, checked against the sentencepiece library itself: small models
 * are trained at test time with Debian's python3-sentencepiece (scripts/setup.sh installs it) on the fixture
 * text, then our conversion (run by the `tokenizers` binding) must give sentencepiece's ids for every line of
 * the fixture files plus a set of whitespace / normalization edge cases.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, InseqError } from "../../lib/core/errors.js";
import {
  PieceType,
  SpmModelType,
  marianToTokenizerJson,
  readSentencePieceFile,
  readSentencePieceModel,
  sentencePieceToTokenizerJson,
} from "../../lib/tokenizers/sentencepiece.js";
import { TextTokenizer } from "../../lib/tokenizers/tokenizer.js";
import { expectCode } from "../helpers.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const fixtures = path.resolve(repoRoot, "../shared/fixtures");
const STORIES = path.join(fixtures, "tinystories-sample/tinystories_sample.txt");
const EN = path.join(fixtures, "opennmt-ende-val/src-val.en.txt");
const DE = path.join(fixtures, "opennmt-ende-val/tgt-val.de.txt");
const WINOMT = path.join(fixtures, "winomt/en.txt");
const PYTHON = "/usr/bin/python3";

const spmAvailable = spawnSync(PYTHON, ["-c", "import sentencepiece"], { stdio: "ignore" }).status === 0;
if (!spmAvailable && process.env.CI) {
  throw new Error(`python3-sentencepiece is not importable by ${PYTHON}: scripts/setup.sh installs Debian's python3-sentencepiece`);
}

/** Lines whose normalization / whitespace handling differs between naive implementations. */
const EDGE_CASES = [
  "",
  " ",
  "   ",
  "a",
  " leading space",
  "   leading spaces",
  "trailing space ",
  "trailing spaces   ",
  "two  spaces   and    more",
  "tab\there and\t\ttwo tabs",
  "\tleading tab",
  "new\nline and\r\nCRLF",
  "ﬁne ﬂowers ﬀ", // ligatures (NFKC)
  "Ｆｕｌｌ ｗｉｄｔｈ ＡＢＣ １２３", // full-width (NFKC)
  "① ② ⅷ ㎏ ™ ½", // compatibility characters
  "cafe\u0301 e\u0301te\u0301 n\u0303", // combining accents (NFC composes)
  "café été ñ Übergang Straße Äpfel",
  "emoji 😀👍🏽 and ✨ sparkles",
  "Ελληνικά and кириллица 中文字符",
  "non\u00a0breaking\u2009thin\u3000ideographic spaces",
  "zero\u200bwidth\u200djoiner\ufeffbom",
  "“curly quotes” and ‘single’ – dashes — …",
  "numbers 1234567890 3.14159 1,000,000",
  "UPPER CASE WORDS and MiXeD",
  "▁ literal metaspace ▁▁ and _underscore_",
  "<s> </s> <unk> <pad> look like specials",
  "a\u0000nul and \u0007bell controls",
  "x".repeat(300),
  "supercalifragilisticexpialidocious antidisestablishmentarianism",
];

async function readLines(file: string): Promise<string[]> {
  return (await readFile(file, "utf8")).split("\n");
}

interface SpmExpected {
  ids: number[][];
  decoded: string[];
  pieces: Array<{ piece: string; score: number; control: boolean; unknown: boolean; byte: boolean; unused: boolean }>;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
}

interface MarianSide {
  ids: number[][];
  decoded: string[];
  /** Lines where SentencePiece fuses 2+ adjacent unknown characters into one piece. */
  fusedUnknownLines: number[];
  /** Unknown single characters that vocab.json has (the other side's). */
  foreignChars: number;
}

interface MarianExpected {
  vocab: Record<string, number>;
  source: MarianSide;
  target: MarianSide;
}

/**
 * Trains the models and writes what sentencepiece (and MarianTokenizer's recipe, spelled out with plain
 * sentencepiece calls) make of every line.
 */
const GENERATOR = String.raw`
import json, random, sys
import sentencepiece as spm
out = sys.argv[1]
cfg = json.load(open(out + "/config.json", encoding="utf-8"))
lines = cfg["lines"]
result = {}
def describe(sp):
    return [dict(piece=sp.id_to_piece(i), score=sp.get_score(i), control=sp.is_control(i), unknown=sp.is_unknown(i),
                 byte=sp.is_byte(i), unused=sp.is_unused(i)) for i in range(sp.get_piece_size())]
for name, kw in cfg["models"].items():
    spm.SentencePieceTrainer.train(input=kw.pop("input"), model_prefix=out + "/" + name, minloglevel=2, **kw)
    sp = spm.SentencePieceProcessor(model_file=out + "/" + name + ".model")
    ids = [sp.encode(l) for l in lines]
    result[name] = dict(ids=ids, decoded=[sp.decode(i) for i in ids], pieces=describe(sp),
                        unkId=sp.unk_id(), bosId=sp.bos_id(), eosId=sp.eos_id(), padId=sp.pad_id())

# Marian: a shared vocab.json holding both sides' pieces in a shuffled order (as MarianTokenizer reads it).
src = spm.SentencePieceProcessor(model_file=out + "/marian-src.model")
tgt = spm.SentencePieceProcessor(model_file=out + "/marian-tgt.model")
tokens = []
for sp in (src, tgt):
    for i in range(sp.get_piece_size()):
        p = sp.id_to_piece(i)
        if p not in tokens and not (sp.is_control(i) or sp.is_unknown(i)):
            tokens.append(p)
tokens += ["</s>", "<unk>", "<pad>", ">>deu<<"]
random.Random(1234).shuffle(tokens)
vocab = {t: i for i, t in enumerate(tokens)}
specials = {"</s>", "<unk>", "<pad>"}
def marian(sp):
    ids, decoded, fused, foreign = [], [], [], 0
    for n, l in enumerate(lines):
        pieces = sp.encode(l, out_type=str)  # MarianTokenizer._tokenize
        # SentencePiece's unknown pieces are the surface text; MarianTokenizer looks them up in vocab.json.
        unknown = [p for p in pieces if sp.piece_to_id(p) == sp.unk_id()]
        foreign += sum(1 for p in unknown if p in vocab)
        if any(len(p) > 1 for p in unknown):
            fused.append(n)
        row = [vocab.get(p, vocab["<unk>"]) for p in pieces] + [vocab["</s>"]]  # _convert_token_to_id + build_inputs
        ids.append(row)
        inv = {i: t for t, i in vocab.items()}
        # decode(skip_special_tokens=True): convert_tokens_to_string = spm.decode_pieces(...).strip()
        decoded.append(sp.decode_pieces([inv[i] for i in row if inv[i] not in specials]).strip())
    return dict(ids=ids, decoded=decoded, fusedUnknownLines=fused, foreignChars=foreign)
result["marian"] = dict(vocab=vocab, source=marian(src), target=marian(tgt))
json.dump(result, open(out + "/expected.json", "w", encoding="utf-8"), ensure_ascii=False)
`;

let dir = "";
let lines: string[] = [];
let expected: Record<string, SpmExpected> & { marian: MarianExpected };

/** Per-model expectations for the agreement test. */
const MODELS = {
  unigram: { model_type: "unigram", vocab_size: 600 },
  bpe: { model_type: "bpe", vocab_size: 500 },
  "unigram-bytes": { model_type: "unigram", vocab_size: 500, byte_fallback: true, character_coverage: 0.98 },
  "bpe-bytes": { model_type: "bpe", vocab_size: 450, byte_fallback: true, character_coverage: 0.98 },
  // No normalization rules, no dummy prefix, whitespace kept as is.
  "unigram-raw": {
    model_type: "unigram",
    vocab_size: 400,
    normalization_rule_name: "identity",
    add_dummy_prefix: false,
    remove_extra_whitespaces: false,
  },
  "unigram-nfkc-cf": { model_type: "unigram", vocab_size: 300, normalization_rule_name: "nmt_nfkc_cf" },
} as const;

describe.skipIf(!spmAvailable)("SentencePiece models trained by sentencepiece", () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "inseq-spm-"));
    const fixtureLines = (await Promise.all([STORIES, EN, DE, WINOMT].map(readLines))).flat();
    lines = [...fixtureLines, ...EDGE_CASES];
    const all = path.join(dir, "train-all.txt");
    const en = path.join(dir, "train-en.txt");
    const de = path.join(dir, "train-de.txt");
    await writeFile(all, (await Promise.all([STORIES, EN, DE].map((f) => readFile(f, "utf8")))).join("\n"));
    await writeFile(en, (await Promise.all([STORIES, EN].map((f) => readFile(f, "utf8")))).join("\n"));
    await writeFile(de, await readFile(DE, "utf8"));
    const models: Record<string, object> = {};
    for (const [name, kw] of Object.entries(MODELS)) models[name] = { input: all, ...kw };
    models["marian-src"] = { input: en, model_type: "unigram", vocab_size: 400 };
    models["marian-tgt"] = { input: de, model_type: "unigram", vocab_size: 400 };
    await writeFile(path.join(dir, "config.json"), JSON.stringify({ lines, models }));
    const run = spawnSync(PYTHON, ["-c", GENERATOR, dir], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`sentencepiece training failed: ${run.stderr}`);
    expected = JSON.parse(await readFile(path.join(dir, "expected.json"), "utf8")) as typeof expected;
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("uses thousands of lines", () => {
    expect(lines.length).toBeGreaterThan(4000);
  });

  for (const name of Object.keys(MODELS)) {
    describe(name, () => {
      it("reads the pieces, scores, types, ids and trainer/normalizer settings", async () => {
        const file = path.join(dir, `${name}.model`);
        const m = await readSentencePieceFile(file);
        const exp = expected[name]!;
        expect(m.pieces.map((p) => p.piece)).toEqual(exp.pieces.map((p) => p.piece));
        expect(m.pieces.map((p) => p.score)).toEqual(exp.pieces.map((p) => Math.fround(p.score)));
        expect(m.pieces.map((p) => p.type === PieceType.CONTROL)).toEqual(exp.pieces.map((p) => p.control));
        expect(m.pieces.map((p) => p.type === PieceType.UNKNOWN)).toEqual(exp.pieces.map((p) => p.unknown));
        expect(m.pieces.map((p) => p.type === PieceType.BYTE)).toEqual(exp.pieces.map((p) => p.byte));
        expect(m.pieces.map((p) => p.type === PieceType.UNUSED)).toEqual(exp.pieces.map((p) => p.unused));
        expect([m.unkId, m.bosId, m.eosId, m.padId]).toEqual([exp.unkId, exp.bosId, exp.eosId, exp.padId]);
        expect(m.padId).toBe(-1); // negative int32: a 10-byte varint
        const spec = MODELS[name as keyof typeof MODELS] as Record<string, unknown>;
        expect(m.modelType).toBe(spec.model_type === "bpe" ? SpmModelType.BPE : SpmModelType.UNIGRAM);
        expect(m.byteFallback).toBe(spec.byte_fallback === true);
        expect(m.normalizer.name).toBe((spec.normalization_rule_name as string | undefined) ?? "nmt_nfkc");
        expect(m.normalizer.precompiledCharsmap.length > 0).toBe(spec.normalization_rule_name !== "identity");
        expect(m.normalizer.addDummyPrefix).toBe(spec.add_dummy_prefix !== false);
        expect(m.normalizer.removeExtraWhitespaces).toBe(spec.remove_extra_whitespaces !== false);
        expect(m.normalizer.escapeWhitespaces).toBe(true);
      });

      it("gives sentencepiece's ids on every line and decodes like it", async () => {
        const file = path.join(dir, `${name}.model`);
        const json = sentencePieceToTokenizerJson(readSentencePieceModel(await readFile(file), file));
        const tok = Tokenizer.fromString(JSON.stringify(json));
        const exp = expected[name]!;
        const encs = await tok.encodeBatch(lines, { addSpecialTokens: true });
        const mismatches = lines.flatMap((l, i) =>
          JSON.stringify(encs[i]!.getIds()) === JSON.stringify(exp.ids[i])
            ? []
            : [{ line: l, ours: encs[i]!.getTokens().join("|"), spm: exp.ids[i]!.map((id) => exp.pieces[id]!.piece).join("|") }],
        );
        console.log(`${name}: ${lines.length - mismatches.length}/${lines.length} lines give sentencepiece's ids`);
        // The one exception, on purpose (SpmConverter / transformers): CONTROL pieces ("<s>", "</s>") are special
        // added tokens, so their literal text is that token, where sentencepiece spells it out.
        const controls = exp.pieces.flatMap((p, id) => (p.control ? [{ piece: p.piece, id }] : []));
        const withControls = (line: string) => controls.some((c) => line.includes(c.piece));
        expect(mismatches.filter((m) => !withControls(m.line)).slice(0, 5)).toEqual([]);
        const literal = lines.indexOf("<s> </s> <unk> <pad> look like specials");
        expect(encs[literal]!.getIds()).toEqual(expect.arrayContaining(controls.map((c) => c.id)));
        // Decoding: sentencepiece writes <unk> as " ⁇ ", tokenizers as the piece "<unk>" (not a special token).
        const unk = exp.pieces[exp.unkId]!.piece;
        const decoded = await tok.decodeBatch(exp.ids, true);
        expect(decoded).toEqual(exp.decoded.map((d) => d.replaceAll(" ⁇ ", unk)));
        if (name.endsWith("-bytes")) {
          // Byte fallback: no <unk> at all, and the text survives the round trip (the emoji go through bytes).
          expect(exp.ids.flat()).not.toContain(exp.unkId);
          const emoji = lines.indexOf("emoji 😀👍🏽 and ✨ sparkles");
          expect(encs[emoji]!.getTokens()).toContain("<0xF0>");
          expect(decoded[emoji]).toBe("emoji 😀👍🏽 and ✨ sparkles");
        }
      });
    });
  }

  it("TextTokenizer.fromSentencePiece: SpmConverter's tokenizer, optional BOS/EOS", async () => {
    const file = path.join(dir, "unigram.model");
    const exp = expected.unigram!;
    const i = lines.indexOf("two  spaces   and    more");
    const plain = await TextTokenizer.fromSentencePiece(file);
    expect((await plain.encode(lines[i]!)).ids).toEqual(exp.ids[i]);
    expect([plain.unkTokenId, plain.bosTokenId, plain.eosTokenId, plain.padTokenId]).toEqual([0, 1, 2, null]);
    expect([plain.unkToken, plain.bosToken, plain.eosToken]).toEqual(["<unk>", "<s>", "</s>"]);
    expect(plain.vocabSize).toBe(600);
    const both = await TextTokenizer.fromSentencePiece(file, { addBos: true, addEos: true });
    const enc = await both.encode(lines[i]!);
    expect(enc.ids).toEqual([1, ...exp.ids[i]!, 2]);
    expect(enc.specialTokensMask[0]).toBe(1);
    expect(await both.decode(enc.ids)).toBe(exp.decoded[i]);
    // Offsets still point into the original text (the normalizer collapses the spaces).
    const spans = enc.offsets.map(([s, e]) => lines[i]!.slice(s, e));
    expect(spans.slice(-3)).toEqual([" mo", "re", ""]);
  });

  describe("Marian directory (vocab.json in shuffled order + source.spm / target.spm)", () => {
    let mdir = "";
    beforeAll(async () => {
      mdir = path.join(dir, "marian");
      await rm(mdir, { recursive: true, force: true });
      await mkdir(mdir);
      await writeFile(path.join(mdir, "source.spm"), await readFile(path.join(dir, "marian-src.model")));
      await writeFile(path.join(mdir, "target.spm"), await readFile(path.join(dir, "marian-tgt.model")));
      await writeFile(path.join(mdir, "vocab.json"), JSON.stringify(expected.marian.vocab));
      await writeFile(
        path.join(mdir, "tokenizer_config.json"),
        JSON.stringify({ source_lang: "en", target_lang: "de", model_max_length: 512, separate_vocabs: false }),
      );
    });

    for (const side of ["source", "target"] as const) {
      it(`${side} side: MarianTokenizer's ids on every line (incl. the other language's), </s> appended`, async () => {
        const tok = await TextTokenizer.fromMarianDir(mdir, { side });
        const exp = expected.marian[side];
        const vocab = expected.marian.vocab;
        expect([tok.eosTokenId, tok.unkTokenId, tok.padTokenId, tok.bosTokenId]).toEqual([vocab["</s>"], vocab["<unk>"], vocab["<pad>"], null]);
        expect(tok.vocabSize).toBe(Object.keys(vocab).length);
        expect(tok.modelMaxLength).toBe(512);
        const encs = await tok.encodeBatch(lines);
        const inv = new Map(Object.entries(vocab).map(([t, id]) => [id, t]));
        const mismatches = lines.flatMap((l, i) =>
          JSON.stringify(encs[i]!.ids) === JSON.stringify(exp.ids[i])
            ? []
            : [{ i, line: l, ours: encs[i]!.tokens.join("|"), marian: exp.ids[i]!.map((id) => inv.get(id)).join("|") }],
        );
        console.log(
          `marian ${side}: ${lines.length - mismatches.length}/${lines.length} lines give MarianTokenizer's ids; ` +
            `${exp.foreignChars} unknown characters found in vocab.json; ` +
            `${exp.fusedUnknownLines.length} lines with fused unknown runs, ` +
            `${mismatches.filter((m) => exp.fusedUnknownLines.includes(m.i)).length} of them differ`,
        );
        // Documented exceptions: SentencePiece fuses adjacent unknown characters into one piece (MarianTokenizer
        // then looks the run up as a whole), and literal "</s>" / "<unk>" / "<pad>" are special added tokens
        // (as in transformers, which splits the text on them before SentencePiece; our reference here does not).
        const literalSpecials = (line: string) => ["</s>", "<unk>", "<pad>"].some((t) => line.includes(t));
        expect(mismatches.filter((m) => !exp.fusedUnknownLines.includes(m.i) && !literalSpecials(m.line)).slice(0, 5)).toEqual([]);
        const literal = lines.indexOf("<s> </s> <unk> <pad> look like specials");
        expect(encs[literal]!.ids).toEqual(expect.arrayContaining([vocab["</s>"], vocab["<unk>"], vocab["<pad>"]]));
        // The other side's characters do occur (German letters in the English model and vice versa).
        expect(exp.foreignChars).toBeGreaterThan(10);
        // MarianTokenizer.decode strips the result; TextTokenizer.decode does not (tokenizers' Metaspace decoder
        // removes one leading space, so lines that start with unknown characters keep another one).
        expect((await tok.decodeBatch(exp.ids)).map((d) => d.trim())).toEqual(exp.decoded);
        for (const [token, id] of Object.entries(vocab)) {
          expect(tok.idToToken(id)).toBe(token);
          expect(tok.tokenToId(token)).toBe(id);
        }
      });
    }

    it("language codes are tokens of their own", async () => {
      const tok = await TextTokenizer.fromMarianDir(mdir);
      const enc = await tok.encode(">>deu<< Hello");
      expect(enc.ids[0]).toBe(expected.marian.vocab[">>deu<<"]);
      expect(enc.ids.at(-1)).toBe(expected.marian.vocab["</s>"]);
    });

    it("missing files -> NOT_FOUND, a bad vocab.json -> BAD_TOKENIZER", async () => {
      await expectCode(TextTokenizer.fromMarianDir(path.join(dir, "nowhere")), ErrorCode.NOT_FOUND, "nowhere");
      const bad = path.join(dir, "marian-bad");
      await mkdir(bad, { recursive: true });
      await writeFile(path.join(bad, "source.spm"), await readFile(path.join(dir, "marian-src.model")));
      await writeFile(path.join(bad, "vocab.json"), JSON.stringify({ a: 0, b: 0 }));
      await expectCode(TextTokenizer.fromMarianDir(bad), ErrorCode.BAD_TOKENIZER, "vocab.json");
      await writeFile(path.join(bad, "vocab.json"), JSON.stringify({ a: 0, "</s>": 1 }));
      await expectCode(TextTokenizer.fromMarianDir(bad), ErrorCode.BAD_TOKENIZER, "<unk>");
    });
  });
});


describe("not a SentencePiece model", () => {
  let tmp = "";
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "inseq-spm-bad-"));
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const cases: Array<[string, Uint8Array]> = [
    ["empty", new Uint8Array(0)],
    ["text", new TextEncoder().encode('{"model": {"type": "Unigram"}}')],
    ["random bytes", Uint8Array.from({ length: 4096 }, (_v, i) => (i * 2654435761) >>> 24)],
    ["truncated piece", Uint8Array.from([0x0a, 0x20, 0x0a, 0x03, 0x61])],
    ["wrong wire type for pieces", Uint8Array.from([0x08, 0x01])],
    ["pieces but no UNKNOWN piece", Uint8Array.from([0x0a, 0x03, 0x0a, 0x01, 0x61])],
    ["invalid UTF-8 piece", Uint8Array.from([0x0a, 0x03, 0x0a, 0x01, 0xff])],
  ];
  it.each(cases)("%s -> BAD_TOKENIZER naming the file", async (label, bytes) => {
    const file = path.join(tmp, `${label.replaceAll(" ", "-")}.spm`);
    await writeFile(file, bytes);
    await expectCode(readSentencePieceFile(file), ErrorCode.BAD_TOKENIZER, file);
    await expectCode(TextTokenizer.fromSentencePiece(file), ErrorCode.BAD_TOKENIZER, file);
  });

  it("missing file -> NOT_FOUND", async () => {
    await expectCode(TextTokenizer.fromSentencePiece(path.join(tmp, "none.model")), ErrorCode.NOT_FOUND, "none.model");
  });

  it("a minimal hand-written model converts (defaults for absent fields)", () => {
    // pieces: <unk> (UNKNOWN), "▁a" score -1.5 (NORMAL by default); no trainer/normalizer spec.
    const unk = [0x0a, 0x09, 0x0a, 0x05, ...new TextEncoder().encode("<unk>"), 0x18, 0x02];
    const a = [0x0a, 0x0b, 0x0a, 0x04, ...new TextEncoder().encode("▁a"), 0x15, 0x00, 0x00, 0xc0, 0xbf];
    const m = readSentencePieceModel(Uint8Array.from([...unk, ...a]), "mini.model");
    expect(m.pieces).toEqual([
      { piece: "<unk>", score: 0, type: PieceType.UNKNOWN },
      { piece: "▁a", score: -1.5, type: PieceType.NORMAL },
    ]);
    // Default bos_id 1 / eos_id 2: 1 is "▁a" (used only when asked for), 2 is past the pieces -> none.
    expect([m.modelType, m.unkId, m.bosId, m.eosId, m.padId, m.byteFallback]).toEqual([SpmModelType.UNIGRAM, 0, 1, -1, -1, false]);
    const json = sentencePieceToTokenizerJson(m) as { model: { vocab: unknown }; normalizer: { normalizers: unknown[] } };
    expect(json.model.vocab).toEqual([["<unk>", 0], ["▁a", -1.5]]);
    expect(json.normalizer.normalizers).toHaveLength(2); // no charsmap: Strip + Replace
    expect(() => marianToTokenizerJson(m, [])).toThrow(InseqError);
  });
});

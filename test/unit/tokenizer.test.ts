import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, InseqError } from "../../lib/core/errors.js";
import { TextTokenizer, cleanUpTokenization, wordIdsFromOffsets } from "../../lib/tokenizers/tokenizer.js";
import { expectCode } from "../helpers.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const fixtures = path.resolve(repoRoot, "../shared/fixtures");
const STORIES = path.join(fixtures, "hf-stories260K");
const GPT2 = path.join(fixtures, "hf-gpt2-tokenizer");

interface GoldenCase {
  group: string;
  text: string;
  ids: number[];
  tokens: string[];
  offsets: Array<[number, number]>;
  decoded: string;
}

async function loadCases(dir: string): Promise<GoldenCase[]> {
  const json = JSON.parse(await readFile(path.join(dir, "tokenizer_expected.json"), "utf8")) as { cases: GoldenCase[] };
  return json.cases;
}

/** Independent code point -> UTF-16 index conversion (deliberately naive). */
function cpToUtf16(text: string, cp: number): number {
  return Array.from(text).slice(0, cp).join("").length;
}

const tempDirs: string[] = [];
afterAll(async () => {
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

/** Temp dir with the fixture's tokenizer.json (+ special_tokens_map.json) and a given tokenizer_config.json. */
async function withConfig(src: string, edit: (cfg: Record<string, unknown>) => void): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "inseq-tok-"));
  tempDirs.push(dir);
  await copyFile(path.join(src, "tokenizer.json"), path.join(dir, "tokenizer.json"));
  await copyFile(path.join(src, "special_tokens_map.json"), path.join(dir, "special_tokens_map.json"));
  const cfg = JSON.parse(await readFile(path.join(src, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  edit(cfg);
  await writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify(cfg));
  return dir;
}


for (const [name, dir] of [
  ["hf-stories260K", STORIES],
  ["hf-gpt2-tokenizer", GPT2],
] as const) {
  const cases = await loadCases(dir);
  describe(`golden cases: ${name}`, () => {
    let tok: TextTokenizer;
    beforeAll(async () => {
      tok = await TextTokenizer.fromDir(dir);
    });

    it.each(cases.map((c, i) => [i, c.group, c] as const))("case %i (%s)", async (_i, _g, c) => {
      const enc = await tok.encode(c.text);
      expect(enc.ids).toEqual(c.ids);
      expect(enc.tokens).toEqual(c.tokens);
      expect(enc.offsets).toEqual(c.offsets.map(([s, e]) => [cpToUtf16(c.text, s), cpToUtf16(c.text, e)]));
      expect(enc.wordIds).toHaveLength(c.ids.length);
      expect(enc.specialTokensMask).toHaveLength(c.ids.length);
      expect(await tok.decode(c.ids)).toBe(c.decoded);
    });

    it("encodeBatch / decodeBatch agree with the golden values", async () => {
      const encs = await tok.encodeBatch(cases.map((c) => c.text));
      expect(encs.map((e) => e.ids)).toEqual(cases.map((c) => c.ids));
      expect(await tok.decodeBatch(cases.map((c) => c.ids))).toEqual(cases.map((c) => c.decoded));
    });
  });
}

describe("TextTokenizer (stories260K)", () => {
  it("reads the special tokens and config values", async () => {
    const tok = await TextTokenizer.fromDir(STORIES);
    expect([tok.bosTokenId, tok.eosTokenId, tok.unkTokenId, tok.padTokenId]).toEqual([1, 2, 0, null]);
    expect([tok.bosToken, tok.eosToken, tok.unkToken, tok.padToken]).toEqual(["<s>", "</s>", "<unk>", null]);
    expect(tok.vocabSize).toBe(512);
    expect(tok.modelMaxLength).toBe(512);
    expect([...tok.specialTokenIds].sort()).toEqual([0, 1, 2]);
    expect(tok.idToToken(403)).toBe("▁Once");
    expect(tok.idToToken(99999)).toBeNull();
    expect(tok.tokenToId("▁Once")).toBe(403);
    expect(tok.tokenToId("no such token")).toBeNull();
    expect(tok.convertIdsToTokens([1, 403, 99999])).toEqual(["<s>", "▁Once", null]);
  });

  it("keeps special tokens when asked and encodes without them", async () => {
    const tok = await TextTokenizer.fromDir(STORIES);
    expect(await tok.decode([1, 403, 2], { skipSpecialTokens: false })).toBe("<s> Once</s>");
    expect(await tok.decode([1, 403, 2])).toBe("Once");
    const enc = await tok.encode("Once upon", { addSpecialTokens: false });
    expect(enc.ids).toEqual([403, 407]);
    expect(enc.specialTokensMask).toEqual([0, 0]);
  });

  it("reports UTF-16 offsets for emoji (byte-fallback tokens share the character's span)", async () => {
    const tok = await TextTokenizer.fromDir(STORIES);
    const text = "a 😀 café x";
    const enc = await tok.encode(text);
    const pieces = enc.offsets.map(([s, e]) => text.slice(s, e));
    expect(enc.tokens.slice(3, 7)).toEqual(["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]);
    expect(pieces.slice(3, 7)).toEqual(["😀", "😀", "😀", "😀"]);
    expect(pieces.slice(7)).toEqual([" c", "a", "f", "é", " ", "x"]);
    expect(pieces[0]).toBe(""); // <s>
  });

  it("word ids: null for the inserted BOS, whitespace words otherwise", async () => {
    const tok = await TextTokenizer.fromDir(STORIES);
    const enc = await tok.encode("Once upon");
    expect(enc.wordIds[0]).toBeNull();
    expect(enc.specialTokensMask).toEqual([1, 0, 0]);
    // No pre-tokenizer in this Llama file (the binding would say word 0 for everything): words come from offsets.
    expect(enc.wordIds.slice(1)).toEqual([0, 1]);
  });

  it("add_bos_token false drops the post-processor BOS but keeps a literal <s>", async () => {
    const tok = await TextTokenizer.fromDir(await withConfig(STORIES, (c) => (c.add_bos_token = false)));
    expect((await tok.encode("Once upon a time")).ids).toEqual([403, 407, 261, 378]);
    const lit = await tok.encode("<s>hi");
    expect(lit.ids).toEqual([1, 270, 417]);
    expect(lit.specialTokensMask).toEqual([0, 0, 0]);
    expect((await tok.encodeBatch(["Once"]))[0]!.ids).toEqual([403]);
  });

  it("add_eos_token true appends EOS, only with addSpecialTokens", async () => {
    const tok = await TextTokenizer.fromDir(await withConfig(STORIES, (c) => (c.add_eos_token = true)));
    const enc = await tok.encode("Once upon");
    expect(enc.ids).toEqual([1, 403, 407, 2]);
    expect(enc.tokens.at(-1)).toBe("</s>");
    expect(enc.offsets.at(-1)).toEqual([0, 0]);
    expect(enc.wordIds.at(-1)).toBeNull();
    expect(enc.specialTokensMask).toEqual([1, 0, 0, 1]);
    expect((await tok.encode("Once upon", { addSpecialTokens: false })).ids).toEqual([403, 407]);
  });

  it("clean_up_tokenization_spaces true applies transformers' replacements on decode", async () => {
    const text = "the librarian 's room . I do n't know , ok ?";
    const plain = await TextTokenizer.fromDir(STORIES);
    const ids = (await plain.encode(text)).ids;
    expect(await plain.decode(ids)).toBe(text);
    const tok = await TextTokenizer.fromDir(await withConfig(STORIES, (c) => (c.clean_up_tokenization_spaces = true)));
    expect(await tok.decode(ids)).toBe("the librarian's room. I don't know, ok?");
    expect(await tok.decodeBatch([ids])).toEqual(["the librarian's room. I don't know, ok?"]);
    // Absent -> false (current transformers default).
    const absent = await TextTokenizer.fromDir(await withConfig(STORIES, (c) => delete c.clean_up_tokenization_spaces));
    expect(await absent.decode(ids)).toBe(text);
    expect(cleanUpTokenization("a ' b we 're they 've I 'm ! x")).toBe("a'b we're they've I'm! x");
  });

  it("accepts {content} token objects and falls back to special_tokens_map.json", async () => {
    const dir = await withConfig(STORIES, (c) => {
      c.bos_token = { content: "<s>", special: true };
      delete c.eos_token;
      delete c.model_max_length;
    });
    const tok = await TextTokenizer.fromDir(dir);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2); // from special_tokens_map.json
    expect(tok.modelMaxLength).toBeNull();
  });

  it("rejects bad arguments with ERR_INVALID_OPTION", async () => {
    const tok = await TextTokenizer.fromDir(STORIES);
    await expectCode(tok.encode(42 as unknown as string), ErrorCode.INVALID_OPTION, "text");
    await expectCode(tok.decode([1, -1]), ErrorCode.INVALID_OPTION, "ids");
    await expectCode(tok.decode([1.5]), ErrorCode.INVALID_OPTION, "ids");
  });
});

describe("TextTokenizer (gpt2)", () => {
  it("reads bos = eos = unk = <|endoftext|> and model_max_length", async () => {
    const tok = await TextTokenizer.fromDir(GPT2);
    expect([tok.bosTokenId, tok.eosTokenId, tok.unkTokenId, tok.padTokenId]).toEqual([50256, 50256, 50256, null]);
    expect(tok.vocabSize).toBe(50257);
    expect(tok.modelMaxLength).toBe(1024);
    expect([...tok.specialTokenIds]).toEqual([50256]);
  });

  it("UTF-16 offsets and word ids for byte-level BPE with emoji", async () => {
    const tok = await TextTokenizer.fromDir(GPT2);
    const text = "emoji 😀 ok";
    const enc = await tok.encode(text);
    expect(enc.tokens).toEqual(["em", "oji", "ĠðŁĺ", "Ģ", "Ġok"]);
    expect(enc.offsets).toEqual([[0, 2], [2, 5], [5, 8], [6, 8], [8, 11]]);
    expect(enc.offsets.map(([s, e]) => text.slice(s, e))).toEqual(["em", "oji", " 😀", "😀", " ok"]);
    expect(enc.wordIds).toEqual([0, 0, 1, 1, 2]);
  });

  it("add_bos_token true prepends <|endoftext|>", async () => {
    const tok = await TextTokenizer.fromDir(await withConfig(GPT2, (c) => (c.add_bos_token = true)));
    const enc = await tok.encode("Hello world");
    expect(enc.ids).toEqual([50256, 15496, 995]);
    expect(enc.specialTokensMask).toEqual([1, 0, 0]);
    expect(enc.offsets[0]).toEqual([0, 0]);
    // Already first (literal in the text): not doubled.
    expect((await tok.encode("<|endoftext|>Hello")).ids).toEqual([50256, 15496]);
    expect(await tok.decode(enc.ids)).toBe("Hello world");
  });
});

describe("TextTokenizer.fromDir errors", () => {
  it("missing directory -> ERR_NOT_FOUND naming tokenizer.json", async () => {
    const dir = path.join(os.tmpdir(), "inseq-no-such-dir-" + process.pid);
    await expectCode(TextTokenizer.fromDir(dir), ErrorCode.NOT_FOUND, path.join(dir, "tokenizer.json"));
  });

  it("malformed tokenizer.json -> ERR_BAD_TOKENIZER naming the file", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "inseq-tok-"));
    tempDirs.push(dir);
    const file = path.join(dir, "tokenizer.json");
    await writeFile(file, "this is not json {");
    await expectCode(TextTokenizer.fromDir(dir), ErrorCode.BAD_TOKENIZER, file);
  });

  it("valid JSON that the binding rejects -> ERR_BAD_TOKENIZER naming the file", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "inseq-tok-"));
    tempDirs.push(dir);
    const file = path.join(dir, "tokenizer.json");
    await writeFile(file, JSON.stringify({ model: { type: "NoSuchModel" } }));
    await expectCode(TextTokenizer.fromDir(dir), ErrorCode.BAD_TOKENIZER, file);
  });

  it("malformed tokenizer_config.json -> ERR_BAD_TOKENIZER naming that file", async () => {
    const dir = await withConfig(STORIES, () => {});
    const file = path.join(dir, "tokenizer_config.json");
    await writeFile(file, '{"bos_token": "<s>",');
    await expectCode(TextTokenizer.fromDir(dir), ErrorCode.BAD_TOKENIZER, file);
  });

  it("malformed special_tokens_map.json -> ERR_BAD_TOKENIZER naming that file", async () => {
    const dir = await withConfig(STORIES, () => {});
    const file = path.join(dir, "special_tokens_map.json");
    await rm(file, { force: true });
    await writeFile(file, "[1, 2");
    await expectCode(TextTokenizer.fromDir(dir), ErrorCode.BAD_TOKENIZER, file);
  });

  it("wrongly typed config values -> ERR_BAD_TOKENIZER", async () => {
    const dir = await withConfig(STORIES, (c) => (c.add_bos_token = "yes"));
    await expectCode(TextTokenizer.fromDir(dir), ErrorCode.BAD_TOKENIZER, "add_bos_token");
  });
});

describe("word ids for tokenizers without a pre-tokenizer", () => {
  it("groups SentencePiece pieces into whitespace-separated words (stories260K)", async () => {
    const tok = await TextTokenizer.fromDir(STORIES);
    const text = "Once upon a time, Lilly's dog 😀 jumped";
    const enc = await tok.encode(text);
    expect(enc.wordIds[0]).toBeNull(); // <s>
    const words = text.split(" ");
    // every token's text lies inside its word, and words appear in order, each at least once
    enc.wordIds.slice(1).forEach((w, i) => {
      const [s, e] = enc.offsets[i + 1]!;
      expect(words[w!]!.includes(text.slice(s, e).trim())).toBe(true);
    });
    expect([...new Set(enc.wordIds.slice(1))]).toEqual(words.map((_, i) => i));
    expect(wordIdsFromOffsets("a  bc", [[0, 1], [1, 3], [3, 5]], [0, 0, 0])).toEqual([0, 1, 1]);
  });
});

/**
 * Text tokenizer: a thin, typed wrapper around Hugging Face's Rust `tokenizers` binding that also honours the
 * `tokenizer_config.json` settings transformers applies on top of `tokenizer.json` (special tokens,
 * add_bos_token/add_eos_token, clean_up_tokenization_spaces, model_max_length), and reports offsets as JS
 * (UTF-16) string indices instead of the Unicode code point indices the binding returns.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Tokenizer } from "tokenizers";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { PieceType, marianToTokenizerJson, readSentencePieceFile, sentencePieceToTokenizerJson } from "./sentencepiece.js";

/** One encoded text. All arrays have one entry per token. */
export interface Encoded {
  ids: number[];
  tokens: string[];
  /** `[start, end)` as UTF-16 indices into the input, so `text.slice(start, end)` works; `[0, 0]` for inserted specials. */
  offsets: Array<[number, number]>;
  /** Pre-tokenizer word index per token; `null` for tokens inserted by the post-processor (BOS/EOS). */
  wordIds: Array<number | null>;
  /** 1 for special tokens inserted by the post-processor / add_bos_token / add_eos_token, else 0. */
  specialTokensMask: number[];
}

export interface EncodeOptions {
  /** Add the special tokens of the post-processor and tokenizer_config (BOS/EOS). Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens from the output. Default true. */
  skipSpecialTokens?: boolean;
}

/** The subset of tokenizer_config.json / special_tokens_map.json we read. */
interface TokenizerConfig {
  bos_token?: unknown;
  eos_token?: unknown;
  unk_token?: unknown;
  pad_token?: unknown;
  add_bos_token?: unknown;
  add_eos_token?: unknown;
  clean_up_tokenization_spaces?: unknown;
  model_max_length?: unknown;
  additional_special_tokens?: unknown;
  added_tokens_decoder?: unknown;
}

type SpecialName = "bos" | "eos" | "unk" | "pad";

/** transformers' `clean_up_tokenization` replacements, applied in this order (each replaces all occurrences). */
const CLEAN_UP_REPLACEMENTS: ReadonlyArray<readonly [string, string]> = [
  [" .", "."],
  [" ?", "?"],
  [" !", "!"],
  [" ,", ","],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads and parses a JSON file; `undefined` when absent (optional files), BAD_TOKENIZER when malformed. */
async function readJson(file: string, required: boolean): Promise<{ text: string; value: unknown } | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      if (!required) return undefined;
      throw new InseqError(ErrorCode.NOT_FOUND, `Tokenizer file not found: ${file}`, { cause: err });
    }
    throw new InseqError(ErrorCode.BAD_TOKENIZER, `Cannot read tokenizer file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return { text, value: JSON.parse(text) as unknown };
  } catch (err) {
    throw new InseqError(ErrorCode.BAD_TOKENIZER, `Malformed JSON in ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Builds a binding Tokenizer from a tokenizer.json document we generated; rejection -> BAD_TOKENIZER naming `file`. */
function tokenizerFromJson(json: object, file: string): Tokenizer {
  try {
    return Tokenizer.fromString(JSON.stringify(json));
  } catch (err) {
    throw new InseqError(ErrorCode.BAD_TOKENIZER, `Cannot build a tokenizer from ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** A special token entry: a string, `{content: string}` (AddedToken dict), or null/absent. */
function tokenContent(value: unknown, key: string, file: string): string | null {
  if (value == null) return null;
  if (typeof value === "string") return value;
  if (isRecord(value) && typeof value.content === "string") return value.content;
  throw new InseqError(
    ErrorCode.BAD_TOKENIZER,
    `Expected a string or {"content": string} for ${key} in ${file} but found ${JSON.stringify(value)}`,
  );
}

function optionalBool(value: unknown, key: string, file: string): boolean | undefined {
  if (value == null) return undefined;
  if (typeof value === "boolean") return value;
  throw new InseqError(ErrorCode.BAD_TOKENIZER, `Expected a boolean for ${key} in ${file} but found ${JSON.stringify(value)}`);
}

/**
 * Maps Unicode code point indices of `text` to UTF-16 indices: `map[cp]` is the UTF-16 index of code point `cp`
 * (length = code points + 1). Returns null when the text has no surrogates, i.e. both index spaces coincide.
 */
function codePointToUtf16Map(text: string): number[] | null {
  if (!/[\uD800-\uDFFF]/.test(text)) return null;
  const map: number[] = [];
  let u16 = 0;
  // String iteration yields one code point per step (a lone surrogate counts as one, as it does after the
  // binding's conversion to a Rust string, where it becomes U+FFFD).
  for (const ch of text) {
    map.push(u16);
    u16 += ch.length;
  }
  map.push(u16);
  return map;
}

function checkText(text: unknown, name: string): asserts text is string {
  if (typeof text !== "string") throw invalidOption(name, "a string", text);
}

function checkIds(ids: unknown, name: string): asserts ids is readonly number[] {
  if (!Array.isArray(ids)) throw invalidOption(name, "an array of token ids", ids);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw invalidOption(`${name} entries`, "non-negative integer token ids", id);
  }
}

export class TextTokenizer {
  readonly #tok: Tokenizer;
  readonly #tokens: Record<SpecialName, string | null>;
  readonly #ids: Record<SpecialName, number | null>;
  readonly #addBos: boolean | undefined;
  readonly #addEos: boolean | undefined;
  readonly #cleanUp: boolean;
  readonly #modelMaxLength: number | null;
  readonly #specialIds: Set<number>;
  /** tokenizer.json has no pre-tokenizer (SentencePiece-style): the binding then reports one word for the whole text. */
  #wordsFromOffsets = false;

  private constructor(
    tok: Tokenizer,
    tokens: Record<SpecialName, string | null>,
    addBos: boolean | undefined,
    addEos: boolean | undefined,
    cleanUp: boolean,
    modelMaxLength: number | null,
    specialIds: Set<number>,
  ) {
    this.#tok = tok;
    this.#tokens = tokens;
    const id = (t: string | null) => (t == null ? null : (tok.tokenToId(t) ?? null));
    this.#ids = { bos: id(tokens.bos), eos: id(tokens.eos), unk: id(tokens.unk), pad: id(tokens.pad) };
    this.#addBos = addBos;
    this.#addEos = addEos;
    this.#cleanUp = cleanUp;
    this.#modelMaxLength = modelMaxLength;
    for (const v of Object.values(this.#ids)) if (v != null) specialIds.add(v);
    this.#specialIds = specialIds;
  }

  /**
   * Loads `dir/tokenizer.json` (required) plus the optional `tokenizer_config.json` and `special_tokens_map.json`.
   * Missing tokenizer.json -> NOT_FOUND; malformed or rejected files -> BAD_TOKENIZER naming the file.
   */
  static async fromDir(dir: string, fileName = "tokenizer.json"): Promise<TextTokenizer> {
    checkText(dir, "dir");
    const tokFile = path.join(dir, fileName);
    const cfgFile = path.join(dir, "tokenizer_config.json");
    const mapFile = path.join(dir, "special_tokens_map.json");
    const [tokJson, cfgJson, mapJson] = await Promise.all([
      readJson(tokFile, true),
      readJson(cfgFile, false),
      readJson(mapFile, false),
    ]);
    let tok: Tokenizer;
    try {
      tok = Tokenizer.fromString(tokJson!.text);
    } catch (err) {
      throw new InseqError(ErrorCode.BAD_TOKENIZER, `Invalid tokenizer file ${tokFile}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    for (const [json, file] of [[cfgJson, cfgFile], [mapJson, mapFile]] as const) {
      if (json && !isRecord(json.value)) throw new InseqError(ErrorCode.BAD_TOKENIZER, `Expected a JSON object in ${file}`);
    }
    const cfg = (cfgJson?.value ?? {}) as TokenizerConfig;
    const map = (mapJson?.value ?? {}) as TokenizerConfig;

    // Special token strings: tokenizer_config.json first, then special_tokens_map.json (as transformers merges them).
    const pick = (key: "bos_token" | "eos_token" | "unk_token" | "pad_token"): string | null =>
      key in cfg ? tokenContent(cfg[key], key, cfgFile) : tokenContent(map[key], key, mapFile);
    const tokens = { bos: pick("bos_token"), eos: pick("eos_token"), unk: pick("unk_token"), pad: pick("pad_token") };

    const addBos = optionalBool(cfg.add_bos_token, "add_bos_token", cfgFile);
    const addEos = optionalBool(cfg.add_eos_token, "add_eos_token", cfgFile);
    if (addBos && tokens.bos == null) throw new InseqError(ErrorCode.BAD_TOKENIZER, `add_bos_token is true but no bos_token is set in ${cfgFile}`);
    if (addEos && tokens.eos == null) throw new InseqError(ErrorCode.BAD_TOKENIZER, `add_eos_token is true but no eos_token is set in ${cfgFile}`);
    // Current transformers default: no clean-up unless the config asks for it.
    const cleanUp = optionalBool(cfg.clean_up_tokenization_spaces, "clean_up_tokenization_spaces", cfgFile) ?? false;

    // transformers uses int(1e30) as "no limit" when absent; report anything beyond a safe integer as null.
    let modelMaxLength: number | null = null;
    if (cfg.model_max_length != null) {
      const m = cfg.model_max_length;
      if (typeof m !== "number" || !(m > 0)) {
        throw new InseqError(ErrorCode.BAD_TOKENIZER, `Expected a positive number for model_max_length in ${cfgFile} but found ${JSON.stringify(m)}`);
      }
      modelMaxLength = Number.isSafeInteger(m) ? m : null;
    }

    // Special ids: added tokens flagged special in tokenizer.json / added_tokens_decoder, additional_special_tokens,
    // and the named special tokens (added in the constructor).
    const specialIds = new Set<number>();
    const tj = tokJson!.value;
    if (isRecord(tj) && Array.isArray(tj.added_tokens)) {
      for (const t of tj.added_tokens) if (isRecord(t) && t.special === true && typeof t.id === "number") specialIds.add(t.id);
    }
    if (isRecord(cfg.added_tokens_decoder)) {
      for (const [id, t] of Object.entries(cfg.added_tokens_decoder)) {
        if (isRecord(t) && t.special === true && /^\d+$/.test(id)) specialIds.add(Number(id));
      }
    }
    const extra = cfg.additional_special_tokens ?? map.additional_special_tokens;
    if (Array.isArray(extra)) {
      for (const t of extra) {
        const content = tokenContent(t, "additional_special_tokens", cfgFile);
        const id = content == null ? null : tok.tokenToId(content);
        if (id != null) specialIds.add(id);
      }
    }
    const tokenizer = new TextTokenizer(tok, tokens, addBos, addEos, cleanUp, modelMaxLength, specialIds);
    tokenizer.#wordsFromOffsets = isRecord(tj) && tj.pre_tokenizer == null;
    return tokenizer;
  }

  /**
   * A tokenizer from a SentencePiece model file (`*.model`, `*.spm`), converted the way transformers'
   * SpmConverter does (see sentencepiece.ts). `addBos` / `addEos` make the post-processor add the model's
   * BOS / EOS pieces (default: neither, as SpmConverter). Missing file -> NOT_FOUND; not a model -> BAD_TOKENIZER.
   */
  static async fromSentencePiece(file: string, opts?: { addBos?: boolean; addEos?: boolean }): Promise<TextTokenizer> {
    checkText(file, "file");
    const model = await readSentencePieceFile(file);
    const json = sentencePieceToTokenizerJson(model, { source: file, addBos: opts?.addBos, addEos: opts?.addEos });
    const tok = tokenizerFromJson(json, file);
    const piece = (id: number) => (id >= 0 ? model.pieces[id]!.piece : null);
    const tokens = { bos: piece(model.bosId), eos: piece(model.eosId), unk: piece(model.unkId), pad: piece(model.padId) };
    const specialIds = new Set<number>();
    model.pieces.forEach((p, i) => {
      if (p.type === PieceType.CONTROL) specialIds.add(i);
    });
    return new TextTokenizer(tok, tokens, undefined, undefined, false, null, specialIds);
  }

  /**
   * A Marian checkpoint's tokenizer (no tokenizer.json): `vocab.json` (or `target_vocab.json` for the target side
   * when tokenizer_config.json sets separate_vocabs) with `source.spm` or `target.spm`, as MarianTokenizer
   * encodes: SentencePiece segmentation, vocab.json ids, `</s>` appended. `side` picks the SentencePiece model
   * (default "source"); decoding works for ids of either side. Missing files -> NOT_FOUND; bad ones -> BAD_TOKENIZER.
   */
  static async fromMarianDir(dir: string, opts?: { side?: "source" | "target" }): Promise<TextTokenizer> {
    checkText(dir, "dir");
    const side = opts?.side ?? "source";
    if (side !== "source" && side !== "target") throw invalidOption("side", '"source" or "target"', side);
    const cfgFile = path.join(dir, "tokenizer_config.json");
    const cfgJson = await readJson(cfgFile, false);
    if (cfgJson && !isRecord(cfgJson.value)) throw new InseqError(ErrorCode.BAD_TOKENIZER, `Expected a JSON object in ${cfgFile}`);
    const cfg = (cfgJson?.value ?? {}) as TokenizerConfig & { separate_vocabs?: unknown };
    const separate = optionalBool(cfg.separate_vocabs, "separate_vocabs", cfgFile) ?? false;
    const vocabFile = path.join(dir, side === "target" && separate ? "target_vocab.json" : "vocab.json");
    const spmFile = path.join(dir, side === "source" ? "source.spm" : "target.spm");
    const [vocabJson, model] = await Promise.all([readJson(vocabFile, true), readSentencePieceFile(spmFile)]);
    const tokens = {
      bos: null,
      eos: tokenContent(cfg.eos_token, "eos_token", cfgFile) ?? "</s>",
      unk: tokenContent(cfg.unk_token, "unk_token", cfgFile) ?? "<unk>",
      pad: tokenContent(cfg.pad_token, "pad_token", cfgFile) ?? "<pad>",
    };
    const json = marianToTokenizerJson(model, vocabJson!.value, {
      source: `${spmFile} with ${vocabFile}`,
      eosToken: tokens.eos,
      unkToken: tokens.unk,
      padToken: tokens.pad,
    });
    const tok = tokenizerFromJson(json, spmFile);
    const m = cfg.model_max_length;
    const modelMaxLength = typeof m === "number" && Number.isSafeInteger(m) && m > 0 ? m : null;
    const cleanUp = optionalBool(cfg.clean_up_tokenization_spaces, "clean_up_tokenization_spaces", cfgFile) ?? false;
    return new TextTokenizer(tok, tokens, undefined, undefined, cleanUp, modelMaxLength, new Set<number>());
  }

  /** Encodes one text. Offsets are UTF-16 indices into `text`. */
  async encode(text: string, opts?: EncodeOptions): Promise<Encoded> {
    checkText(text, "text");
    const add = opts?.addSpecialTokens ?? true;
    const enc = await this.#tok.encode(text, null, { addSpecialTokens: add });
    return this.#convert(text, enc, add);
  }

  /** Encodes several texts in one call to the binding (parallel in Rust). */
  async encodeBatch(texts: readonly string[], opts?: EncodeOptions): Promise<Encoded[]> {
    if (!Array.isArray(texts)) throw invalidOption("texts", "an array of strings", texts);
    texts.forEach((t, i) => checkText(t, `texts[${i}]`));
    if (texts.length === 0) return [];
    const add = opts?.addSpecialTokens ?? true;
    const encs = await this.#tok.encodeBatch([...texts], { addSpecialTokens: add });
    return encs.map((enc, i) => this.#convert(texts[i]!, enc, add));
  }

  /** Decodes ids to text (skipping special tokens by default), then applies clean_up_tokenization_spaces. */
  async decode(ids: readonly number[], opts?: DecodeOptions): Promise<string> {
    checkIds(ids, "ids");
    const out = await this.#tok.decode([...ids], opts?.skipSpecialTokens ?? true);
    return this.#cleanUp ? cleanUpTokenization(out) : out;
  }

  async decodeBatch(batch: ReadonlyArray<readonly number[]>, opts?: DecodeOptions): Promise<string[]> {
    if (!Array.isArray(batch)) throw invalidOption("batch", "an array of token id arrays", batch);
    batch.forEach((ids, i) => checkIds(ids, `batch[${i}]`));
    if (batch.length === 0) return [];
    const out = await this.#tok.decodeBatch(batch.map((ids) => [...ids]), opts?.skipSpecialTokens ?? true);
    return this.#cleanUp ? out.map(cleanUpTokenization) : out;
  }

  /** Token string for an id, or null when the id is outside the vocabulary. */
  idToToken(id: number): string | null {
    if (!Number.isInteger(id) || id < 0) return null;
    return this.#tok.idToToken(id) ?? null;
  }

  /** Id of a token string (vocab or added token), or null. */
  tokenToId(token: string): number | null {
    checkText(token, "token");
    return this.#tok.tokenToId(token) ?? null;
  }

  convertIdsToTokens(ids: readonly number[]): Array<string | null> {
    checkIds(ids, "ids");
    return ids.map((id) => this.idToToken(id));
  }

  /** Vocabulary size including added tokens (transformers' `len(tokenizer)`). */
  get vocabSize(): number {
    return this.#tok.getVocabSize(true);
  }
  get bosTokenId(): number | null { return this.#ids.bos; }
  get eosTokenId(): number | null { return this.#ids.eos; }
  get padTokenId(): number | null { return this.#ids.pad; }
  get unkTokenId(): number | null { return this.#ids.unk; }
  get bosToken(): string | null { return this.#tokens.bos; }
  get eosToken(): string | null { return this.#tokens.eos; }
  get padToken(): string | null { return this.#tokens.pad; }
  get unkToken(): string | null { return this.#tokens.unk; }
  /** Ids of all special tokens (a copy). */
  get specialTokenIds(): Set<number> { return new Set(this.#specialIds); }
  /** model_max_length from tokenizer_config.json; null when absent or the "unlimited" sentinel. */
  get modelMaxLength(): number | null { return this.#modelMaxLength; }

  /** Pulls the arrays out of a binding Encoding, converts offsets, applies add_bos_token / add_eos_token. */
  #convert(text: string, enc: Awaited<ReturnType<Tokenizer["encode"]>>, addSpecial: boolean): Encoded {
    const ids = enc.getIds();
    const tokens = enc.getTokens();
    const map = codePointToUtf16Map(text);
    const offsets = enc.getOffsets().map(([s, e]): [number, number] => (map ? [map[s!]!, map[e!]!] : [s!, e!]));
    const specialTokensMask = enc.getSpecialTokensMask();
    const wordIds = this.#wordsFromOffsets
      ? wordIdsFromOffsets(text, offsets, specialTokensMask)
      : enc.getWordIds().map((w) => w ?? null);
    const out: Encoded = { ids, tokens, offsets, wordIds, specialTokensMask };
    if (!addSpecial) return out;

    const bos = this.#ids.bos;
    const eos = this.#ids.eos;
    // The mask is 1 only for tokens the post-processor inserted (a literal "<s>" in the text has mask 0).
    if (this.#addBos === false && bos != null && ids[0] === bos && specialTokensMask[0] === 1) removeAt(out, 0);
    if (this.#addBos === true && bos != null && out.ids[0] !== bos) insertSpecial(out, 0, bos, this.#tokens.bos!);
    const last = out.ids.length - 1;
    if (this.#addEos === false && eos != null && last >= 0 && out.ids[last] === eos && out.specialTokensMask[last] === 1) {
      removeAt(out, last);
    }
    if (this.#addEos === true && eos != null && out.ids[out.ids.length - 1] !== eos) {
      insertSpecial(out, out.ids.length, eos, this.#tokens.eos!);
    }
    return out;
  }
}

/**
 * Word ids for tokenizers without a pre-tokenizer (Llama/SentencePiece): words are the whitespace-separated
 * runs of the text; a token belongs to the word of its first non-space character, and a token covering only
 * spaces (a lone "▁") to the word that follows, as SentencePiece attaches "▁" to the next word.
 */
export function wordIdsFromOffsets(text: string, offsets: ReadonlyArray<readonly [number, number]>, specialMask: readonly number[]): Array<number | null> {
  const wordAt = new Int32Array(text.length + 1).fill(-1); // word index of each non-space UTF-16 unit
  let word = -1;
  for (let i = 0; i < text.length; i++) {
    if (/\s/.test(text[i]!)) continue;
    if (i === 0 || /\s/.test(text[i - 1]!)) word++;
    wordAt[i] = word;
  }
  return offsets.map(([start, end], t) => {
    if (specialMask[t] === 1) return null;
    for (let i = start; i < Math.max(end, start + 1) && i < text.length; i++) if (wordAt[i]! >= 0) return wordAt[i]!;
    for (let i = end; i < text.length; i++) if (wordAt[i]! >= 0) return wordAt[i]!;
    return word >= 0 ? word : null; // trailing spaces belong to the last word
  });
}

function removeAt(e: Encoded, i: number): void {
  e.ids.splice(i, 1);
  e.tokens.splice(i, 1);
  e.offsets.splice(i, 1);
  e.wordIds.splice(i, 1);
  e.specialTokensMask.splice(i, 1);
}

/** Inserts a special token as the post-processor would: offsets [0, 0], no word, mask 1. */
function insertSpecial(e: Encoded, i: number, id: number, token: string): void {
  e.ids.splice(i, 0, id);
  e.tokens.splice(i, 0, token);
  e.offsets.splice(i, 0, [0, 0]);
  e.wordIds.splice(i, 0, null);
  e.specialTokensMask.splice(i, 0, 1);
}

/** transformers' `PreTrainedTokenizerBase.clean_up_tokenization`. */
export function cleanUpTokenization(text: string): string {
  let out = text;
  for (const [from, to] of CLEAN_UP_REPLACEMENTS) out = out.replaceAll(from, to);
  return out;
}

/**
 * SentencePiece model files (`*.model`, Marian's `source.spm` / `target.spm`) read without the sentencepiece
 * library, and turned into the equivalent Hugging Face `tokenizer.json` document the way transformers'
 * `convert_slow_tokenizer.SpmConverter` does (and, for Marian checkpoints, the way the usual `MarianConverter`
 * recipes do: ids from `vocab.json`, scores from the SentencePiece pieces, `</s>` appended by the post-processor).
 *
 * The model file is a protobuf `sentencepiece.ModelProto` (sentencepiece_model.proto); only the fields the
 * conversion needs are decoded, everything else is skipped by wire type.
 */
import { readFile } from "node:fs/promises";
import { ErrorCode, InseqError } from "../core/errors.js";

/** `ModelProto.SentencePiece.Type`. */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
export type PieceType = (typeof PieceType)[keyof typeof PieceType];

/** `TrainerSpec.ModelType`. */
export const SpmModelType = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;
export type SpmModelType = (typeof SpmModelType)[keyof typeof SpmModelType];

export interface SentencePiece {
  piece: string;
  score: number;
  type: number;
}

export interface SentencePieceNormalizer {
  /** e.g. "nmt_nfkc", "identity", "user_defined"; "" when absent. */
  name: string;
  /** The compiled normalization rules (a double-array trie + replacement strings); empty for "identity". */
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SentencePieceModel {
  pieces: SentencePiece[];
  modelType: number;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  padPiece: string;
  treatWhitespaceAsSuffix: boolean;
  normalizer: SentencePieceNormalizer;
}

class ProtoError extends Error {}

/** Minimal protobuf wire-format reader over one buffer range. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a number when it fits in 53 bits, else as a bigint (only int32/int64 fields get that long). */
  varint(): number | bigint {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError("truncated varint");
      const b = this.buf[this.pos++]!;
      if (i < 7) {
        result += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) return result;
      } else {
        // Bytes 8-10: finish in bigint (negative int32 values are sign-extended to 10 bytes).
        let big = BigInt(result) + BigInt(b & 0x7f) * (1n << BigInt(7 * i));
        let shift = 7 * (i + 1);
        let last = b;
        while (last & 0x80) {
          if (this.pos >= this.end) throw new ProtoError("truncated varint");
          if (shift >= 70) throw new ProtoError("varint longer than 10 bytes");
          last = this.buf[this.pos++]!;
          big += BigInt(last & 0x7f) << BigInt(shift);
          shift += 7;
        }
        return big;
      }
    }
    throw new ProtoError("varint longer than 10 bytes");
  }

  int32(): number {
    const v = this.varint();
    return typeof v === "bigint" ? Number(BigInt.asIntN(32, v)) : v > 0x7fffffff ? Number(BigInt.asIntN(32, BigInt(v))) : v;
  }

  bool(): boolean {
    const v = this.varint();
    return typeof v === "bigint" ? v !== 0n : v !== 0;
  }

  float(): number {
    if (this.pos + 4 > this.end) throw new ProtoError("truncated float");
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  /** Sub-range of a length-delimited field. */
  bytes(): [number, number] {
    const len = this.varint();
    if (typeof len !== "number" || this.pos + len > this.end) throw new ProtoError("length-delimited field runs past its end");
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  string(): string {
    const [s, e] = this.bytes();
    try {
      return UTF8.decode(this.buf.subarray(s, e));
    } catch {
      throw new ProtoError("string field is not valid UTF-8");
    }
  }

  /** Field number and wire type of the next field. */
  tag(): [number, number] {
    const t = this.varint();
    if (typeof t !== "number") throw new ProtoError("bad field tag");
    const field = Math.floor(t / 8);
    const wire = t & 7;
    if (field === 0) throw new ProtoError("field number 0");
    return [field, wire];
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        if (this.pos + 8 > this.end) throw new ProtoError("truncated fixed64");
        this.pos += 8;
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        if (this.pos + 4 > this.end) throw new ProtoError("truncated fixed32");
        this.pos += 4;
        return;
      default:
        throw new ProtoError(`unsupported wire type ${wire}`);
    }
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function expectWire(field: string, wire: number, expected: number): void {
  if (wire !== expected) throw new ProtoError(`field ${field} has wire type ${wire}, expected ${expected}`);
}

function readPiece(r: Reader): SentencePiece {
  const p: SentencePiece = { piece: "", score: 0, type: PieceType.NORMAL };
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1) {
      expectWire("SentencePiece.piece", w, 2);
      p.piece = r.string();
    } else if (f === 2) {
      expectWire("SentencePiece.score", w, 5);
      p.score = r.float();
    } else if (f === 3) {
      expectWire("SentencePiece.type", w, 0);
      p.type = r.int32();
    } else r.skip(w);
  }
  return p;
}

/**
 * Parses a SentencePiece `ModelProto`. `source` names the file in error messages. Anything that is not a
 * well-formed model (bad wire format, no pieces, no UNKNOWN piece, ids out of range) -> BAD_TOKENIZER.
 */
export function readSentencePieceModel(bytes: Uint8Array, source = "SentencePiece model"): SentencePieceModel {
  const m: SentencePieceModel = {
    pieces: [],
    modelType: SpmModelType.UNIGRAM,
    byteFallback: false,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    unkPiece: "<unk>",
    bosPiece: "<s>",
    eosPiece: "</s>",
    padPiece: "<pad>",
    treatWhitespaceAsSuffix: false,
    normalizer: {
      name: "",
      precompiledCharsmap: new Uint8Array(0),
      addDummyPrefix: true,
      removeExtraWhitespaces: true,
      escapeWhitespaces: true,
    },
  };
  const bad = (why: string, cause?: unknown) =>
    new InseqError(ErrorCode.BAD_TOKENIZER, `${source} is not a valid SentencePiece model: ${why}`, { cause });
  try {
    const r = new Reader(bytes);
    while (!r.done) {
      const [f, w] = r.tag();
      if (f === 1) {
        expectWire("ModelProto.pieces", w, 2);
        const [s, e] = r.bytes();
        m.pieces.push(readPiece(new Reader(bytes, s, e)));
      } else if (f === 2) {
        expectWire("ModelProto.trainer_spec", w, 2);
        const [s, e] = r.bytes();
        const t = new Reader(bytes, s, e);
        while (!t.done) {
          const [tf, tw] = t.tag();
          const int = () => (expectWire(`TrainerSpec.${tf}`, tw, 0), t.int32());
          const str = () => (expectWire(`TrainerSpec.${tf}`, tw, 2), t.string());
          switch (tf) {
            case 3: m.modelType = int(); break;
            case 35: m.byteFallback = int() !== 0; break;
            case 24: m.treatWhitespaceAsSuffix = int() !== 0; break;
            case 40: m.unkId = int(); break;
            case 41: m.bosId = int(); break;
            case 42: m.eosId = int(); break;
            case 43: m.padId = int(); break;
            case 45: m.unkPiece = str(); break;
            case 46: m.bosPiece = str(); break;
            case 47: m.eosPiece = str(); break;
            case 48: m.padPiece = str(); break;
            default: t.skip(tw);
          }
        }
      } else if (f === 3) {
        expectWire("ModelProto.normalizer_spec", w, 2);
        const [s, e] = r.bytes();
        const n = new Reader(bytes, s, e);
        while (!n.done) {
          const [nf, nw] = n.tag();
          if (nf === 1) {
            expectWire("NormalizerSpec.name", nw, 2);
            m.normalizer.name = n.string();
          } else if (nf === 2) {
            expectWire("NormalizerSpec.precompiled_charsmap", nw, 2);
            const [cs, ce] = n.bytes();
            m.normalizer.precompiledCharsmap = bytes.slice(cs, ce);
          } else if (nf >= 3 && nf <= 5) {
            expectWire(`NormalizerSpec.${nf}`, nw, 0);
            const v = n.bool();
            if (nf === 3) m.normalizer.addDummyPrefix = v;
            else if (nf === 4) m.normalizer.removeExtraWhitespaces = v;
            else m.normalizer.escapeWhitespaces = v;
          } else n.skip(nw);
        }
      } else r.skip(w);
    }
  } catch (err) {
    if (err instanceof ProtoError) throw bad(err.message, err);
    throw err;
  }
  if (m.pieces.length === 0) throw bad("it has no pieces");
  if (m.pieces.some((p) => p.piece === "")) throw bad("it has an empty piece");
  const unk = m.pieces.findIndex((p) => p.type === PieceType.UNKNOWN);
  if (unk < 0) throw bad("it has no UNKNOWN piece");
  // The UNKNOWN piece is the unk id (sentencepiece requires them to agree); other ids outside the pieces
  // (e.g. defaults of a model without a trainer_spec) mean "none".
  m.unkId = unk;
  const inRange = (id: number) => (id >= 0 && id < m.pieces.length ? id : -1);
  m.bosId = inRange(m.bosId);
  m.eosId = inRange(m.eosId);
  m.padId = inRange(m.padId);
  return m;
}

/** Reads and parses a SentencePiece model file; missing file -> NOT_FOUND, anything else -> BAD_TOKENIZER. */
export async function readSentencePieceFile(file: string): Promise<SentencePieceModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new InseqError(ErrorCode.NOT_FOUND, `SentencePiece model not found: ${file}`, { cause: err });
    }
    throw new InseqError(ErrorCode.BAD_TOKENIZER, `Cannot read SentencePiece model ${file}: ${(err as Error).message}`, { cause: err });
  }
  return readSentencePieceModel(bytes, file);
}

// ---------------------------------------------------------------------------------------------------------------
// tokenizer.json construction

/** A `tokenizer.json` document (the subset we produce). */
export type TokenizerJson = Record<string, unknown>;

/** One entry of tokenizer.json's `added_tokens`. */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: false;
  lstrip: false;
  rstrip: false;
  normalized: false;
  special: boolean;
}

export const addedToken = (id: number, content: string, special: boolean): AddedTokenJson => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special,
});

function checkSupported(model: SentencePieceModel, source: string): void {
  if (model.modelType !== SpmModelType.UNIGRAM && model.modelType !== SpmModelType.BPE) {
    const name = model.modelType === SpmModelType.WORD ? "WORD" : model.modelType === SpmModelType.CHAR ? "CHAR" : String(model.modelType);
    throw new InseqError(ErrorCode.BAD_TOKENIZER, `${source} uses the SentencePiece model type ${name}; only UNIGRAM and BPE can be converted`);
  }
  if (model.treatWhitespaceAsSuffix) {
    throw new InseqError(ErrorCode.BAD_TOKENIZER, `${source} uses treat_whitespace_as_suffix, which cannot be converted`);
  }
}

/**
 * `SpmConverter.normalizer`: Precompiled(charsmap) when the model has one, then (when the model removes extra
 * whitespace) Strip(right) and runs of 2+ spaces -> one "▁".
 */
function normalizerJson(model: SentencePieceModel): object | null {
  const list: object[] = [];
  const cm = model.normalizer.precompiledCharsmap;
  if (cm.length > 0) list.push({ type: "Precompiled", precompiled_charsmap: Buffer.from(cm).toString("base64") });
  if (model.normalizer.removeExtraWhitespaces) {
    list.push({ type: "Strip", strip_left: false, strip_right: true });
    list.push({ type: "Replace", pattern: { Regex: " {2,}" }, content: "▁" });
  }
  return list.length === 0 ? null : { type: "Sequence", normalizers: list };
}

function metaspace(model: SentencePieceModel): object {
  return { type: "Metaspace", replacement: "▁", prepend_scheme: model.normalizer.addDummyPrefix ? "always" : "never", split: true };
}

function decoderJson(model: SentencePieceModel): object {
  const ms = metaspace(model);
  return model.byteFallback ? { type: "Sequence", decoders: [{ type: "ByteFallback" }, ms] } : ms;
}

/**
 * transformers' `SentencePieceExtractor.extract` merges for BPE models: for every piece (in `vocab` order) all
 * splits into two pieces that are both in the vocabulary, each piece's splits ordered by the ids of their
 * halves, then all of them stably sorted by the merged piece's score, highest first.
 */
function bpeMerges(vocab: ReadonlyArray<readonly [string, number]>, ids: ReadonlyMap<string, number>): Array<[string, string]> {
  const merges: Array<[string, string, number]> = [];
  for (const [piece, score] of vocab) {
    const cps = Array.from(piece);
    const local: Array<[string, string, number]> = [];
    for (let i = 1; i < cps.length; i++) {
      const l = cps.slice(0, i).join("");
      const r = cps.slice(i).join("");
      if (ids.has(l) && ids.has(r)) local.push([l, r, score]);
    }
    local.sort((a, b) => ids.get(a[0])! - ids.get(b[0])! || ids.get(a[1])! - ids.get(b[1])!);
    merges.push(...local);
  }
  merges.sort((a, b) => b[2] - a[2]); // Array.prototype.sort is stable
  return merges.map(([l, r]) => [l, r]);
}

export interface SentencePieceConvertOptions {
  /** Name of the model file, for error messages. */
  source?: string;
  /** Prepend the model's BOS piece in the post-processor (Llama-style). Default false (SpmConverter adds none). */
  addBos?: boolean;
  /** Append the model's EOS piece in the post-processor (T5/Marian-style). Default false. */
  addEos?: boolean;
}

function templateProcessor(specials: Array<{ token: string; id: number; at: "start" | "end" }>): object | null {
  if (specials.length === 0) return null;
  const seq = (id: "A" | "B") => ({ Sequence: { id, type_id: 0 } });
  const sp = (token: string) => ({ SpecialToken: { id: token, type_id: 0 } });
  const start = specials.filter((s) => s.at === "start").map((s) => sp(s.token));
  const end = specials.filter((s) => s.at === "end").map((s) => sp(s.token));
  const special_tokens: Record<string, object> = {};
  for (const s of specials) special_tokens[s.token] = { id: s.token, ids: [s.id], tokens: [s.token] };
  return {
    type: "TemplateProcessing",
    single: [...start, seq("A"), ...end],
    pair: [...start, seq("A"), seq("B"), ...end],
    special_tokens,
  };
}

function modelJson(
  model: SentencePieceModel,
  vocab: Array<[string, number]>,
  unkId: number,
  ids: Map<string, number>,
  mergeVocab: ReadonlyArray<readonly [string, number]> = vocab,
): object {
  if (model.modelType === SpmModelType.UNIGRAM) {
    return { type: "Unigram", unk_id: unkId, vocab, byte_fallback: model.byteFallback };
  }
  const bpeVocab: Record<string, number> = {};
  for (const [tok, id] of ids) bpeVocab[tok] = id;
  return {
    type: "BPE",
    dropout: null,
    unk_token: vocab[unkId]?.[0] ?? model.unkPiece,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: true,
    byte_fallback: model.byteFallback,
    ignore_merges: false,
    vocab: bpeVocab,
    merges: bpeMerges(mergeVocab, ids),
  };
}

/**
 * The tokenizer.json transformers' `SpmConverter` would build for this model: Unigram (pieces + scores, the
 * model's unk id) or BPE (merges recovered from the scores), byte fallback as the model has it, the model's
 * normalizer, Metaspace("▁") pre-tokenizer and decoder, CONTROL pieces as special added tokens and
 * USER_DEFINED pieces as non-special added tokens.
 */
export function sentencePieceToTokenizerJson(model: SentencePieceModel, opts: SentencePieceConvertOptions = {}): TokenizerJson {
  const source = opts.source ?? "SentencePiece model";
  checkSupported(model, source);
  const vocab: Array<[string, number]> = model.pieces.map((p) => [p.piece, p.score]);
  const ids = new Map<string, number>();
  model.pieces.forEach((p, i) => {
    if (!ids.has(p.piece)) ids.set(p.piece, i);
  });
  const added = model.pieces.flatMap((p, i) =>
    p.type === PieceType.CONTROL || p.type === PieceType.USER_DEFINED ? [addedToken(i, p.piece, p.type === PieceType.CONTROL)] : [],
  );
  const specials: Array<{ token: string; id: number; at: "start" | "end" }> = [];
  if (opts.addBos) {
    if (model.bosId < 0) throw new InseqError(ErrorCode.BAD_TOKENIZER, `${source} has no BOS piece (bos_id is -1)`);
    specials.push({ token: model.pieces[model.bosId]!.piece, id: model.bosId, at: "start" });
  }
  if (opts.addEos) {
    if (model.eosId < 0) throw new InseqError(ErrorCode.BAD_TOKENIZER, `${source} has no EOS piece (eos_id is -1)`);
    specials.push({ token: model.pieces[model.eosId]!.piece, id: model.eosId, at: "end" });
  }
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: normalizerJson(model),
    pre_tokenizer: metaspace(model),
    post_processor: templateProcessor(specials),
    decoder: decoderJson(model),
    model: modelJson(model, vocab, model.unkId, ids),
  };
}

export interface MarianConvertOptions {
  source?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string;
}

/**
 * Scores of vocab.json tokens that are not pieces of this side's SentencePiece model. A single character gets a
 * score far below any piece path but above every longer foreign token: it is chosen exactly where SentencePiece
 * has an unknown character (no piece covers it), which MarianTokenizer then looks up in vocab.json by its
 * surface text; longer foreign tokens (e.g. the other language's pieces of a shared vocabulary) never win.
 */
const FOREIGN_CHAR_SCORE = -1e6;
const FOREIGN_TOKEN_SCORE = -1e9;

/**
 * A Marian side (source.spm or target.spm with the checkpoint's vocab.json), encoding as MarianTokenizer does:
 * `spm.encode(text, out_type=str)` then `vocab.get(piece, unk_id)`, then `</s>`. The Unigram/BPE model holds
 * every vocab.json token at its vocab.json id (so ids, id -> token and decoding work for both sides' tokens),
 * with this side's SentencePiece scores for its pieces, and scores that keep the other tokens out of the
 * segmentation except for single characters SentencePiece does not know (its unknown piece is the surface
 * text, which MarianTokenizer finds in a shared vocab.json; a character in no token becomes `<unk>`).
 * `</s>`, `<unk>`, `<pad>` are special added tokens and `>>xx<<` language codes non-special added tokens.
 *
 * Not reproduced (both rare): SentencePiece fuses a run of 2+ adjacent unknown characters into one unknown
 * piece, which MarianTokenizer looks up as a whole (usually `<unk>`), while here each character that is a
 * vocab.json token keeps its own id; and a SentencePiece piece missing from vocab.json (MarianTokenizer: `<unk>`)
 * cannot be produced here, so the text is segmented without it.
 */
export function marianToTokenizerJson(model: SentencePieceModel, vocabJson: unknown, opts: MarianConvertOptions = {}): TokenizerJson {
  const source = opts.source ?? "SentencePiece model";
  checkSupported(model, source);
  if (typeof vocabJson !== "object" || vocabJson === null || Array.isArray(vocabJson)) {
    throw new InseqError(ErrorCode.BAD_TOKENIZER, `Expected a JSON object of token -> id in vocab.json for ${source}`);
  }
  const entries = Object.entries(vocabJson as Record<string, unknown>);
  let size = 0;
  for (const [tok, id] of entries) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 0xffffff) {
      throw new InseqError(ErrorCode.BAD_TOKENIZER, `Expected a non-negative integer id for ${JSON.stringify(tok)} in vocab.json but found ${JSON.stringify(id)}`);
    }
    size = Math.max(size, (id as number) + 1);
  }
  const vocab: Array<[string, number] | undefined> = new Array(size);
  const ids = new Map<string, number>();
  for (const [tok, id] of entries) {
    const i = id as number;
    if (vocab[i] !== undefined) {
      throw new InseqError(ErrorCode.BAD_TOKENIZER, `vocab.json gives the id ${i} to both ${JSON.stringify(vocab[i]![0])} and ${JSON.stringify(tok)}`);
    }
    vocab[i] = [tok, Array.from(tok).length === 1 ? FOREIGN_CHAR_SCORE : FOREIGN_TOKEN_SCORE];
    ids.set(tok, i);
  }
  const eos = opts.eosToken ?? "</s>";
  const unk = opts.unkToken ?? "<unk>";
  const pad = opts.padToken ?? "<pad>";
  const unkId = ids.get(unk);
  if (unkId === undefined) throw new InseqError(ErrorCode.BAD_TOKENIZER, `vocab.json has no ${unk} token (needed with ${source})`);
  const eosId = ids.get(eos);
  if (eosId === undefined) throw new InseqError(ErrorCode.BAD_TOKENIZER, `vocab.json has no ${eos} token (needed with ${source})`);
  // Holes in the id range (should not happen) get a token that cannot match text.
  for (let i = 0; i < size; i++) if (vocab[i] === undefined) vocab[i] = [`<inseq:unused-id-${i}>`, FOREIGN_TOKEN_SCORE];

  for (const p of model.pieces) {
    if (p.type === PieceType.CONTROL || p.type === PieceType.UNKNOWN) continue;
    const id = ids.get(p.piece);
    if (id !== undefined) vocab[id] = [p.piece, p.score];
  }
  // Special tokens: never produced from text by the model (they are added tokens).
  for (const tok of [unk, eos, pad]) {
    const id = ids.get(tok);
    if (id !== undefined) vocab[id] = [tok, FOREIGN_TOKEN_SCORE];
  }

  const added: AddedTokenJson[] = [];
  const seen = new Set<number>();
  const add = (tok: string, special: boolean) => {
    const id = ids.get(tok);
    if (id === undefined || seen.has(id)) return;
    seen.add(id);
    added.push(addedToken(id, tok, special));
  };
  add(eos, true);
  add(unk, true);
  add(pad, true);
  for (const [tok] of entries) if (/^>>.+<<$/.test(tok)) add(tok, false);
  added.sort((a, b) => a.id - b.id);

  const full = vocab as Array<[string, number]>;
  // BPE merges only between this side's pieces (a merge has no score to keep the other side's tokens out).
  const own = model.pieces.filter((p) => ids.has(p.piece) && p.type !== PieceType.CONTROL && p.type !== PieceType.UNKNOWN);
  const mergeVocab = own.map((p) => [p.piece, p.score] as const);
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: normalizerJson(model),
    pre_tokenizer: metaspace(model),
    post_processor: templateProcessor([{ token: eos, id: eosId, at: "end" }]),
    decoder: decoderJson(model),
    model: modelJson(model, full, unkId, ids, mergeVocab),
  };
}

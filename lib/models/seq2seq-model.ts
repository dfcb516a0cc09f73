/**
 * Encoder-decoder models (marian, bart, mbart, m2m_100) loaded natively. For now: tokenization and greedy
 * generation with the encoder run once; attribution for encoder-decoders comes next.
 */
import { existsSync } from "node:fs";
import path from "node:path";

import { readJsonField } from "../core/json-file.js";
import { checkKnownOptions, ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import type { NativeSeq2SeqModel } from "../native/binding-types.js";
import { runNativeJob } from "../native/jobs.js";
import { native } from "../native/load.js";
import { fromRagged, toRagged } from "../native/ragged.js";
import type { DeviceOption } from "./load-model.js";
import { TextTokenizer } from "./tokenizer.js";

export const SEQ2SEQ_MODEL_TYPES = ["marian", "bart", "mbart", "m2m_100"] as const;

export interface Seq2SeqGenerateOptions {
  /** Tokens to generate per source (default 20). */
  maxNewTokens?: number;
  /** Resolve to `{ texts, sequences }` with token ids instead of the texts alone. */
  returnIds?: boolean;
  signal?: AbortSignal;
}

export class Seq2SeqModel {
  #native: NativeSeq2SeqModel | undefined;
  readonly tokenizer: TextTokenizer;
  readonly info: ReturnType<NativeSeq2SeqModel["info"]> & { name: string; path: string; isEncoderDecoder: true };

  /** @internal use loadSeq2SeqModel() */
  constructor(nativeModel: NativeSeq2SeqModel, tokenizer: TextTokenizer, meta: { name: string; path: string }) {
    this.#native = nativeModel;
    this.tokenizer = tokenizer;
    this.info = { ...nativeModel.info(), name: meta.name, path: meta.path, isEncoderDecoder: true };
  }

  /** Translates/continues each source; resolves to the generated target texts (special tokens skipped). */
  generate(texts: string | readonly string[], options?: Seq2SeqGenerateOptions & { returnIds?: false }): Promise<string[]>;
  generate(texts: string | readonly string[], options: Seq2SeqGenerateOptions & { returnIds: true }): Promise<{ texts: string[]; sequences: number[][] }>;
  async generate(texts: string | readonly string[], options: Seq2SeqGenerateOptions = {}): Promise<string[] | { texts: string[]; sequences: number[][] }> {
    checkKnownOptions("generate", options, ["maxNewTokens", "returnIds", "signal"]);
    const list = typeof texts === "string" ? [texts] : texts;
    if (!Array.isArray(list) || list.length === 0 || list.some((t) => typeof t !== "string" || t.length === 0)) {
      throw invalidOption("texts", "one or more non-empty source texts", texts);
    }
    const maxNewTokens = options.maxNewTokens ?? 20;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw invalidOption("maxNewTokens", "a non-negative integer", maxNewTokens);
    const nativeModel = this.#checkAlive();
    const ragged = toRagged((await this.tokenizer.encodeBatch(list)).map((e) => e.ids));
    const raw = await runNativeJob(
      () => nativeModel.generate(ragged.ids, ragged.lengths, {
        maxNewTokens, eosTokenIds: [this.info.eosTokenId],
      }),
      options.signal,
    );
    const [sequences] = fromRagged(raw.lengths, raw.ids) as [number[][]];
    const out = await this.tokenizer.decodeBatch(sequences, { skipSpecialTokens: true });
    return options.returnIds ? { texts: out, sequences } : out;
  }

  async dispose(): Promise<void> {
    const n = this.#native;
    this.#native = undefined;
    n?.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  #checkAlive(): NativeSeq2SeqModel {
    if (!this.#native) throw new InseqError(ErrorCode.DISPOSED, "The model has been disposed");
    return this.#native;
  }
}

/** The config.json model_type of a directory, or "" when unreadable. */
export function modelTypeOf(dir: string): Promise<string> {
  return readJsonField(path.join(dir, "config.json"), "model_type");
}

/**
 * Loads a local encoder-decoder checkpoint (marian, bart, mbart, m2m_100). Marian directories without
 * tokenizer.json use source.spm / target.spm + vocab.json.
 */
export async function loadSeq2SeqModel(dir: string, options: { device?: DeviceOption; signal?: AbortSignal } = {}): Promise<Seq2SeqModel> {
  checkKnownOptions("loadSeq2SeqModel", options, ["device", "signal"]);
  if (!existsSync(path.join(dir, "config.json"))) throw new InseqError(ErrorCode.NOT_FOUND, `No config.json in ${dir}`);
  const type = await modelTypeOf(dir);
  if (!(SEQ2SEQ_MODEL_TYPES as readonly string[]).includes(type)) {
    throw new InseqError(ErrorCode.UNSUPPORTED_MODEL, `model_type ${JSON.stringify(type)} in ${dir} is not an encoder-decoder (${SEQ2SEQ_MODEL_TYPES.join(", ")})`);
  }
  const tokenizer = existsSync(path.join(dir, "tokenizer.json")) ? await TextTokenizer.fromDir(dir) : await TextTokenizer.fromMarianDir(dir);
  const binding = native();
  const nativeModel = await runNativeJob(() => binding.loadSeq2SeqModel(dir, { device: options.device ?? "auto", dtype: "float32" }), options.signal);
  return new Seq2SeqModel(nativeModel, tokenizer, { name: dir, path: path.resolve(dir) });
}

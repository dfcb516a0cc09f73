/**
 * The forward passes of the faithfulness metrics: an item's input with some words replaced, read at the target
 * position. Requests are collected first, identical inputs of an item shared (the oracle and the previous-word
 * baseline often remove the same words as a method), then run in left-padded batches with only the last logits
 * kept.
 *
 * Replacements (every token of a removed word):
 * - `unk` / `pad`: the tokenizer's UNK / the model's pad id;
 * - `mean`: the mean token embedding of the vocabulary (forward's `meanEmbeddingAt`);
 * - `counterfactual`: the item's counterfactual word for that index, re-tokenized in place; words without one fall
 *   back to UNK (or the mean embedding when the tokenizer has no UNK).
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import type { Model } from "../models/model.js";
import type { Seq2SeqModel } from "../models/seq2seq-model.js";
import { decision, softmaxAt } from "./metrics.js";
import { withoutTrailingSpecials, wordsOfTokens, type PreparedItem } from "./prepare.js";
import { inputWords } from "./sets/words.js";
import type { Replacement } from "./types.js";

/** p(target) and the decision (index into [target, ...alternatives], or the vocabulary argmax without alternatives). */
export interface Readout {
  p: number;
  decision: number;
}

interface Pending {
  item: PreparedItem;
  ids: number[];
  meanAt: number[];
}

/** Collects perturbed inputs, runs them in batches, and answers p(target) / decision per request key. */
export class Perturber {
  readonly #model: Model | Seq2SeqModel;
  readonly #replacement: Replacement;
  readonly #batchSize: number;
  readonly #signal: AbortSignal | undefined;
  readonly #unk: number | null;
  readonly #pad: number;
  readonly #pending = new Map<string, Pending>();
  readonly #done = new Map<string, Readout>();
  /** Forward rows actually run (after sharing identical inputs). */
  forwardRows = 0;

  constructor(model: Model | Seq2SeqModel, replacement: Replacement, options: { batchSize?: number; signal?: AbortSignal } = {}) {
    this.#model = model;
    this.#replacement = replacement;
    this.#batchSize = options.batchSize ?? 64;
    this.#signal = options.signal;
    this.#unk = model.tokenizer.unkTokenId ?? (model.kind === "encoder-decoder" && (model as Seq2SeqModel).info.unkTokenId >= 0 ? (model as Seq2SeqModel).info.unkTokenId : null);
    this.#pad = model.kind === "encoder-decoder" ? (model as Seq2SeqModel).info.padTokenId : (model as Model).padTokenId;
    if (replacement === "unk" && this.#unk === null) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a replacement the model supports: its tokenizer has no UNK token (use "pad", "mean" or "counterfactual")`);
    }
  }

  /** Queues the item's input with the words `removed` replaced; returns the key to read the result with. */
  async request(item: PreparedItem, removed: readonly number[]): Promise<string> {
    const input = await this.#perturbed(item, new Set(removed));
    const key = `${item.index}|${input.ids.join(",")}|${input.meanAt.join(",")}`;
    if (!this.#done.has(key) && !this.#pending.has(key)) this.#pending.set(key, input);
    return key;
  }

  /** Runs every queued input. */
  async run(): Promise<void> {
    const all = [...this.#pending.entries()];
    this.#pending.clear();
    for (let start = 0; start < all.length; start += this.#batchSize) {
      this.#signal?.throwIfAborted();
      const batch = all.slice(start, start + this.#batchSize);
      const readouts = await this.#forward(batch.map(([, p]) => p));
      batch.forEach(([key], i) => this.#done.set(key, readouts[i]!));
      this.forwardRows += batch.length;
    }
  }

  /** The result of a request (after run()). */
  get(key: string): Readout {
    const r = this.#done.get(key);
    if (!r) throw new Error(`evaluation: perturbation ${key} was not run`);
    return r;
  }

  async #perturbed(item: PreparedItem, removed: ReadonlySet<number>): Promise<Pending> {
    let ids = item.inputIds;
    let wordOfToken = item.wordOfToken;
    let fallback = removed;
    if (this.#replacement === "counterfactual" && removed.size > 0) {
      const swaps = item.item.counterfactuals ?? {};
      const words = item.words.map((w, i) => (removed.has(i) && swaps[String(i)] !== undefined ? swaps[String(i)]!.trim() : w));
      fallback = new Set([...removed].filter((i) => swaps[String(i)] === undefined));
      if (words.some((w, i) => w !== item.words[i])) {
        const text = words.join(" ");
        const wordList = inputWords(text);
        if (wordList.length !== words.length) throw new InseqError(ErrorCode.BAD_DATASET, `Evaluation item ${JSON.stringify(item.item.id)}: a counterfactual is not one word`);
        const [enc] = await this.#model.encode(text);
        // Decoder-only prompts end before the post-processor's trailing specials, as prepare.ts reads them.
        const n = this.#model.kind === "encoder-decoder" ? enc!.ids.length : withoutTrailingSpecials(enc!);
        ids = enc!.ids.slice(0, n);
        wordOfToken = wordsOfTokens(enc!, text, words, n);
      }
    }
    const out = [...ids];
    const meanAt: number[] = [];
    const useMean = this.#replacement === "mean" || (this.#replacement === "counterfactual" && this.#unk === null);
    wordOfToken.forEach((w, t) => {
      if (w === null || !fallback.has(w)) return;
      if (useMean) meanAt.push(t);
      else out[t] = this.#replacement === "pad" ? this.#pad : this.#unk!;
    });
    return { item, ids: out, meanAt };
  }

  async #forward(rows: Pending[]): Promise<Readout[]> {
    const anyMean = rows.some((r) => r.meanAt.length > 0);
    const meanEmbeddingAt = anyMean ? { meanEmbeddingAt: rows.map((r) => r.meanAt) } : {};
    const signal = this.#signal ? { signal: this.#signal } : {};
    if (this.#model.kind === "encoder-decoder") {
      const model = this.#model as Seq2SeqModel;
      const targets = rows.map((r) => r.item.decoderIds!);
      const out = await model.forward(rows.map((r) => r.ids), targets, { ...meanEmbeddingAt, ...signal });
      const [, positions, vocab] = out.logits.shape as [number, number, number];
      return rows.map((r, b) => readout(out.logits.data.subarray((b * positions + targets[b]!.length - 1) * vocab, (b * positions + targets[b]!.length) * vocab), r.item));
    }
    const model = this.#model as Model;
    const out = await model.forward(rows.map((r) => r.ids), { logitsToKeep: 1, ...meanEmbeddingAt, ...signal });
    const vocab = out.logits.shape[2]!;
    return rows.map((r, b) => readout(out.logits.data.subarray(b * vocab, (b + 1) * vocab), r.item));
  }
}

function readout(logits: Float32Array, item: PreparedItem): Readout {
  const candidates = item.alternativeIds.length > 0 ? [item.targetId, ...item.alternativeIds] : [];
  return { p: softmaxAt(logits, item.targetId), decision: decision(logits, candidates) };
}

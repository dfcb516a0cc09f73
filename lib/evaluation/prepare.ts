/**
 * Tokenizes the items of an evaluation set once for the whole run: the input's words, the token ids the model
 * reads, which word each token belongs to, and the ids of the target and its alternatives.
 *
 * The input text is the item's words joined by single spaces (whitespace normalised), so word i spans a known
 * character range; a token belongs to the word its first non-space character falls in; special tokens (BOS,
 * EOS) belong to no word and are never replaced.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import type { Model } from "../models/model.js";
import type { Seq2SeqModel } from "../models/seq2seq-model.js";
import type { Encoded, TextTokenizer } from "../tokenizers/tokenizer.js";
import { inputWords } from "./sets/words.js";
import type { EvalItem } from "./types.js";

/** An item ready for attribution and perturbation. */
export interface PreparedItem {
  item: EvalItem;
  /** Position of the item in the evaluated list (seeds the random baseline). */
  index: number;
  words: string[];
  /** The canonical input: `words.join(" ")`. */
  text: string;
  /** Decoder-only: the text attributed (input + " " + target); encoder-decoder: the target text (prefix + target). */
  generatedText: string;
  /** The token ids the words are read as: decoder-only the prompt (with BOS), encoder-decoder the source. */
  inputIds: number[];
  /** Word index of each input token (null for special tokens). */
  wordOfToken: Array<number | null>;
  /** Encoder-decoder: decoder start token + target prefix ids (the decoder input whose last logits predict the target). */
  decoderIds?: number[];
  /** Index of the attributed step among the generated tokens (0 for decoder-only, the prefix length for encoder-decoders). */
  step: number;
  /** First token of the target. */
  targetId: number;
  /** First token of each alternative (the decision is among [targetId, ...alternativeIds]). */
  alternativeIds: number[];
  /** The contrast target of contrastive attribution: generatedText with the first alternative in place of the target. */
  contrastText?: string;
}

/**
 * Word index of each of the first `count` tokens of `enc`, an encoding of `text` = `words.join(" ")` (possibly
 * followed by more text): the word holding the token's first non-space character; null for special tokens and
 * tokens past the words.
 */
export function wordsOfTokens(enc: Encoded, text: string, words: readonly string[], count = enc.ids.length): Array<number | null> {
  const wordAt = new Int32Array(text.length).fill(-1);
  let at = 0;
  words.forEach((w, i) => {
    wordAt.fill(i, at, at + w.length);
    at += w.length + 1;
  });
  return enc.ids.slice(0, count).map((_, t) => {
    if (enc.specialTokensMask[t] === 1) return null;
    const [start, end] = enc.offsets[t]!;
    for (let c = start; c < Math.min(end, text.length); c++) if (wordAt[c]! >= 0) return wordAt[c]!;
    return null;
  });
}

function badItem(item: EvalItem, message: string): InseqError {
  return new InseqError(ErrorCode.BAD_DATASET, `Evaluation item ${JSON.stringify(item.id)}: ${message}`);
}

function checkGroundTruth(item: EvalItem, words: readonly string[]): void {
  if (words.length === 0) throw badItem(item, "the input has no words");
  if (!Array.isArray(item.evidence) || item.evidence.length === 0) throw badItem(item, "needs at least one evidence word index");
  for (const [name, list] of [["evidence", item.evidence], ["distractors", item.distractors ?? []]] as const) {
    for (const i of list) {
      if (!(Number.isSafeInteger(i) && i >= 0 && i < words.length)) {
        throw badItem(item, `${name} index ${JSON.stringify(i)} is not a word index of the ${words.length}-word input`);
      }
    }
  }
  if (typeof item.target !== "string" || item.target.trim().length === 0) throw badItem(item, "needs a non-empty target");
}

/**
 * How many ids of a decoder-only prompt's encoding the model reads: all but the special tokens the post-processor
 * appends (e.g. EOS), keeping at least one.
 */
export function withoutTrailingSpecials(enc: Encoded): number {
  let n = enc.ids.length;
  while (n > 1 && enc.specialTokensMask[n - 1] === 1) n--;
  return n;
}

/** The id of the first token after `prefix` in `enc`, requiring enc to start with prefix (else null). */
function nextAfter(enc: Encoded, prefix: readonly number[]): number | null {
  for (let i = 0; i < prefix.length; i++) if (enc.ids[i] !== prefix[i]) return null;
  return enc.ids[prefix.length] ?? null;
}

async function prepareDecoderOnly(model: Model, item: EvalItem, index: number): Promise<PreparedItem> {
  const words = inputWords(item.input);
  checkGroundTruth(item, words);
  const text = words.join(" ");
  const target = item.target.trim();
  const alternatives = item.alternatives ?? [];
  const [prompt, full, ...alts] = await model.encode([text, `${text} ${target}`, ...alternatives.map((a) => `${text} ${a.trim()}`)]);
  const promptLength = withoutTrailingSpecials(prompt!);
  const inputIds = prompt!.ids.slice(0, promptLength);
  const targetId = nextAfter(full!, inputIds);
  if (targetId === null) throw badItem(item, "the prompt is tokenized differently when the target follows it");
  const alternativeIds = alts.map((enc, i) => {
    const id = nextAfter(enc, inputIds);
    if (id === null) throw badItem(item, `the prompt is tokenized differently when alternative ${JSON.stringify(alternatives[i])} follows it`);
    return id;
  });
  return {
    item, index, words, text, generatedText: `${text} ${target}`, inputIds, wordOfToken: wordsOfTokens(prompt!, text, words, promptLength),
    step: 0, targetId, alternativeIds,
    ...(alternatives.length > 0 ? { contrastText: `${text} ${alternatives[0]!.trim()}` } : {}),
  };
}

async function targetIds(tokenizer: TextTokenizer, texts: string[]): Promise<number[][]> {
  return (await tokenizer.encodeBatch(texts, { addSpecialTokens: false })).map((e) => e.ids);
}

async function prepareEncoderDecoder(model: Seq2SeqModel, item: EvalItem, index: number): Promise<PreparedItem> {
  const words = inputWords(item.input);
  checkGroundTruth(item, words);
  const text = words.join(" ");
  const prefixText = (item.targetPrefix ?? "").trim();
  const join = (w: string) => (prefixText.length > 0 ? `${prefixText} ${w.trim()}` : w.trim());
  const [source] = await model.encode(text);
  const alternatives = item.alternatives ?? [];
  const [prefix, full, ...alts] = await targetIds(model.targetTokenizer, [prefixText, join(item.target), ...alternatives.map(join)]);
  const prefixIds = prefixText.length > 0 ? prefix! : [];
  const first = (ids: number[], what: string) => {
    for (let i = 0; i < prefixIds.length; i++) if (ids[i] !== prefixIds[i]) throw badItem(item, `the target prefix is tokenized differently when ${what} follows it`);
    const id = ids[prefixIds.length];
    if (id === undefined) throw badItem(item, `${what} has no token`);
    return id;
  };
  const info = model.info;
  const start = info.decoderStartTokenId >= 0 ? info.decoderStartTokenId : info.bosTokenId;
  return {
    item, index, words, text, generatedText: join(item.target), inputIds: source!.ids, wordOfToken: wordsOfTokens(source!, text, words),
    decoderIds: [start, ...prefixIds], step: prefixIds.length,
    targetId: first(full!, "the target"), alternativeIds: alts.map((ids, i) => first(ids, `alternative ${JSON.stringify(alternatives[i])}`)),
    ...(alternatives.length > 0 ? { contrastText: join(alternatives[0]!) } : {}),
  };
}

/** Prepares every item (ERR_BAD_DATASET naming the item when its ground truth or tokenization does not fit). */
export async function prepareItems(model: Model | Seq2SeqModel, items: readonly EvalItem[]): Promise<PreparedItem[]> {
  const out: PreparedItem[] = [];
  for (let i = 0; i < items.length; i++) {
    out.push(model.kind === "encoder-decoder"
      ? await prepareEncoderDecoder(model as Seq2SeqModel, items[i]!, i)
      : await prepareDecoderOnly(model as Model, items[i]!, i));
  }
  return out;
}

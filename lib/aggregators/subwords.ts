/**
 * The `subwords` aggregator (Inseq's `SubwordAggregator`): detects the spans of subword pieces that form one word
 * and merges them with the `spans` machinery (default fn `absmax`; step scores with their span functions).
 *
 * Word detection, in order of preference:
 * 1. word ids: when every token of a list carries `wordId` (the tokenizer's pre-tokenizer word index; null for
 *    special tokens), runs of equal non-null ids form words (`useWordIds: false` turns this off);
 * 2. markers: with `specialChars` (default "▁" for SentencePiece; `["Ġ", "Ċ"]` for GPT-2 byte-level BPE) a token
 *    starting with a marker starts a word and the following unmarked tokens continue it; with
 *    `isSuffixSymbol: true` (WordPiece `##`) a token starting with the marker continues the previous word. If no
 *    token contains a marker nothing is merged (Inseq warns).
 *
 * Differences from Inseq's marker rule, both fixing cases where it merges too little or too much:
 * - Inseq never merges the LAST token into the word before it (`["▁fra", "me", "work"]` at the end of a sequence
 *   gives `["▁frame", "work"]`); here it is merged like any other piece;
 * - special tokens (`<...>` with no spaces inside, e.g. `</s>`, `<pad>`, `<|endoftext|>`, but not byte pieces like
 *   `<0xE2>`) are always words of their own, and the token after one starts a new word. On SentencePiece sequences ending with `</s>` (the case
 *   Inseq's fixtures cover) both rules give the same words.
 */
import type { SequenceOutput, TokenWithId } from "../results/types.js";
import { invalidOption } from "../core/errors.js";
import { isDecoderOnly, mergeSpans, type SpanTuple } from "./spans.js";
import type { AggregatorOptions, SequenceAggregator } from "./types.js";

/** Tokens treated as standalone words by the marker rule (not SentencePiece byte pieces such as `<0xE2>`). */
export const SPECIAL_TOKEN_PATTERN = /^<(?!0x[0-9A-Fa-f]{2}>)[^<>\s]+>$/;

function checkSpecialChars(specialChars: unknown): string[] {
  const list = typeof specialChars === "string" ? [specialChars] : specialChars;
  if (!Array.isArray(list) || list.length === 0 || list.some((c) => typeof c !== "string" || c.length === 0)) {
    throw invalidOption("specialChars", "a non-empty string or a non-empty list of non-empty strings", specialChars);
  }
  return list as string[];
}

/** Runs of tokens with the same non-null word id, as spans of at least 2 tokens. */
export function wordIdSpans(tokens: readonly TokenWithId[]): SpanTuple[] {
  const spans: SpanTuple[] = [];
  let start = 0;
  for (let i = 1; i <= tokens.length; i++) {
    const prev = tokens[i - 1]!.wordId;
    const cur = i < tokens.length ? tokens[i]!.wordId : undefined;
    const continues = i < tokens.length && prev !== null && prev !== undefined && cur === prev;
    if (!continues) {
      if (i - start > 1) spans.push([start, i]);
      start = i;
    }
  }
  return spans;
}

/**
 * Word spans (of at least 2 tokens) from word-boundary markers. See the module comment for the rule and how it
 * differs from Inseq's `get_spans`.
 */
export function markerSpans(tokens: readonly TokenWithId[], specialChars: string | readonly string[] = "▁", isSuffixSymbol = false): SpanTuple[] {
  const chars = checkSpecialChars(specialChars);
  if (!tokens.some((t) => chars.some((c) => t.token.includes(c)))) return [];
  const spans: SpanTuple[] = [];
  let start = 0;
  let prevSpecial = false;
  const close = (end: number) => {
    if (end - start > 1) spans.push([start, end]);
    start = end;
  };
  tokens.forEach((t, i) => {
    if (i === 0) {
      prevSpecial = SPECIAL_TOKEN_PATTERN.test(t.token);
      return;
    }
    const special = SPECIAL_TOKEN_PATTERN.test(t.token);
    const marked = chars.some((c) => t.token.startsWith(c));
    const startsWord = special || prevSpecial || marked !== isSuffixSymbol;
    if (startsWord) close(i);
    prevSpecial = special;
  });
  close(tokens.length);
  return spans;
}

/** The spans `subwords` merges in one token list. */
export function subwordSpans(
  tokens: readonly TokenWithId[],
  options: Pick<AggregatorOptions, "specialChars" | "isSuffixSymbol" | "useWordIds"> = {},
): SpanTuple[] {
  if (options.useWordIds !== undefined && typeof options.useWordIds !== "boolean") {
    throw invalidOption("useWordIds", "a boolean", options.useWordIds);
  }
  if (options.isSuffixSymbol !== undefined && typeof options.isSuffixSymbol !== "boolean") {
    throw invalidOption("isSuffixSymbol", "a boolean", options.isSuffixSymbol);
  }
  if ((options.useWordIds ?? true) && tokens.length > 0 && tokens.every((t) => t.wordId !== undefined)) return wordIdSpans(tokens);
  return markerSpans(tokens, options.specialChars ?? "▁", options.isSuffixSymbol ?? false);
}

export function checkSideFlags(options: AggregatorOptions): { source: boolean; target: boolean } {
  for (const key of ["aggregateSource", "aggregateTarget"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "boolean") throw invalidOption(key, "a boolean", options[key]);
  }
  return { source: options.aggregateSource ?? true, target: options.aggregateTarget ?? true };
}

export const SUBWORDS_OPTIONS = ["specialChars", "isSuffixSymbol", "useWordIds", "aggregateSource", "aggregateTarget", "vnormOrd"] as const;

/** `subwords`: merges subword pieces into words (source and target; decoder-only: the target, the source follows). */
export const subwordsAggregator: SequenceAggregator = Object.freeze({
  id: "subwords",
  family: "spans",
  options: SUBWORDS_OPTIONS,
  takesAggregateFn: true,
  requires2D: false,
  aggregate(seq: SequenceOutput, fn: string | null, options: AggregatorOptions) {
    const sides = checkSideFlags(options);
    checkSpecialChars(options.specialChars ?? "▁");
    const decoderOnly = isDecoderOnly(seq);
    const sourceSpans = sides.source && !decoderOnly ? subwordSpans(seq.source, options) : [];
    const targetSpans = sides.target ? subwordSpans(seq.target, options) : [];
    return mergeSpans(seq, sourceSpans, targetSpans, fn, options);
  },
});

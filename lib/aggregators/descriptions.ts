/**
 * One-line documentation of every aggregator and built-in aggregation function id, for `explain(id)` (Inseq's
 * `explain` covers these ids too). A test checks that the keys equal `listAggregators()` and the built-in
 * `listAggregationFunctions()`.
 */

export const AGGREGATOR_DESCRIPTIONS: Readonly<Record<string, string>> = {
  scores:
    "Reduces the last axis of the attributions and sequence scores with an aggregation function (default vnorm for granular outputs, mean otherwise), then L1-normalises each generated column over source + target rows; step scores kept. Options: normalize, rescale, selectIdx, vnormOrd (Inseq's SequenceAttributionAggregator).",
  spans:
    "Merges contiguous [start, end) spans of source / target tokens into one token each: rows (and generated columns) reduced with the aggregation function (default absmax), step scores with their own span function (probability: prod, entropy: sum, ...). Options: sourceSpans, targetSpans, aggregateFn (Inseq's ContiguousSpanAggregator).",
  subwords:
    "Merges the subword pieces of each word (tokenizer word ids, else markers such as ▁ / Ġ / ##) with the spans machinery (default absmax). Options: specialChars, isSuffixSymbol, useWordIds, aggregateFn (Inseq's SubwordAggregator).",
  split:
    "Groups tokens around the matches of a regular expression on the token strings (splitMode single / start / end) and merges each group with the spans machinery. Options: splitPattern, splitMode, aggregateFn (Inseq's StringSplitAggregator).",
  pair:
    "The element-wise difference pairedAttr - this of two outputs of the same shape (e.g. a minimal pair); differing tokens read \"a → b\". Option: pairedAttr (Inseq's PairAggregator).",
  slices:
    "Keeps only the given spans of tokens with their attribution rows; generated columns and step scores kept. Options: sourceSpans, targetSpans (Inseq's SliceAggregator).",
};

export const AGGREGATION_FUNCTION_DESCRIPTIONS: Readonly<Record<string, string>> = {
  mean: "Mean of the values along the reduced axis (NaN propagates).",
  max: "Maximum along the reduced axis (NaN propagates).",
  min: "Minimum along the reduced axis (NaN propagates).",
  sum: "Sum along the reduced axis.",
  prod: "Product along the reduced axis (the span function of probability step scores).",
  absmax: "The value of largest magnitude, sign kept (NaN treated as 0 when choosing, as Inseq); the default for spans.",
  vnorm: "Vector norm along the reduced axis, order vnormOrd (default 2; Infinity: max |x|); the default for granular gradient outputs.",
};

/** The documentation line of an aggregator or built-in aggregation function id, or undefined. */
export function explainAggregationId(id: string): string | undefined {
  if (Object.hasOwn(AGGREGATOR_DESCRIPTIONS, id)) return `${id} (aggregator): ${AGGREGATOR_DESCRIPTIONS[id]}`;
  if (Object.hasOwn(AGGREGATION_FUNCTION_DESCRIPTIONS, id)) return `${id} (aggregation function): ${AGGREGATION_FUNCTION_DESCRIPTIONS[id]}`;
  return undefined;
}

/**
 * The `split` aggregator (Inseq's `StringSplitAggregator`): groups tokens around the matches of a regular
 * expression on the concatenated token strings (markers such as "▁"/"Ġ" included), then merges every group of 2+
 * tokens with the `spans` machinery (default fn `absmax`; step scores with their span functions).
 *
 * A match covers the tokens its characters fall in (a match inside one token covers that token; one across tokens
 * covers all of them). With `splitMode`:
 * - "single" (default): the covered tokens form a group of their own, and the tokens between two matches another
 *   (overlapping covered ranges are united);
 * - "start": each match starts a new group (the covered tokens open it);
 * - "end": each match ends the current group (the covered tokens close it).
 * A zero-length match (e.g. a lookahead) acts as a boundary when it falls exactly at the start of a token and is
 * ignored inside a token.
 */
import type { SequenceOutput, TokenWithId } from "../results/types.js";
import { invalidOption } from "../core/errors.js";
import { isDecoderOnly, mergeSpans, type SpanTuple } from "./spans.js";
import { checkSideFlags } from "./subwords.js";
import type { AggregatorOptions, SequenceAggregator, SplitMode } from "./types.js";

const MODES: readonly SplitMode[] = ["single", "start", "end"];

/** A global copy of the pattern (strings are compiled without flags, like Python's `re`). */
export function compileSplitPattern(pattern: unknown): RegExp {
  if (pattern instanceof RegExp) return new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`);
  if (typeof pattern === "string" && pattern.length > 0) {
    try {
      return new RegExp(pattern, "g");
    } catch (err) {
      throw invalidOption("splitPattern", `a valid regular expression (${(err as Error).message})`, pattern);
    }
  }
  throw invalidOption("splitPattern", "a non-empty regular expression string or a RegExp", pattern);
}

function checkMode(mode: unknown): SplitMode {
  if (mode === undefined) return "single";
  if (!MODES.includes(mode as SplitMode)) throw invalidOption("splitMode", `one of ${MODES.map((m) => `"${m}"`).join(", ")}`, mode);
  return mode as SplitMode;
}

/** The spans (groups of 2+ tokens) that `split` merges in one token list. */
export function splitSpans(tokens: readonly TokenWithId[], pattern: string | RegExp, mode: SplitMode = "single"): SpanTuple[] {
  const re = compileSplitPattern(pattern);
  checkMode(mode);
  const n = tokens.length;
  if (n === 0) return [];
  const starts: number[] = [];
  let text = "";
  for (const t of tokens) {
    starts.push(text.length);
    text += t.token;
  }
  // Token containing character c < text.length.
  const tokenAt = (c: number): number => {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= c) lo = mid;
      else hi = mid - 1;
    }
    return lo; // never an empty token: the last token starting at or before c is the one covering c
  };
  const boundaries = new Set<number>();
  const covered: SpanTuple[] = []; // [first, last + 1) token ranges of the matches (single mode)
  for (const m of text.matchAll(re)) {
    const ms = m.index!;
    const me = ms + m[0].length;
    if (me === ms) {
      const i = starts.findIndex((s, k) => s === ms && tokens[k]!.token.length > 0);
      if (i > 0) boundaries.add(i);
      continue;
    }
    const a = tokenAt(ms);
    const b = tokenAt(me - 1);
    if (mode === "start") boundaries.add(a);
    else if (mode === "end") boundaries.add(b + 1);
    else {
      const last = covered.at(-1);
      if (last && a < last[1]) last[1] = Math.max(last[1], b + 1);
      else covered.push([a, b + 1]);
    }
  }
  for (const [a, b] of covered) {
    boundaries.add(a);
    boundaries.add(b);
  }
  const cuts = [...boundaries].filter((c) => c > 0 && c < n).sort((x, y) => x - y);
  const spans: SpanTuple[] = [];
  let prev = 0;
  for (const c of [...cuts, n]) {
    if (c - prev > 1) spans.push([prev, c]);
    prev = c;
  }
  return spans;
}

export const SPLIT_OPTIONS = ["splitPattern", "splitMode", "aggregateSource", "aggregateTarget", "vnormOrd"] as const;

/** `split`: merges the groups delimited by `splitPattern` matches (decoder-only: the target, the source follows). */
export const splitAggregator: SequenceAggregator = Object.freeze({
  id: "split",
  family: "spans",
  options: SPLIT_OPTIONS,
  takesAggregateFn: true,
  requires2D: false,
  aggregate(seq: SequenceOutput, fn: string | null, options: AggregatorOptions) {
    const pattern = compileSplitPattern(options.splitPattern);
    const mode = checkMode(options.splitMode);
    const sides = checkSideFlags(options);
    const decoderOnly = isDecoderOnly(seq);
    const sourceSpans = sides.source && !decoderOnly ? splitSpans(seq.source, pattern, mode) : [];
    const targetSpans = sides.target ? splitSpans(seq.target, pattern, mode) : [];
    return mergeSpans(seq, sourceSpans, targetSpans, fn, options);
  },
});

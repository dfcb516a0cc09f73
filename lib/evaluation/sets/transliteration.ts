/**
 * The transliteration evaluation set for an Arabic -> Latin encoder-decoder (such as CTranslate2's test model,
 * converted to a TorchScript bundle): each Latin letter the model generated, attributed to the source letters;
 * the ground truth is the Arabic letter it transliterates (`alignTransliteration`).
 */
import { invalidOption } from "../../core/errors.js";
import type { Seq2SeqModel } from "../../models/seq2seq-model.js";
import type { EvalItem, EvalSet } from "../types.js";
import { alignTransliteration, ARABIC_NAMES } from "./arabic-alignment.js";
import { inputWords } from "./words.js";

export { alignTransliteration, ARABIC_NAMES } from "./arabic-alignment.js";

/** A source (space-separated Arabic letters) and its transliteration (space-separated Latin letters). */
export interface TransliterationPair {
  source: string;
  target: string;
}

function checkPairs(pairs: unknown): asserts pairs is TransliterationPair[] {
  if (!Array.isArray(pairs)) throw invalidOption("pairs", "an array of { source, target }", pairs);
  pairs.forEach((p, i) => {
    const pair = p as Partial<TransliterationPair> | null;
    if (pair === null || typeof pair !== "object" || typeof pair.source !== "string" || typeof pair.target !== "string" || inputWords(pair.source).length === 0) {
      throw invalidOption(`pairs[${i}]`, "{ source: non-empty string, target: string }", p);
    }
  });
}

/**
 * The transliteration evaluation set: one item per target letter that the alignment links 1:1 to a source
 * letter (the letter is that source letter's whole rendering: not one of the two letters of "kh", not an
 * inserted short vowel). `input` is the source, `targetPrefix` the target letters before it (space-separated,
 * forced), `target` the letter, `evidence` the source letter's index; no distractors and no alternatives (a
 * letter has no natural competitor), no counterfactuals. Kind "letter_alignment"; ids
 * `transliteration:<pair index>:<target letter index>`.
 *
 * The targets should be the model's own greedy outputs (`transliterationPairs`), so that each item's target is
 * the model's decision.
 *
 * @example
 * import { transliterationSet } from "inseq";
 * transliterationSet([{ source: "م ح م د", target: "m o h a m e d" }]).items.map((i) => [i.targetPrefix, i.target, i.evidence]);
 * // [["", "m", [0]], ["m o", "h", [1]], ["m o h a", "m", [2]], ["m o h a m e", "d", [3]]]
 */
export function transliterationSet(pairs: readonly TransliterationPair[]): EvalSet {
  checkPairs(pairs);
  const items: EvalItem[] = [];
  pairs.forEach((pair, p) => {
    const source = inputWords(pair.source);
    const target = inputWords(pair.target);
    const alignment = alignTransliteration(source, target);
    const letters = new Map<number, number>();
    for (const s of alignment) if (s !== null) letters.set(s, (letters.get(s) ?? 0) + 1);
    alignment.forEach((s, j) => {
      if (s === null || letters.get(s) !== 1) return;
      items.push({
        id: `transliteration:${p}:${j}`,
        kind: "letter_alignment",
        input: source.join(" "),
        targetPrefix: target.slice(0, j).join(" "),
        target: target[j]!,
        alternatives: [],
        evidence: [s],
        distractors: [],
      });
    });
  });
  return {
    name: "transliteration",
    description: `Arabic -> Latin transliteration of ${pairs.length} sources: each generated Latin letter that alone renders one Arabic letter, whose position is the evidence`,
    items,
  };
}

/**
 * Transliterates `sources` greedily with `model` (an Arabic -> Latin encoder-decoder whose source and target
 * are space-separated letters), as the pairs `transliterationSet` takes. Default sources: `ARABIC_NAMES`, 50
 * Arabic names and cities.
 *
 * @example
 * import { loadSeq2SeqModel, transliterationPairs, transliterationSet } from "inseq";
 * const model = await loadSeq2SeqModel("ct2-aren-bundle");
 * const set = transliterationSet(await transliterationPairs(model));
 * // pairs[2]: { source: "م ح م د", target: "m o h a m e d" }
 */
export async function transliterationPairs(model: Seq2SeqModel, sources: readonly string[] = ARABIC_NAMES): Promise<TransliterationPair[]> {
  if (!Array.isArray(sources) || sources.length === 0 || sources.some((s) => typeof s !== "string" || inputWords(s).length === 0)) {
    throw invalidOption("sources", "an array of non-empty source texts", sources);
  }
  const longest = Math.max(...sources.map((s) => inputWords(s).length));
  const texts = await model.generate(sources, { maxNewTokens: Math.max(20, 3 * longest + 4) });
  return sources.map((source, i) => ({ source, target: texts[i]!.trim() }));
}

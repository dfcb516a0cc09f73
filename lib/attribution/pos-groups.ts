/**
 * ReAGent's part-of-speech groups: every vocabulary item tagged once, in isolation, with a Penn Treebank tag
 * (Python Inseq tags `tokenizer.decode([id]).strip()` with NLTK's averaged perceptron). Our tagger is
 * wink-pos-tagger (MIT; lexicon + Brill-style rules, no model download), with two normalisations towards NLTK's
 * single-word behaviour: punctuation mapped to Penn's punctuation tags, and unknown lower-case words tagged NN
 * instead of NNP. docs/attribution.md ("reagent") has the choice and the measured agreement with NLTK.
 * Special tokens (the tokenizer's, and the model's BOS / EOS / pad / UNK / decoder start) form no group (-1):
 * ReAGent never replaces them. The table is built once per tokenizer (about 0.5 s for GPT-2's 50257 items) and
 * kept in memory.
 */
import type { TextTokenizer } from "../tokenizers/tokenizer.js";

interface WinkToken { value: string; tag: string; pos: string }
interface WinkTagger { tagRawTokens(tokens: string[]): WinkToken[] }

let tagger: WinkTagger | null = null;

/** Loads wink-pos-tagger once (a CommonJS package, imported on first use: only ReAGent needs it). */
export async function loadPosTagger(): Promise<void> {
  if (tagger) return;
  const specifier = "wink-pos-tagger"; // untyped CommonJS: its default export is the tagger factory
  const mod = (await import(specifier)) as { default: () => WinkTagger };
  tagger ??= mod.default();
}

/** Penn Treebank word tags (what a group may be named; punctuation is mapped by `punctuationTag`). */
const PENN_WORD_TAGS = new Set([
  "CC", "CD", "DT", "EX", "FW", "IN", "JJ", "JJR", "JJS", "LS", "MD", "NN", "NNS", "NNP", "NNPS", "PDT", "POS", "PRP",
  "PRP$", "RB", "RBR", "RBS", "RP", "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "WDT", "WP", "WP$", "WRB",
]);

/** Penn's punctuation tags for a punctuation string. */
function punctuationTag(s: string): string {
  if (/^[.!?]+$/.test(s)) return ".";
  if (/^,+$/.test(s)) return ",";
  if (/^([:;]+|-+|\.\.\.|…|–|—)$/.test(s)) return ":";
  if (/^[([{]+$/.test(s)) return "(";
  if (/^[)\]}]+$/.test(s)) return ")";
  if (/^(``|“|‘)$/.test(s)) return "``";
  if (/^(''|"|”|’|')$/.test(s)) return "''";
  if (/^\$+$/.test(s)) return "$";
  if (/^#+$/.test(s)) return "#";
  return "SYM";
}

/** wink's tag of one word, punctuation mapped to Penn's tags, out-of-lexicon lower-case words NN. */
function winkTag(word: string): string {
  if (!tagger) throw new Error("pos-groups: loadPosTagger() must resolve before tagging");
  if (word.length === 0) return "NN";  // NLTK tags the empty string NN
  const pos = tagger.tagRawTokens([word])[0]!.pos;
  if (!PENN_WORD_TAGS.has(pos)) return punctuationTag(word);
  // wink tags out-of-lexicon words NNP; NLTK's perceptron tags lower-case ones NN (word pieces, rare words).
  return pos === "NNP" && !/\p{Lu}/u.test(word) ? "NN" : pos;
}

/**
 * The Penn tag of one stripped vocabulary item, tagged in isolation, as close to NLTK's averaged perceptron on a
 * one-word sentence as a lexicon tagger gets: NLTK's single-word decisions lean on the word's suffix and on the
 * most frequent reading, so capitalised words take their lower-case reading (NNP only from NLTK's lexicon),
 * base verbs read as nouns, "-ed" as VBN, "-s" as NNS, "-ing" as VBG, other symbols as NN. Each rule was kept
 * when it raised the agreement with NLTK on GPT-2's vocabulary (test/model/reagent-pos.test.ts).
 */
export function tagWord(word: string): string {
  let pos = winkTag(word);
  if (pos === "NNP") pos = winkTag(word.toLowerCase());
  if (pos === "NNP" || pos === "SYM" || pos === "VB") pos = "NN";
  if (pos === "VBD" && /ed$/.test(word)) pos = "VBN";
  if (pos === "VBZ" && !/^(is|has|does|was|goes|says)$/i.test(word)) pos = "NNS";
  if (pos === "NN") {
    if (/[a-z]s$/.test(word) && !/(ss|us|is)$/.test(word)) pos = "NNS";
    else if (/[a-z]ing$/.test(word)) pos = "VBG";
    else if (/[a-z]ed$/.test(word)) pos = "VBN";
  }
  return pos;
}

/** The POS table of one tokenizer: per id its group (-1: special), and the group names. */
export interface PosGroups {
  groups: Int32Array;
  names: string[];
  tags: string[];  // per id its tag ("" for specials)
}

const cache = new WeakMap<TextTokenizer, Map<string, PosGroups>>();

/**
 * The POS groups of `tok`'s vocabulary, `size` entries (ids the tokenizer does not have, and `specials`, are -1).
 * Cached per tokenizer and size/specials.
 */
export async function posGroupsOf(tok: TextTokenizer, size: number, specials: Iterable<number> = []): Promise<PosGroups> {
  const special = new Set<number>([...tok.specialTokenIds, ...specials]);
  const key = `${size}:${[...special].sort((a, b) => a - b).join(",")}`;
  let perTok = cache.get(tok);
  if (!perTok) cache.set(tok, (perTok = new Map()));
  const hit = perTok.get(key);
  if (hit) return hit;
  await loadPosTagger();
  const n = Math.min(size, tok.vocabSize);
  const ids = Array.from({ length: n }, (_, id) => [id]);
  const words = await tok.decodeBatch(ids, { skipSpecialTokens: false });
  const tags = words.map((w, id) => (special.has(id) ? "" : tagWord(w.trim())));
  const names = [...new Set(tags.filter((t) => t !== ""))].sort();
  const index = new Map(names.map((t, g) => [t, g]));
  const groups = new Int32Array(size).fill(-1);
  tags.forEach((t, id) => { if (t !== "") groups[id] = index.get(t)!; });
  const out = { groups, names, tags };
  perTok.set(key, out);
  return out;
}

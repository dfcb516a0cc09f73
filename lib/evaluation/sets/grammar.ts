/**
 * The grammar evaluation set: one item per dependency of the bundled default model's held-out grammar examples
 * (`models/default/grammar/eval.jsonl`), with the grammar's exact ground truth (which earlier word decides the
 * pronoun's gender or the verb's number) and counterfactual replacements drawn from the grammar's lexicon.
 */
import {
  categoryEntries, describeTemplates, lookupWord,
  type Category, type GrammarExample, type LexicalEntry,
} from "../../default-model/grammar.js";
import { loadEvalSet } from "../../default-model/eval-set.js";
import { invalidOption } from "../../core/errors.js";
import type { EvalItem, EvalSet } from "../types.js";
import { badData } from "./words.js";

type Feature = "gender" | "number";

/** The feature a dependency kind decides: gender for *_gender kinds, number for *_number kinds, else none. */
function decidedFeature(kind: string): Feature | null {
  if (/gender/.test(kind)) return "gender";
  if (/number/.test(kind)) return "number";
  return null;
}

let slotCategories: Map<string, Set<string>> | undefined;
/** Template name -> the lexical categories of its `{category}` slots (a word of no slot category is a literal). */
function templateCategories(template: string | undefined): Set<string> | null {
  slotCategories ??= new Map(describeTemplates().map((t) => [
    t.name, new Set([...t.pattern.matchAll(/\{(\w+)(?::\w+)?\}/g)].map((m) => m[1]!)),
  ]));
  return template === undefined ? null : slotCategories.get(template) ?? null;
}

const featureOf = (e: LexicalEntry, f: Feature) => (f === "gender" ? e.gender : e.number);
const otherFeature = (f: Feature): Feature => (f === "gender" ? "number" : "gender");

/**
 * The counterpart of `entry` with the other value of `feature`: the same lemma's other form (woman -> man,
 * key -> keys, is -> are), else the entry at the same position among the other value's entries of the category
 * (mary, the first female name -> john, the first male name), skipping words of `avoid`. Null when the category
 * has no other value.
 */
function counterpart(entry: LexicalEntry & { category: Category }, feature: Feature, avoid: ReadonlySet<string>): string | null {
  const value = featureOf(entry, feature);
  if (value === undefined) return null;
  const g = otherFeature(feature);
  const entries = categoryEntries(entry.category).filter((e) => featureOf(e, g) === featureOf(entry, g));
  const sameLemma = entries.find((e) => e.lemma === entry.lemma && featureOf(e, feature) !== undefined && featureOf(e, feature) !== value);
  if (sameLemma) return sameLemma.word;
  const mine = entries.filter((e) => featureOf(e, feature) === value);
  const theirs = entries.filter((e) => featureOf(e, feature) !== undefined && featureOf(e, feature) !== value);
  if (theirs.length === 0) return null;
  const k = Math.max(0, mine.findIndex((e) => e.word === entry.word));
  for (let i = 0; i < theirs.length; i++) {
    const candidate = theirs[(k + i) % theirs.length]!.word;
    if (!avoid.has(candidate)) return candidate;
  }
  return theirs[k % theirs.length]!.word;
}

/**
 * Another word of `entry`'s category with the same gender and number: the next entry of the category (cyclic)
 * with another lemma that is not in `avoid` (blue -> green, key -> book). Null when the category has no other.
 */
function sameCategory(entry: LexicalEntry & { category: Category }, avoid: ReadonlySet<string>): string | null {
  const entries = categoryEntries(entry.category).filter((e) => e.gender === entry.gender && e.number === entry.number);
  const k = entries.findIndex((e) => e.word === entry.word);
  const others = Array.from({ length: entries.length - 1 }, (_, i) => entries[(k + 1 + i) % entries.length]!)
    .filter((e) => e.lemma !== entry.lemma);
  return (others.find((e) => !avoid.has(e.word)) ?? others[0])?.word ?? null;
}

/**
 * The counterfactual replacement of one input word (see `grammarSet`), or null for a literal word. Only the
 * categories of the template's slots count (in "mary went to the park", "to" is a literal of the template even
 * though the lexicon has it as a preposition); without a known template, every category of the word does.
 */
function counterfactualWord(word: string, feature: Feature | null, allowed: Set<string> | null, avoid: ReadonlySet<string>): string | null {
  const entries = lookupWord(word).filter((e) => allowed === null || allowed.has(e.category));
  if (entries.length === 0) return null;
  if (feature !== null) {
    for (const e of entries) {
      const c = counterpart(e, feature, avoid);
      if (c !== null) return c;
    }
  }
  for (const e of entries) {
    const c = sameCategory(e, avoid);
    if (c !== null) return c;
  }
  return null;
}

const isIndex = (v: unknown, below: number) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < below;

/** Checks the parts of a GrammarExample that the items use; ERR_BAD_DATASET naming `where` and the field. */
export function checkGrammarExample(value: unknown, where: string): asserts value is GrammarExample {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw badData(where, "the example", "is not an object");
  const e = value as Partial<GrammarExample>;
  if (!Array.isArray(e.words) || e.words.length === 0) throw badData(where, "words", "must be a non-empty array of words");
  e.words.forEach((w, i) => {
    if (typeof w !== "string" || w.length === 0 || /\s/.test(w)) throw badData(where, `words[${i}]`, `must be a word without whitespace, not ${JSON.stringify(w)}`);
  });
  if (e.template !== undefined && typeof e.template !== "string") throw badData(where, "template", "must be a string");
  if (!Array.isArray(e.dependencies)) throw badData(where, "dependencies", "must be an array");
  const n = e.words.length;
  e.dependencies.forEach((d, j) => {
    const field = `dependencies[${j}]`;
    if (d === null || typeof d !== "object") throw badData(where, field, "is not an object");
    if (typeof d.kind !== "string" || d.kind.length === 0) throw badData(where, `${field}.kind`, "must be a non-empty string");
    if (!isIndex(d.target, n)) throw badData(where, `${field}.target`, `must be a word index below ${n}, not ${JSON.stringify(d.target)}`);
    if (d.expected !== e.words![d.target]) {
      throw badData(where, `${field}.expected`, `is ${JSON.stringify(d.expected)} but the word at the target is ${JSON.stringify(e.words![d.target])}`);
    }
    if (!Array.isArray(d.alternatives) || d.alternatives.some((a) => typeof a !== "string" || a.length === 0)) {
      throw badData(where, `${field}.alternatives`, "must be an array of non-empty strings");
    }
    for (const key of ["evidence", "distractors"] as const) {
      const list = d[key];
      if (!Array.isArray(list)) throw badData(where, `${field}.${key}`, "must be an array of word indices");
      list.forEach((i, k) => {
        if (!isIndex(i, n)) throw badData(where, `${field}.${key}[${k}]`, `must be a word index below ${n}, not ${JSON.stringify(i)}`);
      });
    }
    if (d.evidence.length === 0) throw badData(where, `${field}.evidence`, "must not be empty");
    d.evidence.forEach((i, k) => {
      if (i >= d.target) throw badData(where, `${field}.evidence[${k}]`, `= ${i} is not before the target word ${d.target}`);
    });
    const verified = (d as { verified?: unknown }).verified;
    if (verified !== undefined && typeof verified !== "boolean") throw badData(where, `${field}.verified`, "must be a boolean");
  });
}

/**
 * The items of one grammar example (one per dependency), ids `<idPrefix>:<dependency index>`. The example must
 * have passed `checkGrammarExample`.
 */
export function grammarItems(example: GrammarExample, idPrefix: string): EvalItem[] {
  const allowed = templateCategories(example.template);
  const avoid = new Set(example.words);
  return example.dependencies.map((dep, j) => {
    const feature = decidedFeature(dep.kind);
    const before = example.words.slice(0, dep.target);
    const counterfactuals: Record<string, string> = {};
    before.forEach((word, i) => {
      const c = counterfactualWord(word, feature, allowed, avoid);
      if (c !== null) counterfactuals[String(i)] = c;
    });
    const verified = (dep as { verified?: boolean }).verified;
    const evidence = [...new Set(dep.evidence)].sort((a, b) => a - b);
    return {
      id: `${idPrefix}:${j}`,
      kind: dep.kind,
      ...(example.template !== undefined ? { template: example.template } : {}),
      input: before.join(" "),
      target: dep.expected,
      alternatives: [...dep.alternatives],
      evidence,
      distractors: [...new Set(dep.distractors)].filter((i) => i < dep.target && !evidence.includes(i)).sort((a, b) => a - b),
      counterfactuals,
      ...(verified !== undefined ? { verified } : {}),
    };
  });
}

/**
 * The grammar evaluation set: one item per dependency of the given grammar examples, by default the bundled
 * default model's held-out set (`loadEvalSet()`; `{ modelDir }`: the set of another model trained on the
 * grammar, `<modelDir>/grammar/eval.jsonl`).
 *
 * Each item is the prompt before the dependent word (`input`), the word itself (`target`, e.g. "she") and its
 * other forms (`alternatives`, "he"); `evidence` is the controller (the name, the appositive noun, the subject
 * head noun), `distractors` the competing controllers before the target (a name of the other gender, a noun of
 * the other number); `kind` is the dependency kind, `template` the grammar template, `verified` the
 * dependency's `verified` flag when the example has one. Ids: `grammar:<example index>:<dependency index>`.
 *
 * Counterfactuals, by input word index: a word of the lexicon that carries the feature the dependency decides
 * (gender for pronoun_gender / possessive_gender, number for subject_verb_number) gets its counterpart of the
 * other value: the same lemma's other form (woman -> man, key -> keys, sees -> see), else the word at the same
 * position in the category's list of the other value (mary, the first female name -> john, the first male
 * name; a word already in the sentence is skipped for the next one). Any other lexical word gets the next word
 * of its category with the same gender and number (blue -> green, doctor -> nurse, park -> city), again
 * skipping words of the sentence. Literal words of the template ("the", ",", "that", "because", the "to" of
 * "went to the") get no entry, so the runner's counterfactual replacement falls back to UNK for them. Only the
 * categories of the template's slots count; an example without a known template uses every category of the word.
 *
 * Throws ERR_BAD_DATASET (naming the example and the field) for an example whose dependency has no evidence
 * before the target, an index out of range, or an `expected` that is not the target word; ERR_NOT_FOUND when
 * the model directory has no eval set.
 *
 * @example
 * import { grammarSet } from "inseq";
 * const set = grammarSet();
 * set.items[0];
 * // { id: "grammar:0:0", kind: "subject_verb_number", template: "agreement_pp",
 * //   input: "the window beside the blue letters", target: "was", alternatives: ["were"],
 * //   evidence: [1], distractors: [5],
 * //   counterfactuals: { "1": "windows", "2": "with", "4": "green", "5": "letter" } }
 */
export function grammarSet(examples?: readonly GrammarExample[] | { modelDir?: string }): EvalSet {
  let list: readonly GrammarExample[];
  let source: string;
  if (examples === undefined || (!Array.isArray(examples) && typeof examples === "object" && examples !== null)) {
    const modelDir = (examples as { modelDir?: string } | undefined)?.modelDir;
    list = loadEvalSet(modelDir);
    source = modelDir === undefined ? "the bundled default model's held-out grammar examples" : `the grammar examples of ${modelDir}`;
  } else if (Array.isArray(examples)) {
    list = examples;
    source = `${examples.length} grammar examples`;
  } else {
    throw invalidOption("examples", "an array of grammar examples or { modelDir }", examples);
  }
  const items: EvalItem[] = [];
  list.forEach((example, i) => {
    checkGrammarExample(example, `grammar example ${i}`);
    items.push(...grammarItems(example, `grammar:${i}`));
  });
  return {
    name: "grammar",
    description: `${source}: the gender of a pronoun or the number of a verb, decided by one earlier word of the sentence (the evidence); distractors are competing controllers of the other gender or number`,
    items,
  };
}

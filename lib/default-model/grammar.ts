/**
 * Template grammar for the training corpus of the bundled default model.
 *
 * The grammar produces English-like sentences in which a later word depends on an earlier one
 * (pronoun gender, possessive gender, subject-verb number). Because every sentence is generated
 * from a template, the word that *determines* each dependent word is known exactly; it is recorded
 * as ground truth (`dependencies`) for evaluating attribution methods.
 *
 * Text form: lowercase words separated by single spaces; "." and "," are separate tokens
 * surrounded by spaces ("mary went to the park because she was tired .").
 *
 * Agreement rules (these are rules of *this* grammar, stricter than English):
 * - A subject pronoun (she/he) or possessive (her/his) always agrees in gender with the subject of
 *   the main clause. Another name may appear in between, of either gender: it is drawn from all
 *   names but the subject's (19 of the 39 share a named subject's gender), so the pronoun can only
 *   be predicted from the subject, not from the name in between.
 * - Occupation nouns carry no gender. Their gender is given by an appositive noun right after them
 *   ("the doctor , a woman , ..." or "the doctor , a woman from the hospital , ..."): that
 *   appositive noun is the evidence.
 * - The number of a noun inside a prepositional phrase or relative clause is drawn independently of
 *   the head noun's number.
 * - Present-tense verbs (and is/are, was/were) agree in number with their subject head noun, across
 *   prepositional phrases and relative clauses. Past tense verbs other than was/were carry no number.
 *
 * Ground truth: `evidence` lists the controller of each dependency (the name, the appositive gender
 * noun, or the subject head noun); `competitors` lists every competing controller slot (the other
 * name, the other noun) whatever its feature, and `distractors` those of them whose feature differs
 * (names of the other gender, nouns of the other number). Words that merely agree with the
 * controller themselves are not listed.
 */

import { invalidOption } from "../core/errors.js";

// ---------------------------------------------------------------------------------------------
// PRNG

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/** mulberry32: a small, fast, deterministic 32-bit PRNG. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  if (items.length === 0) throw new Error("grammar: nothing to pick from");
  const i = Math.floor(rng() * items.length);
  return items[Math.min(i, items.length - 1)]!;
}

// ---------------------------------------------------------------------------------------------
// Lexicon

export type Gender = "f" | "m";
export type GrammaticalNumber = "sg" | "pl";

/** One entry of a lexical category. `lemma` groups forms that differ only in gender or number. */
export interface LexicalEntry {
  readonly word: string;
  readonly lemma: string;
  readonly gender?: Gender;
  readonly number?: GrammaticalNumber;
}

const FEMALE_NAMES = [
  "mary", "anna", "sarah", "emma", "lisa", "julia", "laura", "kate", "linda", "susan",
  "alice", "helen", "rose", "claire", "nora", "olivia", "sophie", "grace", "lucy", "ella",
] as const;
const MALE_NAMES = [
  "john", "david", "peter", "james", "tom", "mark", "paul", "george", "henry", "jack",
  "tim", "frank", "oliver", "adam", "luke", "max", "ben", "carl", "eric", "ryan",
] as const;

/** Occupation nouns: no gender of their own. [singular, plural]. */
const OCCUPATIONS = [
  ["doctor", "doctors"], ["nurse", "nurses"], ["teacher", "teachers"], ["lawyer", "lawyers"],
  ["farmer", "farmers"], ["baker", "bakers"], ["pilot", "pilots"], ["driver", "drivers"],
  ["writer", "writers"], ["singer", "singers"], ["painter", "painters"], ["dancer", "dancers"],
  ["cook", "cooks"], ["judge", "judges"], ["scientist", "scientists"], ["engineer", "engineers"],
  ["student", "students"], ["artist", "artists"], ["officer", "officers"], ["manager", "managers"],
  ["clerk", "clerks"], ["guard", "guards"], ["chef", "chefs"], ["dentist", "dentists"],
  ["banker", "bankers"], ["builder", "builders"], ["tailor", "tailors"], ["cashier", "cashiers"],
  ["editor", "editors"], ["soldier", "soldiers"],
] as const;

/** Appositive nouns that set the gender of an occupation noun: [female, male]. */
const GENDER_NOUNS = [["woman", "man"], ["mother", "father"], ["lady", "gentleman"]] as const;

/** Animate nouns used as subjects of relative-clause sentences (besides occupations). [sg, pl]. */
const ANIMATES = [
  ["dog", "dogs"], ["cat", "cats"], ["boy", "boys"], ["girl", "girls"], ["man", "men"],
  ["woman", "women"], ["child", "children"], ["bird", "birds"], ["horse", "horses"],
] as const;

/** Inanimate count nouns. [sg, pl]. */
const OBJECTS = [
  ["key", "keys"], ["book", "books"], ["box", "boxes"], ["cup", "cups"], ["lamp", "lamps"],
  ["chair", "chairs"], ["table", "tables"], ["bag", "bags"], ["cabinet", "cabinets"],
  ["bottle", "bottles"], ["letter", "letters"], ["coat", "coats"], ["hat", "hats"],
  ["shoe", "shoes"], ["plate", "plates"], ["bike", "bikes"], ["phone", "phones"], ["pen", "pens"],
  ["ring", "rings"], ["window", "windows"], ["door", "doors"], ["picture", "pictures"],
  ["basket", "baskets"], ["clock", "clocks"],
] as const;

const PLACES = [
  "market", "park", "city", "station", "library", "school", "office", "kitchen", "garden",
  "hospital", "bank", "church", "museum", "beach", "village", "river", "farm", "store", "hotel",
  "airport",
] as const;

/** Adjectives for people ("... because she was hungry"). */
const PERSON_ADJECTIVES = [
  "hungry", "tired", "happy", "sad", "late", "sick", "busy", "angry", "cold", "ready", "bored",
  "worried", "afraid", "calm", "proud", "early",
] as const;

/** Adjectives for things ("the old cabinet", "are red"). */
const OBJECT_ADJECTIVES = [
  "old", "new", "small", "big", "red", "blue", "green", "broken", "heavy", "clean", "dirty",
  "empty",
] as const;

/** Present-tense transitive verbs: [3sg, plural]. */
const TRANSITIVE_PRESENT = [
  ["sees", "see"], ["likes", "like"], ["follows", "follow"], ["helps", "help"], ["knows", "know"],
  ["watches", "watch"], ["chases", "chase"], ["calls", "call"],
] as const;
/** Past-tense transitive verbs (no number marking). */
const TRANSITIVE_PAST = ["saw", "liked", "followed", "helped", "knew", "watched", "chased", "called"] as const;

/** Present-tense intransitive verbs: [3sg, plural]. */
const INTRANSITIVE_PRESENT = [
  ["runs", "run"], ["sleeps", "sleep"], ["walks", "walk"], ["sings", "sing"], ["waits", "wait"],
  ["smiles", "smile"], ["jumps", "jump"], ["laughs", "laugh"],
] as const;

const MOTION_PAST = ["went", "walked", "ran", "drove", "came", "hurried"] as const;
/** Past-tense verbs taking a possessed object ("lost his key"). */
const POSSESSION_PAST = [
  "lost", "found", "sold", "forgot", "washed", "painted", "fixed", "dropped", "broke", "cleaned",
] as const;
/** Past-tense ditransitive verbs ("gave john her book"). */
const GIVING_PAST = ["gave", "showed", "sent", "lent", "handed"] as const;
/** Past-tense verbs of telling ("told john that ..."). */
const TELLING_PAST = ["told", "warned", "reminded", "assured"] as const;

const PREPOSITIONS = ["near", "on", "under", "behind", "beside", "with", "to"] as const;

function plain(words: readonly string[]): LexicalEntry[] {
  return words.map((word) => ({ word, lemma: word }));
}
function numbered(pairs: ReadonlyArray<readonly [string, string]>): LexicalEntry[] {
  return pairs.flatMap(([sg, pl]) => [
    { word: sg, lemma: sg, number: "sg" as const },
    { word: pl, lemma: sg, number: "pl" as const },
  ]);
}

/** Lexical categories of the grammar. */
const LEXICON = {
  name: [
    ...FEMALE_NAMES.map((word) => ({ word, lemma: word, gender: "f" as const })),
    ...MALE_NAMES.map((word) => ({ word, lemma: word, gender: "m" as const })),
  ],
  occupation: OCCUPATIONS.map(([sg]) => ({ word: sg, lemma: sg, number: "sg" as const })),
  gnoun: GENDER_NOUNS.flatMap(([f, m]) => [
    { word: f, lemma: f, gender: "f" as const },
    { word: m, lemma: f, gender: "m" as const },
  ]),
  agent: [...numbered(ANIMATES), ...numbered(OCCUPATIONS)],
  object: numbered(OBJECTS),
  place: plain(PLACES),
  padj: plain(PERSON_ADJECTIVES),
  oadj: plain(OBJECT_ADJECTIVES),
  pron: [
    { word: "she", lemma: "pron", gender: "f" as const },
    { word: "he", lemma: "pron", gender: "m" as const },
  ],
  poss: [
    { word: "her", lemma: "poss", gender: "f" as const },
    { word: "his", lemma: "poss", gender: "m" as const },
  ],
  be: [
    { word: "is", lemma: "be.present", number: "sg" as const },
    { word: "are", lemma: "be.present", number: "pl" as const },
    { word: "was", lemma: "be.past", number: "sg" as const },
    { word: "were", lemma: "be.past", number: "pl" as const },
  ],
  tverb: TRANSITIVE_PRESENT.flatMap(([sg, pl]) => [
    { word: sg, lemma: pl, number: "sg" as const },
    { word: pl, lemma: pl, number: "pl" as const },
  ]),
  tverbpast: plain(TRANSITIVE_PAST),
  iverb: INTRANSITIVE_PRESENT.flatMap(([sg, pl]) => [
    { word: sg, lemma: pl, number: "sg" as const },
    { word: pl, lemma: pl, number: "pl" as const },
  ]),
  motion: plain(MOTION_PAST),
  pverb: plain(POSSESSION_PAST),
  gverb: plain(GIVING_PAST),
  tell: plain(TELLING_PAST),
  prep: plain(PREPOSITIONS),
} satisfies Record<string, LexicalEntry[]>;

export type Category = keyof typeof LEXICON;

/** The entries of one lexical category (a copy). */
export function categoryEntries(category: Category): LexicalEntry[] {
  const entries = LEXICON[category] as readonly LexicalEntry[] | undefined;
  if (!entries) throw invalidOption("category", `one of ${Object.keys(LEXICON).join(", ")}`, category);
  return entries.map((e) => ({ ...e }));
}

// ---------------------------------------------------------------------------------------------
// Templates

type Slot =
  | { readonly kind: "lit"; readonly word: string }
  | { readonly kind: "cat"; readonly category: Category; readonly id?: string }
  | { readonly kind: "choice"; readonly branches: readonly (readonly Slot[])[] };

type Feature = "gender" | "number";

type Constraint =
  /** `slot` has the same value of `feature` as `with`. */
  | { readonly type: "agree"; readonly slot: string; readonly with: string; readonly feature: Feature }
  /** `slot` and `with` have different lemmas (avoids "the key near the old keys"). */
  | { readonly type: "distinct"; readonly slot: string; readonly with: string };

export type DependencyKind = "pronoun_gender" | "possessive_gender" | "subject_verb_number";

interface DependencySpec {
  readonly kind: DependencyKind;
  readonly target: string;
  readonly evidence: readonly string[];
  /** Competing controllers (the example's `competitors`); `distractors` keeps those whose feature value differs from the target's. */
  readonly distractors: readonly string[];
}

interface Template {
  readonly name: string;
  readonly pattern: string;
  readonly description: string;
  readonly slots: readonly Slot[];
  readonly constraints: readonly Constraint[];
  readonly dependencies: readonly DependencySpec[];
}

/**
 * Pattern syntax: space-separated items; `{category}` or `{category:id}` is a lexical slot, any other
 * item is a literal word, and `( a b | c | )` is a choice between branches (an empty branch is allowed).
 */
function parsePattern(pattern: string): Slot[] {
  const items = pattern.split(" ").filter((s) => s.length > 0);
  let pos = 0;
  const parseSeq = (inChoice: boolean): Slot[] => {
    const out: Slot[] = [];
    while (pos < items.length) {
      const item = items[pos]!;
      if (item === "|" || item === ")") {
        if (!inChoice) throw new Error(`grammar: unexpected ${item} in ${pattern}`);
        return out;
      }
      pos++;
      if (item === "(") {
        const branches: Slot[][] = [];
        for (;;) {
          branches.push(parseSeq(true));
          const sep = items[pos++];
          if (sep === ")") break;
          if (sep !== "|") throw new Error(`grammar: unclosed ( in ${pattern}`);
        }
        out.push({ kind: "choice", branches });
      } else if (item.startsWith("{") && item.endsWith("}")) {
        const [category, id] = item.slice(1, -1).split(":");
        if (!(category! in LEXICON)) throw new Error(`grammar: unknown category ${category} in ${pattern}`);
        out.push(id ? { kind: "cat", category: category as Category, id } : { kind: "cat", category: category as Category });
      } else {
        out.push({ kind: "lit", word: item });
      }
    }
    if (inChoice) throw new Error(`grammar: unclosed ( in ${pattern}`);
    return out;
  };
  return parseSeq(false);
}

function template(
  name: string,
  pattern: string,
  description: string,
  constraints: Constraint[],
  dependencies: DependencySpec[],
): Template {
  return { name, pattern, description, slots: parsePattern(pattern), constraints, dependencies };
}

const agree = (slot: string, withId: string, feature: Feature): Constraint => ({ type: "agree", slot, with: withId, feature });
const distinct = (slot: string, withId: string): Constraint => ({ type: "distinct", slot, with: withId });

const TEMPLATES: readonly Template[] = [
  template(
    "pronoun_name",
    "{name:n} {motion} to the {place} because {pron:p} was {padj} .",
    "Subject pronoun agreeing in gender with the name that is the subject (evidence: the name).",
    [agree("p", "n", "gender")],
    [{ kind: "pronoun_gender", target: "p", evidence: ["n"], distractors: [] }],
  ),
  template(
    "pronoun_occupation",
    "the {occupation:o} , a {gnoun:g} ( from the {place} | ) , said that {pron:p} was {padj} .",
    "Subject pronoun agreeing with a genderless occupation noun whose gender is set by the appositive noun, with or without a place phrase (evidence: the appositive woman/man/mother/father/lady/gentleman).",
    [agree("p", "g", "gender")],
    [{ kind: "pronoun_gender", target: "p", evidence: ["g"], distractors: [] }],
  ),
  template(
    "pronoun_occupation_distractor",
    "the {occupation:o} , a {gnoun:g} ( from the {place} | ) , {tell} {name:d} that {pron:p} was {padj} .",
    "As pronoun_occupation, with a name of either gender between the cue and the pronoun (evidence: the appositive noun; distractor: the name when its gender differs).",
    [agree("p", "g", "gender")],
    [{ kind: "pronoun_gender", target: "p", evidence: ["g"], distractors: ["d"] }],
  ),
  template(
    "pronoun_distractor",
    "{name:n} {tell} {name:d} that {pron:p} was {padj} .",
    "Subject pronoun agreeing with the subject name; the object name, closer to the pronoun, is another name of either gender (evidence: the subject name; distractor: the object name when its gender differs).",
    [distinct("d", "n"), agree("p", "n", "gender")],
    [{ kind: "pronoun_gender", target: "p", evidence: ["n"], distractors: ["d"] }],
  ),
  template(
    "pronoun_relative_distractor",
    "{name:n} , who met {name:d} in the {place} , said that {pron:p} was {padj} .",
    "Long-distance pronoun agreement across a relative clause that contains another name of either gender (evidence: the subject name; distractor: the name in the relative clause when its gender differs).",
    [distinct("d", "n"), agree("p", "n", "gender")],
    [{ kind: "pronoun_gender", target: "p", evidence: ["n"], distractors: ["d"] }],
  ),
  template(
    "possessive_name",
    "{name:n} {pverb} {poss:p} {object} in the {place} .",
    "Possessive pronoun agreeing in gender with the subject name (evidence: the name).",
    [agree("p", "n", "gender")],
    [{ kind: "possessive_gender", target: "p", evidence: ["n"], distractors: [] }],
  ),
  template(
    "possessive_occupation",
    "the {occupation:o} , a {gnoun:g} ( from the {place} | ) , {pverb} {poss:p} {object} .",
    "Possessive pronoun agreeing with an occupation noun whose gender is set by the appositive noun, with or without a place phrase (evidence: the appositive noun).",
    [agree("p", "g", "gender")],
    [{ kind: "possessive_gender", target: "p", evidence: ["g"], distractors: [] }],
  ),
  template(
    "possessive_distractor",
    "{name:n} {gverb} {name:d} {poss:p} {object} .",
    "Possessive pronoun agreeing with the subject name; the indirect object right before it is another name of either gender (evidence: the subject name; distractor: the indirect object when its gender differs).",
    [distinct("d", "n"), agree("p", "n", "gender")],
    [{ kind: "possessive_gender", target: "p", evidence: ["n"], distractors: ["d"] }],
  ),
  template(
    "agreement_pp",
    "the {object:h} {prep} the {oadj} {object:a} {be:v} ( {oadj} | in the {place} ) .",
    "is/are or was/were agreeing in number with the subject head noun across a prepositional phrase (evidence: the head noun; distractor: the noun inside the phrase when its number differs).",
    [distinct("a", "h"), agree("v", "h", "number")],
    [{ kind: "subject_verb_number", target: "v", evidence: ["h"], distractors: ["a"] }],
  ),
  template(
    "agreement_object_relative",
    "the {agent:h} that the {agent:a} {tverb:v1} {iverb:v2} ( in the {place} | ) .",
    "Object relative clause: the embedded verb agrees with the embedded subject, the main verb with the head noun (two dependencies; each noun is the other verb's distractor when numbers differ).",
    [distinct("a", "h"), agree("v1", "a", "number"), agree("v2", "h", "number")],
    [
      { kind: "subject_verb_number", target: "v1", evidence: ["a"], distractors: ["h"] },
      { kind: "subject_verb_number", target: "v2", evidence: ["h"], distractors: ["a"] },
    ],
  ),
  template(
    "agreement_subject_relative",
    "the {agent:h} that {tverbpast} the {agent:a} {iverb:v} ( in the {place} | ) .",
    "Subject relative clause with a past (number-less) verb: the main verb agrees with the head noun across the object of the relative clause (evidence: the head noun; distractor: the object noun when its number differs).",
    [distinct("a", "h"), agree("v", "h", "number")],
    [{ kind: "subject_verb_number", target: "v", evidence: ["h"], distractors: ["a"] }],
  ),
];

/** Names of the templates, in generation order. */
export function templateNames(): string[] {
  return TEMPLATES.map((t) => t.name);
}

/** Human-readable description of the templates (pattern syntax: `{category:id}`, `( a | b )` choices). */
export function describeTemplates(): Array<{ name: string; pattern: string; description: string }> {
  return TEMPLATES.map(({ name, pattern, description }) => ({ name, pattern, description }));
}

// ---------------------------------------------------------------------------------------------
// Generation

export interface GrammarDependency {
  kind: DependencyKind;
  /** Word index of the dependent word. */
  target: number;
  /** Word indices of the correct evidence (the controller of the agreement). */
  evidence: number[];
  /** Word indices of wrong-gender/number competitors (the `competitors` whose feature differs from the target's). */
  distractors: number[];
  /**
   * Word indices of every competing controller slot, whatever its feature: the name between a pronoun and its
   * subject, the other noun of a subject-verb sentence. A distractor when its feature differs; swapping it for
   * its counterpart must not change the dependent word (the causal check of the eval set). Absent in eval sets
   * written before it existed.
   */
  competitors?: number[];
  /** The word at `target`. */
  expected: string;
  /** The wrong forms (e.g. "he" for "she"). */
  alternatives: string[];
  /**
   * Set only in a shipped eval set (models/default/grammar/eval.jsonl): true when the model it ships with
   * predicted a form of the expected feature greedily, swapping the evidence for its counterpart flipped the
   * prediction to the alternative form, and swapping any competitor for its counterpart did not change it
   * (tools/default-model/gates.ts); false otherwise.
   */
  verified?: boolean;
}

export interface GrammarExample {
  text: string;
  words: string[];
  template: string;
  dependencies: GrammarDependency[];
}

/** A word bound to a named slot. */
interface Binding {
  readonly index: number;
  readonly entry: LexicalEntry;
  readonly category: Category;
}

function featureOf(entry: LexicalEntry, feature: Feature): string | undefined {
  return feature === "gender" ? entry.gender : entry.number;
}

/** Checks one constraint on two bindings; returns an error message or null. */
function checkConstraint(c: Constraint, slot: Binding, other: Binding): string | null {
  if (c.type === "distinct") {
    return slot.entry.lemma === other.entry.lemma
      ? `${JSON.stringify(slot.entry.word)} repeats the noun ${JSON.stringify(other.entry.word)}`
      : null;
  }
  const a = featureOf(slot.entry, c.feature);
  const b = featureOf(other.entry, c.feature);
  if (a === undefined || b === undefined) return `no ${c.feature} on ${slot.entry.word}/${other.entry.word}`;
  if (c.type === "agree" && a !== b) {
    return `${JSON.stringify(slot.entry.word)} does not agree in ${c.feature} with ${JSON.stringify(other.entry.word)}`;
  }
  return null;
}

function alternativesFor(category: Category, entry: LexicalEntry): string[] {
  const entries = LEXICON[category] as readonly LexicalEntry[];
  return entries.filter((e) => e.lemma === entry.lemma && e.word !== entry.word).map((e) => e.word);
}

function buildExample(tpl: Template, words: string[], bindings: ReadonlyMap<string, Binding>): GrammarExample {
  const dependencies: GrammarDependency[] = tpl.dependencies.map((d) => {
    const target = bindings.get(d.target)!;
    const feature: Feature = d.kind === "subject_verb_number" ? "number" : "gender";
    const value = featureOf(target.entry, feature);
    return {
      kind: d.kind,
      target: target.index,
      evidence: d.evidence.map((id) => bindings.get(id)!.index),
      distractors: d.distractors
        .map((id) => bindings.get(id)!)
        .filter((b) => featureOf(b.entry, feature) !== value)
        .map((b) => b.index),
      competitors: d.distractors.map((id) => bindings.get(id)!.index),
      expected: target.entry.word,
      alternatives: alternativesFor(target.category, target.entry),
    };
  });
  return { text: words.join(" "), words, template: tpl.name, dependencies };
}

function generateFrom(tpl: Template, rng: Rng): GrammarExample {
  const words: string[] = [];
  const bindings = new Map<string, Binding>();
  const emit = (slots: readonly Slot[]): void => {
    for (const slot of slots) {
      if (slot.kind === "lit") {
        words.push(slot.word);
      } else if (slot.kind === "choice") {
        emit(pick(rng, slot.branches));
      } else {
        let candidates = LEXICON[slot.category] as readonly LexicalEntry[];
        if (slot.id !== undefined) {
          const id = slot.id;
          const relevant = tpl.constraints.filter((c) => c.slot === id && bindings.has(c.with));
          candidates = candidates.filter((entry) => {
            const me: Binding = { index: words.length, entry, category: slot.category };
            return relevant.every((c) => checkConstraint(c, me, bindings.get(c.with)!) === null);
          });
        }
        const entry = pick(rng, candidates);
        if (slot.id !== undefined) bindings.set(slot.id, { index: words.length, entry, category: slot.category });
        words.push(entry.word);
      }
    }
  };
  emit(tpl.slots);
  return buildExample(tpl, words, bindings);
}

function checkRng(rng: unknown): asserts rng is Rng {
  if (typeof rng !== "function") throw invalidOption("rng", "a function returning numbers in [0, 1)", rng);
}

/**
 * Generates one sentence. The template is drawn uniformly unless `templateName` names one.
 * Consumes a deterministic amount of randomness from `rng` for a given outcome.
 */
export function generateExample(rng: Rng, templateName?: string): GrammarExample {
  checkRng(rng);
  let tpl: Template;
  if (templateName === undefined) {
    tpl = pick(rng, TEMPLATES);
  } else {
    const found = TEMPLATES.find((t) => t.name === templateName);
    if (!found) throw invalidOption("template", `one of ${templateNames().join(", ")}`, templateName);
    tpl = found;
  }
  return generateFrom(tpl, rng);
}

// ---------------------------------------------------------------------------------------------
// Parsing / validation

function* matchSlots(
  slots: readonly Slot[],
  si: number,
  words: readonly string[],
  wi: number,
  bindings: Map<string, Binding>,
  rest: (wi: number) => Generator<Map<string, Binding>>,
): Generator<Map<string, Binding>> {
  if (si === slots.length) {
    yield* rest(wi);
    return;
  }
  const slot = slots[si]!;
  if (slot.kind === "lit") {
    if (words[wi] === slot.word) yield* matchSlots(slots, si + 1, words, wi + 1, bindings, rest);
    return;
  }
  if (slot.kind === "choice") {
    for (const branch of slot.branches) {
      yield* matchSlots(branch, 0, words, wi, bindings, (w) => matchSlots(slots, si + 1, words, w, bindings, rest));
    }
    return;
  }
  const word = words[wi];
  if (word === undefined) return;
  for (const entry of LEXICON[slot.category] as readonly LexicalEntry[]) {
    if (entry.word !== word) continue;
    if (slot.id === undefined) {
      yield* matchSlots(slots, si + 1, words, wi + 1, bindings, rest);
    } else {
      const previous = bindings.get(slot.id);
      bindings.set(slot.id, { index: wi, entry, category: slot.category });
      yield* matchSlots(slots, si + 1, words, wi + 1, bindings, rest);
      if (previous) bindings.set(slot.id, previous);
      else bindings.delete(slot.id);
    }
  }
}

function* parses(tpl: Template, words: readonly string[]): Generator<Map<string, Binding>> {
  const bindings = new Map<string, Binding>();
  yield* matchSlots(tpl.slots, 0, words, 0, bindings, function* (wi) {
    if (wi === words.length) yield new Map(bindings);
  });
}

let vocabularyCache: { list: string[]; set: Set<string> } | undefined;
function vocabularySet(): Set<string> {
  if (!vocabularyCache) {
    const set = new Set<string>();
    const collect = (slots: readonly Slot[]): void => {
      for (const slot of slots) {
        if (slot.kind === "lit") set.add(slot.word);
        else if (slot.kind === "choice") slot.branches.forEach(collect);
        else for (const e of LEXICON[slot.category] as readonly LexicalEntry[]) set.add(e.word);
      }
    };
    for (const t of TEMPLATES) collect(t.slots);
    const list = [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    vocabularyCache = { list, set };
  }
  return vocabularyCache.set;
}

/** All word types the grammar can produce (sorted by code unit, deterministic). */
export function vocabulary(): string[] {
  vocabularySet();
  return [...vocabularyCache!.list];
}

/** Lexical entries (with category) of a word, e.g. to look up the gender/number of an evidence word. */
export function lookupWord(word: string): Array<LexicalEntry & { category: Category }> {
  const out: Array<LexicalEntry & { category: Category }> = [];
  for (const [category, entries] of Object.entries(LEXICON) as Array<[Category, readonly LexicalEntry[]]>) {
    for (const e of entries) if (e.word === word) out.push({ ...e, category });
  }
  return out;
}

type Analysis =
  | { ok: true; example: GrammarExample }
  | { ok: false; template?: string; reason: string };

function analyze(text: string): Analysis {
  if (typeof text !== "string") return { ok: false, reason: "not a string" };
  const trimmed = text.trim();
  if (trimmed.length === 0) return { ok: false, reason: "empty sentence" };
  const words = trimmed.split(" ");
  const vocab = vocabularySet();
  for (const w of words) {
    if (w === "") return { ok: false, reason: "words must be separated by single spaces" };
    if (!vocab.has(w)) return { ok: false, reason: `unknown word ${JSON.stringify(w)}` };
  }
  let agreementFailure: { template: string; reason: string } | undefined;
  for (const tpl of TEMPLATES) {
    for (const bindings of parses(tpl, words)) {
      let failure: string | null = null;
      for (const c of tpl.constraints) {
        failure = checkConstraint(c, bindings.get(c.slot)!, bindings.get(c.with)!);
        if (failure) break;
      }
      if (failure === null) return { ok: true, example: buildExample(tpl, [...words], bindings) };
      agreementFailure ??= { template: tpl.name, reason: failure };
    }
  }
  if (agreementFailure) return { ok: false, template: agreementFailure.template, reason: agreementFailure.reason };
  return { ok: false, reason: "does not match any template" };
}

/**
 * Decides whether `text` is a sentence of this grammar: known words, single spaces (surrounding
 * whitespace is ignored), a template's structure, and every agreement of that template.
 * When the structure matches a template but an agreement fails, `template` names it.
 */
export function checkSentence(text: string): { grammatical: boolean; template?: string; reason?: string } {
  const a = analyze(text);
  if (a.ok) return { grammatical: true, template: a.example.template };
  return a.template === undefined ? { grammatical: false, reason: a.reason } : { grammatical: false, template: a.template, reason: a.reason };
}

/**
 * Parses a grammatical sentence back into a GrammarExample with its ground-truth dependencies
 * (for sentences a model generated), or returns null when `checkSentence` would reject it.
 */
export function analyzeSentence(text: string): GrammarExample | null {
  const a = analyze(text);
  return a.ok ? a.example : null;
}

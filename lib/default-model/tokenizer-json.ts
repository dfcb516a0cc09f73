/**
 * Hugging Face tokenizer files and corpus files for the bundled default model.
 *
 * Tokenizer design (verified with the `tokenizers` Node binding):
 * - model `WordLevel`: one id per word type; `<unk>`=0, `<s>`=1, `</s>`=2, `<pad>`=3, then the
 *   words in the order given (the grammar's sorted vocabulary);
 * - normalizer `Lowercase`, pre-tokenizer `WhitespaceSplit`: the corpus text already separates
 *   "." and "," by spaces, so splitting on whitespace yields exactly the grammar's words and the
 *   encoding's word ids are the indices into `GrammarExample.words`;
 * - post-processor `TemplateProcessing` with single "<s> $A" (pair "<s> $A <s> $B:1");
 * - decoder `null`: with no decoder, the Rust library joins the tokens with single spaces, so
 *   `decode(encode(text).ids, skipSpecialTokens=true) === text` for every corpus sentence.
 * - `clean_up_tokenization_spaces: false` in tokenizer_config.json: the Node binding never applies
 *   that clean-up, and in Python `transformers` it would turn " ." into "." and break the exact
 *   round trip; leaving it off keeps Python and Node decoding identical.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { describeTemplates, generateCorpus, generateExample, mulberry32, vocabulary, type GrammarExample } from "./grammar.js";

export const SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"] as const;
export const UNK_TOKEN = "<unk>";
export const BOS_TOKEN = "<s>";
export const EOS_TOKEN = "</s>";
export const PAD_TOKEN = "<pad>";

export interface TokenizerFiles {
  /** Contents of tokenizer.json. */
  tokenizerJson: object;
  /** Contents of tokenizer_config.json. */
  tokenizerConfig: object;
  /** Contents of special_tokens_map.json. */
  specialTokensMap: object;
}

function checkVocab(vocab: unknown): asserts vocab is string[] {
  if (!Array.isArray(vocab) || vocab.length === 0) throw invalidOption("vocab", "a non-empty array of words", vocab);
  const seen = new Set<string>();
  for (const w of vocab) {
    if (typeof w !== "string" || w.length === 0 || /\s/.test(w)) {
      throw invalidOption("vocab", "words without whitespace", w);
    }
    if (w !== w.toLowerCase()) throw invalidOption("vocab", "lowercase words (the normalizer lowercases input)", w);
    if ((SPECIAL_TOKENS as readonly string[]).includes(w)) throw invalidOption("vocab", "words other than the special tokens", w);
    if (seen.has(w)) throw invalidOption("vocab", "unique words", w);
    seen.add(w);
  }
}

/** Builds tokenizer.json, tokenizer_config.json and special_tokens_map.json for a word-level vocabulary. */
export function buildTokenizerFiles(vocab: string[]): TokenizerFiles {
  checkVocab(vocab);
  const ids: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (ids[t] = i));
  vocab.forEach((w, i) => (ids[w] = SPECIAL_TOKENS.length + i));

  const added = SPECIAL_TOKENS.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));

  const bosId = ids[BOS_TOKEN]!;
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: "Lowercase" },
    pre_tokenizer: { type: "WhitespaceSplit" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: BOS_TOKEN, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: BOS_TOKEN, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: BOS_TOKEN, type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { [BOS_TOKEN]: { id: BOS_TOKEN, ids: [bosId], tokens: [BOS_TOKEN] } },
    },
    decoder: null,
    model: { type: "WordLevel", vocab: ids, unk_token: UNK_TOKEN },
  };

  const addedTokensDecoder: Record<string, object> = {};
  for (const { id, content, lstrip, normalized, rstrip, single_word, special } of added) {
    addedTokensDecoder[String(id)] = { content, lstrip, normalized, rstrip, single_word, special };
  }
  const tokenizerConfig = {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: BOS_TOKEN,
    eos_token: EOS_TOKEN,
    unk_token: UNK_TOKEN,
    pad_token: PAD_TOKEN,
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    model_input_names: ["input_ids", "attention_mask"],
    added_tokens_decoder: addedTokensDecoder,
  };
  const specialTokensMap = {
    bos_token: BOS_TOKEN,
    eos_token: EOS_TOKEN,
    unk_token: UNK_TOKEN,
    pad_token: PAD_TOKEN,
  };
  return { tokenizerJson, tokenizerConfig, specialTokensMap };
}

export interface CorpusOptions {
  /** Number of training sentences (train.txt). */
  trainSize: number;
  /** Number of evaluation examples (eval.jsonl), none of which occurs in train.txt. */
  evalSize: number;
  /** Seed of the training corpus; the evaluation set uses a seed derived from it. */
  seed: number;
}

/** Seed of the evaluation stream, derived from the corpus seed. */
export function evalSeed(seed: number): number {
  return (seed ^ 0x5bd1e995) >>> 0;
}

function checkCount(name: string, value: unknown, min: number): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalidOption(name, min === 0 ? "a non-negative integer" : "a positive integer", value);
  }
}

/**
 * Evaluation examples from the derived seed, skipping sentences that occur in `train`.
 * Gives up (ERR_INVALID_OPTION) if the grammar cannot supply enough distinct held-out sentences.
 */
function heldOut(train: ReadonlySet<string>, evalSize: number, seed: number): GrammarExample[] {
  const out: GrammarExample[] = [];
  const seen = new Set<string>();
  let s = evalSeed(seed);
  const batch = Math.max(64, evalSize);
  for (let round = 0; out.length < evalSize; round++) {
    if (round >= 64) throw invalidOption("evalSize", "a size the grammar can supply as held-out sentences", evalSize);
    for (const ex of generateCorpus(batch, s)) {
      if (out.length >= evalSize) break;
      if (train.has(ex.text) || seen.has(ex.text)) continue;
      seen.add(ex.text);
      out.push(ex);
    }
    s = (s + 0x9e3779b9) >>> 0;
  }
  return out;
}

function corpusReadme(vocabSize: number, opts: CorpusOptions): string {
  const rng = mulberry32(opts.seed);
  const lines: string[] = [];
  lines.push("# Training corpus of the inseq default model", "");
  lines.push(
    "Generated by `lib/default-model/grammar.ts` (a template grammar with a seeded mulberry32 PRNG) and",
    "`writeCorpusFiles` in `lib/default-model/tokenizer-json.ts`.",
    "",
    `- seed: ${opts.seed} (evaluation set: derived seed ${evalSeed(opts.seed)}, sentences of train.txt excluded)`,
    `- train.txt: ${opts.trainSize} sentences, one per line`,
    `- eval.jsonl: ${opts.evalSize} examples with ground-truth dependencies, one JSON object per line`,
    `- vocabulary: ${vocabSize} word types + 4 special tokens (\`<unk>\`=0, \`<s>\`=1, \`</s>\`=2, \`<pad>\`=3)`,
    "",
    "## Text form",
    "",
    "Lowercase words separated by single spaces; `.` and `,` are separate space-separated tokens",
    '(`mary went to the park because she was tired .`). The tokenizer (`tokenizer.json`) is word level:',
    "`WhitespaceSplit` pre-tokenizer, `Lowercase` normalizer, `<s>` prepended by the post-processor,",
    "no decoder (tokens are joined with single spaces), `clean_up_tokenization_spaces: false`, so",
    "decoding the ids of a sentence (skipping special tokens) gives back the sentence exactly, and the",
    "encoding's word ids are the word indices used below.",
    "",
    "## Agreement rules",
    "",
    "- A subject pronoun (`she`/`he`) or possessive (`her`/`his`) agrees in gender with the subject of",
    "  the main clause, never with a name of the other gender placed in between (a distractor).",
    "- Occupation nouns have no gender; an appositive noun (`woman`/`man`, `mother`/`father`,",
    "  `lady`/`gentleman`) right after the occupation sets it: `the doctor , a man , ...`.",
    "- Present-tense verbs, `is`/`are` and `was`/`were` agree in number with their subject head noun,",
    "  across prepositional phrases and relative clauses. Other past-tense verbs carry no number.",
    "",
    "## Templates",
    "",
    "Pattern syntax: `{category:id}` is a word of a lexical category, `( a | b )` a choice between",
    "branches (an empty branch is allowed), anything else a literal word.",
    "",
  );
  for (const t of describeTemplates()) {
    lines.push(`### ${t.name}`, "", t.description, "", "```", t.pattern, "```", "");
    {
      const ex = generateExample(rng, t.name);
      lines.push("Example:", "", "```", ex.text, "```", "");
      for (const d of ex.dependencies) {
        const at = (i: number) => `${JSON.stringify(ex.words[i])}@${i}`;
        const ev = d.evidence.map(at).join(", ");
        const dis = d.distractors.length ? d.distractors.map(at).join(", ") : "none";
        lines.push(`- ${d.kind}: target ${at(d.target)} (not ${d.alternatives.join("/")}); evidence ${ev}; distractors ${dis}`);
      }
      lines.push("");
    }
  }
  lines.push(
    "## Ground truth (eval.jsonl)",
    "",
    "Each line is a `GrammarExample`:",
    "",
    "```ts",
    "{",
    "  text: string;        // the sentence",
    "  words: string[];     // text.split(\" \")",
    "  template: string;    // template name",
    "  dependencies: Array<{",
    '    kind: "pronoun_gender" | "possessive_gender" | "subject_verb_number";',
    "    target: number;        // word index of the dependent word",
    "    evidence: number[];    // word indices of the controller (name, appositive gender noun, subject head)",
    "    distractors: number[]; // word indices of competitors of the other gender/number present in the sentence",
    "    expected: string;      // words[target]",
    '    alternatives: string[];// the wrong forms ("he" for "she", "are" for "is")',
    "  }>;",
    "}",
    "```",
    "",
    "Word indices count words of `text` from 0 (the `<s>` token the tokenizer prepends is not counted).",
    "Words that only agree with the controller (e.g. a verb that agrees with the same noun) are not",
    "listed as evidence.",
    "",
  );
  return lines.join("\n");
}

/**
 * Writes train.txt, eval.jsonl, README.md, tokenizer.json, tokenizer_config.json and
 * special_tokens_map.json into `dir` (created if missing). Returns the paths of train.txt and eval.jsonl.
 */
export function writeCorpusFiles(dir: string, opts: CorpusOptions): { train: string; eval: string } {
  if (typeof dir !== "string" || dir.length === 0) throw invalidOption("dir", "a directory path", dir);
  if (opts == null || typeof opts !== "object") throw invalidOption("opts", "an object", opts);
  checkCount("trainSize", opts.trainSize, 1);
  checkCount("evalSize", opts.evalSize, 0);
  if (typeof opts.seed !== "number" || !Number.isSafeInteger(opts.seed)) throw invalidOption("seed", "an integer", opts.seed);

  const train = generateCorpus(opts.trainSize, opts.seed);
  const trainTexts = new Set(train.map((e) => e.text));
  const evalExamples = heldOut(trainTexts, opts.evalSize, opts.seed);
  const vocab = vocabulary();
  const files = buildTokenizerFiles(vocab);

  const root = resolve(dir);
  const trainPath = join(root, "train.txt");
  const evalPath = join(root, "eval.jsonl");
  try {
    mkdirSync(root, { recursive: true });
    writeFileSync(trainPath, train.map((e) => `${e.text}\n`).join(""));
    writeFileSync(evalPath, evalExamples.map((e) => `${JSON.stringify(e)}\n`).join(""));
    writeFileSync(join(root, "README.md"), corpusReadme(vocab.length, opts));
    writeFileSync(join(root, "tokenizer.json"), `${JSON.stringify(files.tokenizerJson, null, 2)}\n`);
    writeFileSync(join(root, "tokenizer_config.json"), `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);
    writeFileSync(join(root, "special_tokens_map.json"), `${JSON.stringify(files.specialTokensMap, null, 2)}\n`);
  } catch (cause) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a writable directory for dir but received ${JSON.stringify(dir)}`, { cause });
  }
  return { train: trainPath, eval: evalPath };
}

/**
 * The WinoMT evaluation set (Stanovsky et al. 2019, github.com/gabrielStanovsky/mt_gender): English sentences
 * with two occupations and a pronoun whose gender tells which one it refers to. The package ships the loader,
 * not the data: point it at WinoMT's `data/aggregates/en.txt` (or the directory holding en.txt, en_pro.txt and
 * en_anti.txt).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

import { ErrorCode, InseqError, invalidOption } from "../../core/errors.js";
import type { EvalItem, EvalSet } from "../types.js";
import { badData } from "./words.js";

/** Each gendered pronoun (lowercase) -> its forms of the other gender ("her" is possessive or object). */
const OTHER_GENDER: Readonly<Record<string, readonly string[]>> = {
  she: ["he"], he: ["she"], her: ["his", "him"], him: ["her"], his: ["her", "hers"], hers: ["his"],
  herself: ["himself"], himself: ["herself"],
};

/** Lowercase, without leading / trailing punctuation (and without a possessive 's) for matching words. */
function normalize(word: string): string {
  return word.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "").replace(/['’]s$/u, "");
}

/** The word without leading / trailing punctuation, as written. */
const stripPunctuation = (word: string) => word.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");

/** `forms` in the case of `written` (first letter uppercase when it is). */
function sameCase(forms: readonly string[], written: string): string[] {
  const upper = written.length > 0 && written[0] !== written[0]!.toLowerCase();
  return forms.map((f) => (upper ? f[0]!.toUpperCase() + f.slice(1) : f));
}

interface WinoLine {
  line: number;
  gender: "female" | "male" | "neutral";
  index: number;
  sentence: string;
  words: string[];
  /** The entity's words, normalized. */
  entity: string[];
}

/** Parses one WinoMT TSV file; ERR_BAD_DATASET naming the file, the line and the column. */
function readWinoFile(file: string): WinoLine[] {
  const out: WinoLine[] = [];
  const name = path.basename(file);
  readFileSync(file, "utf8").split("\n").forEach((raw, i) => {
    const text = raw.replace(/\r$/, "");
    if (text.trim().length === 0) return;
    const where = `line ${i + 1} of ${file}`;
    const cols = text.split("\t");
    if (cols.length !== 4) throw badData(where, "the line", `has ${cols.length} tab-separated columns; WinoMT's ${name} has 4 (gender, entity index, sentence, entity)`);
    const [gender, index, sentence, entity] = cols as [string, string, string, string];
    if (gender !== "female" && gender !== "male" && gender !== "neutral") {
      throw badData(where, "column 1 (gender)", `must be female, male or neutral, not ${JSON.stringify(gender)}`);
    }
    const words = sentence.trim().length === 0 ? [] : sentence.trim().split(/\s+/);
    if (words.length === 0) throw badData(where, "column 3 (sentence)", "is empty");
    if (!/^\d+$/.test(index) || Number(index) >= words.length) {
      throw badData(where, "column 2 (entity index)", `must be a word index below the sentence's ${words.length} words, not ${JSON.stringify(index)}`);
    }
    const entityWords = entity.trim().split(/\s+/).map(normalize);
    if (entityWords.some((w) => w.length === 0)) throw badData(where, "column 4 (entity)", `must be a word or words, not ${JSON.stringify(entity)}`);
    const at = words.slice(Number(index), Number(index) + entityWords.length).map(normalize);
    if (at.join(" ") !== entityWords.join(" ")) {
      throw badData(where, "column 2 (entity index)", `= ${index} points at ${JSON.stringify(words.slice(Number(index), Number(index) + entityWords.length).join(" "))}, not the entity ${JSON.stringify(entity)}`);
    }
    out.push({ line: i + 1, gender, index: Number(index), sentence: words.join(" "), words, entity: entityWords });
  });
  return out;
}

type Subset = "all" | "pro" | "anti";
const SKIPS = ["neutral", "no gendered pronoun", "pronoun before the entity", "pronoun of the other gender"] as const;
type Skip = (typeof SKIPS)[number];

/**
 * The WinoMT evaluation set from WinoMT's English TSV (columns: gold gender, index of the entity word in the
 * whitespace-split sentence, sentence, entity). `file` is the TSV, or the directory holding `en.txt` (WinoMT's
 * `data/aggregates/`); `en_pro.txt` / `en_anti.txt` next to it (WinoBias' pro- / anti-stereotypical subsets)
 * give the items their `template` ("pro" / "anti"), and `subset` keeps one of them.
 *
 * One item per line: the first gendered pronoun (he, she, him, her, his, hers, himself, herself; matched
 * case-insensitively without surrounding punctuation) is the target, as written without its punctuation
 * ("She"); `input` is the words before it, `alternatives` its forms of the other gender (she -> he, her -> his,
 * him; his -> her, hers), `evidence` the entity's word(s) (its index; two indices for "construction worker"),
 * `distractors` the other words before the pronoun that are an entity somewhere in the file (the occupations
 * of column 4, compared lowercase without punctuation), `kind` `winomt_female` / `winomt_male` (the gold
 * gender). No counterfactuals (an occupation has no counterpart), so the runner replaces with UNK. Ids:
 * `winomt:<line>`. Skipped, and counted in the description: neutral lines, lines without a gendered pronoun,
 * lines whose pronoun comes before the entity, and lines whose first gendered pronoun has the other gender.
 *
 * Throws ERR_NOT_FOUND for a missing file (or en_pro.txt / en_anti.txt when `subset` asks for one), and
 * ERR_BAD_DATASET naming the file, the line and the column for a line that is not 4 columns, an unknown gender,
 * or an entity index that is out of range or does not point at the entity.
 *
 * @example
 * import { winomtSet } from "inseq";
 * const set = winomtSet("mt_gender/data/aggregates", { subset: "anti" });
 * set.items[0];
 * // { id: "winomt:1", kind: "winomt_female", template: "anti",
 * //   input: "The developer argued with the designer because", target: "she", alternatives: ["he"],
 * //   evidence: [1], distractors: [4] }
 */
export function winomtSet(file: string, options: { subset?: Subset } = {}): EvalSet {
  if (typeof file !== "string" || file.length === 0) throw invalidOption("path", "a WinoMT file or directory", file);
  const subset = options.subset ?? "all";
  if (subset !== "all" && subset !== "pro" && subset !== "anti") throw invalidOption("subset", '"all", "pro" or "anti"', subset);
  if (!existsSync(file)) throw new InseqError(ErrorCode.NOT_FOUND, `No WinoMT file or directory at ${file}`);
  const isDir = statSync(file).isDirectory();
  const main = isDir ? path.join(file, "en.txt") : file;
  if (!existsSync(main)) throw new InseqError(ErrorCode.NOT_FOUND, `No en.txt in ${file} (WinoMT's data/aggregates/ holds en.txt, en_pro.txt and en_anti.txt)`);
  const dir = path.dirname(main);

  // Which sentences are in the pro / anti subsets (the main file itself when it is one of them).
  const template = new Map<string, "pro" | "anti">();
  for (const sub of ["pro", "anti"] as const) {
    const subFile = path.join(dir, `en_${sub}.txt`);
    if (!existsSync(subFile)) {
      if (subset === sub) throw new InseqError(ErrorCode.NOT_FOUND, `subset "${sub}" needs en_${sub}.txt next to ${main}`);
      continue;
    }
    for (const l of readWinoFile(subFile)) template.set(l.sentence, sub);
  }

  const lines = readWinoFile(main);
  const vocabulary = new Set(lines.map((l) => l.entity.join(" ")));
  const lengths = [...new Set(lines.map((l) => l.entity.length))].sort((a, b) => a - b);
  const skipped = new Map<Skip, number>();
  const skip = (why: Skip) => skipped.set(why, (skipped.get(why) ?? 0) + 1);
  const items: EvalItem[] = [];
  for (const l of lines) {
    const tpl = template.get(l.sentence);
    if (subset !== "all" && tpl !== subset) continue;
    if (l.gender === "neutral") { skip("neutral"); continue; }
    const p = l.words.findIndex((w) => normalize(w) in OTHER_GENDER);
    if (p < 0) { skip("no gendered pronoun"); continue; }
    if (p < l.index + l.entity.length) { skip("pronoun before the entity"); continue; }
    const pronoun = normalize(l.words[p]!);
    const female = pronoun === "she" || pronoun === "her" || pronoun === "hers" || pronoun === "herself";
    if (female !== (l.gender === "female")) { skip("pronoun of the other gender"); continue; }
    const evidence = l.entity.map((_, k) => l.index + k);
    const distractors = new Set<number>();
    for (let s = 0; s < p; s++) {
      for (const n of lengths) {
        if (s + n > p) break;
        const span = Array.from({ length: n }, (_, k) => s + k);
        if (span.some((k) => evidence.includes(k))) continue;
        if (vocabulary.has(span.map((k) => normalize(l.words[k]!)).join(" "))) span.forEach((k) => distractors.add(k));
      }
    }
    const written = stripPunctuation(l.words[p]!).replace(/['’]s$/u, "");  // "he's" -> "he"
    items.push({
      id: `winomt:${l.line}`,
      kind: `winomt_${l.gender}`,
      ...(tpl !== undefined ? { template: tpl } : {}),
      input: l.words.slice(0, p).join(" "),
      target: written,
      alternatives: sameCase(OTHER_GENDER[pronoun]!, written),
      evidence,
      distractors: [...distractors].sort((a, b) => a - b),
    });
  }
  const count = (kind: string) => items.filter((it) => it.kind === kind).length;
  const total = [...skipped.values()].reduce((a, b) => a + b, 0);
  const skips = SKIPS.filter((why) => skipped.has(why)).map((why) => `${skipped.get(why)} ${why}`).join(", ");
  return {
    name: subset === "all" ? "winomt" : `winomt-${subset}`,
    description:
      `WinoMT ${main}${subset === "all" ? "" : ` (${subset}-stereotypical subset)`}: ${items.length} items ` +
      `(${count("winomt_female")} female, ${count("winomt_male")} male); the pronoun's gender is decided by the occupation it refers to ` +
      `(evidence), the other occupations before it are distractors; skipped ${total} line${total === 1 ? "" : "s"}` +
      (skips.length > 0 ? ` (${skips})` : ""),
    items,
  };
}

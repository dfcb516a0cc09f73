/**
 * A user's own evaluation set: a JSONL file, one `EvalItem` per line (or one grammar example per line, as the
 * default model's `grammar/eval.jsonl` holds), validated field by field.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { ErrorCode, InseqError, invalidOption } from "../../core/errors.js";
import type { EvalItem, EvalSet } from "../types.js";
import { checkGrammarExample, grammarItems } from "./grammar.js";
import { badData, inputWords } from "./words.js";

/** The fields a JSONL item may have (those of `EvalItem`). */
const ITEM_FIELDS = [
  "id", "kind", "template", "input", "targetPrefix", "target", "alternatives", "evidence", "distractors", "counterfactuals", "verified",
] as const;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Word indices of `field`: an array of distinct integers in [0, words). */
function indices(value: unknown, field: string, words: number, where: string): number[] {
  if (!Array.isArray(value)) throw badData(where, field, "must be an array of word indices");
  value.forEach((i, k) => {
    if (!Number.isInteger(i) || i < 0 || i >= words) {
      throw badData(where, `${field}[${k}]`, `= ${JSON.stringify(i)} is not a word index of the input (its ${words} words are 0 .. ${words - 1})`);
    }
    if (value.indexOf(i) !== k) throw badData(where, `${field}[${k}]`, `= ${i} repeats an index`);
  });
  return value as number[];
}

/**
 * Validates one JSONL item and fills its defaults (`id` = `<file basename>:<line>`, `kind` = "item",
 * `alternatives` and `distractors` = []); ERR_BAD_DATASET naming `where` and the field.
 */
function checkItem(value: Record<string, unknown>, where: string, defaultId: string): EvalItem {
  for (const key of Object.keys(value)) {
    if (!(ITEM_FIELDS as readonly string[]).includes(key)) throw badData(where, key, `is not a field of an item (fields: ${ITEM_FIELDS.join(", ")})`);
  }
  const string = (key: string, required: boolean, nonEmpty: boolean): string | undefined => {
    const v = value[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string") throw badData(where, key, required ? "is missing (a string)" : "must be a string");
    if (nonEmpty && v.trim().length === 0) throw badData(where, key, "must not be empty");
    return v;
  };
  const id = string("id", false, true) ?? defaultId;
  const kind = string("kind", false, true) ?? "item";
  const template = string("template", false, false);
  const input = string("input", true, true)!;
  const targetPrefix = string("targetPrefix", false, false);
  const target = string("target", true, true)!;
  const n = inputWords(input).length;

  const alternatives = value.alternatives ?? [];
  if (!Array.isArray(alternatives)) throw badData(where, "alternatives", "must be an array of strings");
  alternatives.forEach((a, k) => {
    if (typeof a !== "string" || a.trim().length === 0) throw badData(where, `alternatives[${k}]`, `must be a non-empty string, not ${JSON.stringify(a)}`);
  });
  if (value.evidence === undefined) throw badData(where, "evidence", "is missing (an array of word indices of the input)");
  const evidence = indices(value.evidence, "evidence", n, where);
  if (evidence.length === 0) throw badData(where, "evidence", "must not be empty (at least one word decides the target)");
  const distractors = indices(value.distractors ?? [], "distractors", n, where);
  distractors.forEach((i, k) => {
    if (evidence.includes(i)) throw badData(where, `distractors[${k}]`, `= ${i} is also evidence`);
  });

  let counterfactuals: Record<string, string> | undefined;
  if (value.counterfactuals !== undefined) {
    if (!isObject(value.counterfactuals)) throw badData(where, "counterfactuals", "must be an object { word index: replacement word }");
    counterfactuals = {};
    for (const [key, word] of Object.entries(value.counterfactuals)) {
      if (!/^(0|[1-9]\d*)$/.test(key) || Number(key) >= n) {
        throw badData(where, `counterfactuals[${JSON.stringify(key)}]`, `is not a word index of the input (its ${n} words are 0 .. ${n - 1})`);
      }
      if (typeof word !== "string" || word.length === 0 || /\s/.test(word)) {
        throw badData(where, `counterfactuals[${JSON.stringify(key)}]`, `must be one word, not ${JSON.stringify(word)}`);
      }
      counterfactuals[key] = word;
    }
  }
  if (value.verified !== undefined && typeof value.verified !== "boolean") throw badData(where, "verified", "must be a boolean");

  return {
    id, kind,
    ...(template !== undefined ? { template } : {}),
    input,
    ...(targetPrefix !== undefined ? { targetPrefix } : {}),
    target,
    alternatives: [...(alternatives as string[])],
    evidence: [...evidence],
    distractors: [...distractors],
    ...(counterfactuals !== undefined ? { counterfactuals } : {}),
    ...(value.verified !== undefined ? { verified: value.verified as boolean } : {}),
  };
}

/**
 * A user's evaluation set from a JSONL file: one item per line, the schema of `EvalItem` (blank lines are
 * ignored). `input` and `target` are required, `evidence` is a non-empty array of word indices of the input
 * (words = `input.trim().split(/\s+/)`); `id` defaults to `<file basename>:<line>`, `kind` to "item",
 * `alternatives` and `distractors` to []; `counterfactuals` maps word indices (as strings) to one replacement
 * word each. A line holding a grammar example (`words` and `dependencies`, as `grammar/eval.jsonl`) is turned
 * into one item per dependency as `grammarSet` does, ids `<file basename>:<line>:<dependency>`.
 *
 * Throws ERR_NOT_FOUND for a missing file and ERR_BAD_DATASET naming the line and the field for anything else:
 * a line that is not a JSON object, an unknown field, a missing input / target / evidence, an index that is not
 * an integer word index of the input, an index both evidence and distractor, a non-string alternative, a
 * counterfactual key that is not a word index, a repeated id, or a file without items.
 *
 * @example
 * // items.jsonl:
 * // {"input": "the keys on the table", "target": "are", "alternatives": ["is"], "evidence": [1], "distractors": [4]}
 * import { jsonlSet } from "inseq";
 * jsonlSet("items.jsonl").items[0].id;  // "items.jsonl:1"
 */
export function jsonlSet(file: string): EvalSet {
  if (typeof file !== "string" || file.length === 0) throw invalidOption("file", "a JSONL file path", file);
  if (!existsSync(file)) throw new InseqError(ErrorCode.NOT_FOUND, `No evaluation set at ${file}`);
  const name = path.basename(file);
  const items: EvalItem[] = [];
  const lineOf = new Map<string, number>();
  readFileSync(file, "utf8").split("\n").forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim().length === 0) return;
    const where = `line ${line} of ${file}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (cause) {
      throw new InseqError(ErrorCode.BAD_DATASET, `${where}: the line is not JSON (${(cause as Error).message})`, { cause });
    }
    if (!isObject(value)) throw badData(where, "the line", "is not a JSON object (an evaluation item)");
    let lineItems: EvalItem[];
    if ("words" in value && "dependencies" in value) {
      checkGrammarExample(value, where);
      lineItems = grammarItems(value, `${name}:${line}`);
    } else {
      lineItems = [checkItem(value, where, `${name}:${line}`)];
    }
    for (const item of lineItems) {
      const first = lineOf.get(item.id);
      if (first !== undefined) throw badData(where, "id", `${JSON.stringify(item.id)} repeats the id of line ${first}`);
      lineOf.set(item.id, line);
      items.push(item);
    }
  });
  if (items.length === 0) throw new InseqError(ErrorCode.BAD_DATASET, `${file} holds no evaluation items`);
  return { name, description: `the evaluation items of ${file}`, items };
}

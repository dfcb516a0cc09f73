/**
 * The held-out evaluation set of the bundled default model: grammar examples with their ground-truth
 * dependencies (which earlier words decide each dependent word), shipped as `models/default/grammar/eval.jsonl`,
 * one `GrammarExample` per line. None of its sentences occurs in the training corpus. Each dependency is marked
 * `verified` when the shipped model passed its causal check on it (tools/default-model/gates.ts: it predicts the
 * expected form, swapping the evidence for its counterpart flips it, swapping a competitor does not).
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { packageRoot } from "../core/paths.js";
import type { GrammarExample } from "./grammar.js";

/**
 * Path of the eval set of the model in `modelDir` (`<modelDir>/grammar/eval.jsonl`); by default the bundled
 * model's (`defaultModelDir()` of the main entry point: `models/default/` of the package).
 */
export function evalSetPath(modelDir?: string): string {
  if (modelDir !== undefined && (typeof modelDir !== "string" || modelDir.length === 0)) {
    throw invalidOption("modelDir", "a directory path", modelDir);
  }
  // models/default/ as lib/models/load-model.ts's defaultModelDir() names it, without importing the model stack.
  return path.join(modelDir ?? path.join(packageRoot(), "models", "default"), "grammar", "eval.jsonl");
}

/**
 * Reads the eval set (see `evalSetPath`). Throws ERR_NOT_FOUND when the file is missing and ERR_BAD_DATASET,
 * naming the line, when a line is not a JSON object with `text`, `words` and `dependencies`.
 *
 * @example
 * import { analyzeSentence, loadEvalSet } from "inseq/default-model";
 * const [first] = loadEvalSet();
 * first.text;            // "the window beside the blue letters was small ."
 * first.dependencies[0]; // { kind: "subject_verb_number", target: 6, evidence: [1], distractors: [5], competitors: [5], expected: "was", ..., verified: true }
 * analyzeSentence(first.text); // the same example (without the verified marks), parsed back from the sentence
 */
export function loadEvalSet(modelDir?: string): GrammarExample[] {
  const file = evalSetPath(modelDir);
  if (!existsSync(file)) throw new InseqError(ErrorCode.NOT_FOUND, `No evaluation set at ${file}`);
  const out: GrammarExample[] = [];
  readFileSync(file, "utf8").split("\n").forEach((line, i) => {
    if (line.length === 0) return;
    let example: unknown;
    try {
      example = JSON.parse(line);
    } catch (cause) {
      throw new InseqError(ErrorCode.BAD_DATASET, `Expected a JSON object on line ${i + 1} of ${file}`, { cause });
    }
    const e = example as Partial<GrammarExample> | null;
    if (e === null || typeof e !== "object" || typeof e.text !== "string" || !Array.isArray(e.words) || !Array.isArray(e.dependencies)) {
      throw new InseqError(ErrorCode.BAD_DATASET, `Expected a grammar example (text, words, dependencies) on line ${i + 1} of ${file}`);
    }
    out.push(e as GrammarExample);
  });
  return out;
}

import { InvalidArgumentError } from "commander";

import { ErrorCode, InseqError } from "../core/errors.js";
import { GENERATE_OPTIONS } from "../models/model.js";
import { snakeCase } from "../results/inseq-json.js";

export function intOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`Expected an integer but received ${JSON.stringify(value)}`);
  return n;
}

export function numberOption(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`Expected a number but received ${JSON.stringify(value)}`);
  return n;
}

/** A JSON object option (`--attribution-kwargs '{"n_steps": 100}'`). */
export function jsonOption(value: string): Record<string, unknown> {
  try {
    const v = JSON.parse(value);
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v;
  } catch (e) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a JSON object but received ${JSON.stringify(value)} (${(e as Error).message})`);
  }
}

/** snake_case Inseq/Captum keyword (n_steps) -> our camelCase option (nSteps). */
export const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Edit distance with adjacent transpositions ("smaple" is one edit from "sample"). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The valid name closest to `name` when it is a near miss (a third of its letters or fewer differ), else undefined. */
export function didYouMean(name: string, valid: readonly string[]): string | undefined {
  const key = snakeCase(name).toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const v of valid) {
    const dist = editDistance(key, v.toLowerCase());
    if (dist < bestDistance) [best, bestDistance] = [v, dist];
  }
  return best;
}

/**
 * ERR_UNKNOWN_OPTION for a JSON key as the user wrote it (`"n_stepz" in --attribution-kwargs`), with the nearest
 * valid key and the valid keys in snake_case.
 */
export function unknownKey(key: string, where: string, valid: readonly string[]): InseqError {
  const snake = [...new Set(valid.map(snakeCase))];
  const near = didYouMean(key, snake);
  return new InseqError(
    ErrorCode.UNKNOWN_OPTION,
    `Unknown key ${JSON.stringify(key)} in ${where}${near ? `; did you mean ${JSON.stringify(near)}?` : "."} Valid keys: ${snake.join(", ") || "none"}`,
  );
}

/** The keys --generation-kwargs takes (generate()'s decoding options, in snake_case or camelCase). */
export const GENERATION_KWARGS: readonly string[] = Object.keys(GENERATE_OPTIONS).filter(
  (k) => !["outputGeneratedOnly", "returnIds", "signal", "onProgress"].includes(k),
);

/** `--generation-kwargs '{"max_new_tokens": 10}'`: a JSON object whose keys are decoding options. */
export function generationKwargsOption(value: string): Record<string, unknown> {
  const kwargs = jsonOption(value);
  for (const key of Object.keys(kwargs)) if (!GENERATION_KWARGS.includes(camel(key))) throw unknownKey(key, "--generation-kwargs", GENERATION_KWARGS);
  return kwargs;
}

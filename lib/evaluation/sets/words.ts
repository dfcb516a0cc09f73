/**
 * The words of an evaluation item's input, as `EvalItem.evidence` / `distractors` / `counterfactuals` index them,
 * and the one form of the errors the set loaders throw for bad data.
 */
import { ErrorCode, InseqError } from "../../core/errors.js";

/**
 * `text.trim().split(/\s+/)`, with no words for a blank text.
 *
 * @example
 * inputWords(" the key  near ");  // ["the", "key", "near"]
 */
export function inputWords(text: string): string[] {
  const trimmed = text.trim();
  return trimmed.length === 0 ? [] : trimmed.split(/\s+/);
}

/** ERR_BAD_DATASET: `<where>: <field> <why>` (where = "line 3 of items.jsonl", field = "evidence[1]"). */
export function badData(where: string, field: string, why: string): InseqError {
  return new InseqError(ErrorCode.BAD_DATASET, `${where}: ${field} ${why}`);
}

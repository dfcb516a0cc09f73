/**
 * The run's `info` record of an output: copied into every derived output, and merged by Inseq's
 * `merge_attributions` rules.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import { deepEqual } from "./equality.js";

/** Info fields that must agree for outputs to be merged (Inseq's `_merge_match_info_fields`). */
export const MERGE_MATCH_INFO_FIELDS = [
  "attribute_target",
  "attribution_method",
  "constrained_decoding",
  "include_eos_baseline",
  "model_class",
  "model_name",
  "step_scores",
  "tokenizer_class",
  "tokenizer_name",
] as const;

/** Deep copy of plain info data (falls back to a shallow copy for values structuredClone cannot copy). */
export function cloneInfo(info: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(info);
  } catch {
    return { ...info };
  }
}

/**
 * The info of merged outputs (Inseq's `merge_attributions`): the fields in `MERGE_MATCH_INFO_FIELDS` must agree
 * (or be absent from all); `attr_pos_end` becomes the maximum; `input_texts` / `generated_texts` are
 * concatenated; other fields come from the first info.
 */
export function mergeInfo(infos: readonly Record<string, unknown>[]): Record<string, unknown> {
  const first = infos[0]!;
  for (const field of MERGE_MATCH_INFO_FIELDS) {
    const has = Object.hasOwn(first, field);
    for (const info of infos) {
      const ok = has ? Object.hasOwn(info, field) && deepEqual(info[field], first[field]) : !Object.hasOwn(info, field);
      if (!ok) {
        throw new InseqError(
          ErrorCode.INVALID_OPTION,
          `Cannot merge attribution outputs: incompatible values for info field ${field}`,
        );
      }
    }
  }
  const merged = cloneInfo(first);
  if (Object.hasOwn(first, "attr_pos_end")) {
    merged.attr_pos_end = Math.max(...infos.map((info) => Number(info.attr_pos_end)));
  }
  for (const key of ["generated_texts", "input_texts"]) {
    if (Object.hasOwn(first, key)) {
      merged[key] = infos.flatMap((info) => (Array.isArray(info[key]) ? (info[key] as unknown[]) : [info[key]]));
    }
  }
  return merged;
}

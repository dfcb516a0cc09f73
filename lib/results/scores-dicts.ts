/**
 * Inseq's `get_scores_dicts` and `weight_attributions` on one (already aggregated) sequence output.
 *
 * Python keys its dicts by `(index, token)` tuples, because tokens repeat. JS objects and `Map`s cannot key by a
 * pair without encoding it into a string, so the same data is given as ordered arrays of
 * `{ index, token, scores }` records: the order is Inseq's (dict insertion order), index and token stay typed,
 * and the result serialises to JSON as is (a `Map` does not).
 */
import { invalidOption } from "../core/errors.js";
import type { ScoreTensor } from "./tensor.js";
import type { SequenceOutput } from "./types.js";

/** A token and its position in its list (`source` or `target`): Inseq's `(idx, token)` key. */
export interface IndexedToken {
  index: number;
  token: string;
}

/** One generated token (Inseq's outer key) and the score of every attributed token for it (the inner dict). */
export interface TokenScores extends IndexedToken {
  scores: Array<IndexedToken & { score: number }>;
}

/** One generated token and its step scores by id. */
export interface StepScoresEntry extends IndexedToken {
  scores: Record<string, number>;
}

/**
 * `getScoresDicts()` of one sequence: Inseq's
 * `{"source_attributions": {(tgt_idx, tgt_tok): {(src_idx, src_tok): score}}, "target_attributions": ...,
 * "step_scores": {(tgt_idx, tgt_tok): {name: value}}}`, with arrays of records in place of the tuple-keyed dicts.
 * `index` of a generated token is its position in `target`; NaN scores (outside a step's prefix) stay NaN.
 */
export interface ScoresDicts {
  sourceAttributions: TokenScores[];
  targetAttributions: TokenScores[];
  stepScores: StepScoresEntry[];
}

function check2d(name: string, t: ScoreTensor): void {
  if (t.shape.length !== 2) {
    throw invalidOption(
      name,
      "2-D [attributed, generated] scores (aggregate first, or leave doAggregation on)",
      `a tensor of shape [${t.shape.join(", ")}]`,
    );
  }
}

/** The scores of `seq` (2-D attributions) as `ScoresDicts`. */
export function scoresDicts(seq: SequenceOutput): ScoresDicts {
  const out: ScoresDicts = { sourceAttributions: [], targetAttributions: [], stepScores: [] };
  const fields = [
    ["sourceAttributions", seq.sourceAttributions, seq.source],
    ["targetAttributions", seq.targetAttributions, seq.target],
  ] as const;
  for (const [name, t] of fields) if (t) check2d(name, t);
  for (let j = 0; j < seq.nSteps; j++) {
    const tgtIndex = seq.attrPosStart + j;
    const tgtToken = seq.target[tgtIndex]!.token;
    for (const [name, t, tokens] of fields) {
      if (!t) continue;
      const [rows, cols] = t.shape as [number, number];
      const scores = [];
      for (let r = 0; r < rows; r++) scores.push({ index: r, token: tokens[r]?.token ?? "", score: t.data[r * cols + j]! });
      out[name].push({ index: tgtIndex, token: tgtToken, scores });
    }
    const steps: Record<string, number> = {};
    for (const [id, values] of Object.entries(seq.stepScores)) steps[id] = values[j]!;
    out.stepScores.push({ index: tgtIndex, token: tgtToken, scores: steps });
  }
  return out;
}

/** `seq.stepScores[stepScoreId]`; ERR_INVALID_OPTION naming the available step scores when it has no such score. */
export function stepScoreValues(seq: Pick<SequenceOutput, "stepScores">, stepScoreId: string): Float32Array {
  const values = typeof stepScoreId === "string" && Object.hasOwn(seq.stepScores, stepScoreId) ? seq.stepScores[stepScoreId] : undefined;
  if (values) return values;
  const available = Object.keys(seq.stepScores);
  throw invalidOption(
    "stepScoreId",
    available.length ? `one of the output's step scores (${available.join(", ")})` : "a step score of the output (it has none)",
    stepScoreId,
  );
}

/**
 * The fields of `seq` (2-D attributions) with every generated-token column multiplied by that step's
 * `stepScores[stepScoreId]` (Inseq's `weight_attributions` after its aggregation).
 */
export function weightedFields(
  seq: SequenceOutput,
  stepScoreId: string,
): { sourceAttributions: ScoreTensor | null; targetAttributions: ScoreTensor | null } {
  const weights = stepScoreValues(seq, stepScoreId);
  const weigh = (name: string, t: ScoreTensor | null): ScoreTensor | null => {
    if (!t) return null;
    check2d(name, t);
    const cols = t.shape[1]!;
    if (weights.length !== cols) throw invalidOption(`stepScores.${stepScoreId}`, `${cols} values (one per step)`, weights);
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = t.data[i]! * weights[i % cols]!;
    return { ...t, shape: [...t.shape], dims: [...t.dims], data };
  };
  return {
    sourceAttributions: weigh("sourceAttributions", seq.sourceAttributions),
    targetAttributions: weigh("targetAttributions", seq.targetAttributions),
  };
}

/**
 * Checks of sequence-output fields (Inseq's `is_compatible`): token lists, tensor objects, and tensor shapes
 * against the token counts and attributed positions. Every failure is ERR_INVALID_OPTION in the one message form.
 */
import { invalidOption } from "../core/errors.js";
import type { ScoreTensor } from "./tensor.js";
import type { SequenceOutputData, TokenWithId } from "./types.js";

export function assertTokens(name: string, tokens: unknown): asserts tokens is TokenWithId[] {
  if (!Array.isArray(tokens)) throw invalidOption(name, "an array of { token, id }", tokens);
  tokens.forEach((t, i) => {
    if (t === null || typeof t !== "object" || typeof (t as TokenWithId).token !== "string" || typeof (t as TokenWithId).id !== "number") {
      throw invalidOption(`${name}[${i}]`, "a { token: string, id: number } object", t);
    }
  });
}

export function assertTensor(name: string, t: unknown): asserts t is ScoreTensor {
  const x = t as ScoreTensor;
  if (x === null || typeof x !== "object" || !(x.data instanceof Float32Array) || !Array.isArray(x.shape) || !Array.isArray(x.dims)) {
    throw invalidOption(name, "a { dims, shape, data: Float32Array } tensor", t);
  }
  let n = 1;
  for (const s of x.shape) n *= s;
  if (n !== x.data.length || x.dims.length !== x.shape.length) {
    throw invalidOption(
      name,
      `a tensor whose data length and dims match shape [${x.shape.join(", ")}]`,
      `${x.data.length} values, ${x.dims.length} dims`,
    );
  }
}

/**
 * Throws ERR_INVALID_OPTION if tensor shapes disagree with the tokens and positions: attributions are
 * `[attributed, generated, ...extra]` with the same extra axes on both sides, step scores `[generated]`.
 */
export function checkSequenceShapes(seq: SequenceOutputData): void {
  const steps = seq.attrPosEnd - seq.attrPosStart;
  const check = (name: string, t: ScoreTensor | null, rows: number) => {
    if (!t) return;
    if (t.shape.length < 2 || t.shape[0] !== rows || t.shape[1] !== steps) {
      throw invalidOption(name, `a tensor of shape [${rows}, ${steps}, ...]`, `shape [${t.shape.join(", ")}]`);
    }
  };
  check("sourceAttributions", seq.sourceAttributions, seq.source.length);
  check("targetAttributions", seq.targetAttributions, Math.min(seq.target.length, seq.attrPosEnd));
  if (seq.sourceAttributions && seq.targetAttributions) {
    const a = seq.sourceAttributions.shape.slice(2).join(",");
    const b = seq.targetAttributions.shape.slice(2).join(",");
    if (a !== b) throw invalidOption("targetAttributions", `extra axes [${a}] like sourceAttributions`, `[${b}]`);
  }
  for (const [name, v] of Object.entries(seq.stepScores)) {
    if (v.length !== steps) throw invalidOption(`stepScores.${name}`, `${steps} values (one per generated step)`, v.length);
  }
}

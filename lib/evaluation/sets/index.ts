/**
 * The evaluation sets of `evaluate()` and `inseq evaluate`, and `openEvalSet`, which turns the CLI's set
 * argument into one.
 */
import { existsSync } from "node:fs";

import { ErrorCode, InseqError, invalidOption } from "../../core/errors.js";
import type { Model } from "../../models/model.js";
import type { Seq2SeqModel } from "../../models/seq2seq-model.js";
import type { EvalSet } from "../types.js";
import { grammarSet } from "./grammar.js";
import { jsonlSet } from "./jsonl.js";
import { transliterationPairs, transliterationSet } from "./transliteration.js";
import { winomtSet } from "./winomt.js";

export { grammarSet } from "./grammar.js";
export { jsonlSet } from "./jsonl.js";
export { alignTransliteration, ARABIC_NAMES, transliterationPairs, transliterationSet, type TransliterationPair } from "./transliteration.js";
export { winomtSet } from "./winomt.js";
export { inputWords } from "./words.js";

/** The set specs openEvalSet accepts, as its error lists them. */
export const EVAL_SET_FORMS = [
  "grammar (the bundled default model's held-out grammar set)",
  "grammar:DIR (the grammar/eval.jsonl of a model directory)",
  "winomt:PATH, winomt-pro:PATH, winomt-anti:PATH (WinoMT's en.txt, or the directory holding it)",
  "transliteration (an Arabic -> Latin encoder-decoder's own outputs on 50 names)",
  "FILE.jsonl (one evaluation item per line)",
] as const;

function unknownSpec(spec: unknown): InseqError {
  return invalidOption("the evaluation set", `one of: ${EVAL_SET_FORMS.join("; ")}`, spec);
}

/**
 * Opens the evaluation set a CLI argument names: `"grammar"` (the bundled default model's held-out set),
 * `"grammar:DIR"` (the `grammar/eval.jsonl` of the model in DIR), `"winomt:PATH"` / `"winomt-pro:PATH"` /
 * `"winomt-anti:PATH"` (WinoMT's en.txt or its directory, all lines or one WinoBias subset),
 * `"transliteration"` (the pairs the given encoder-decoder generates for `ARABIC_NAMES`; needs `model`), or a
 * path ending in `.jsonl` (`jsonlSet`). Anything else is ERR_INVALID_OPTION listing these forms.
 *
 * @example
 * import { loadModel, openEvalSet } from "inseq";
 * const grammar = await openEvalSet("grammar");
 * const wino = await openEvalSet("winomt-anti:../shared/fixtures/winomt");
 * const model = await loadModel("ct2-aren-bundle", { kind: "encoder-decoder" });
 * const letters = await openEvalSet("transliteration", { model });
 */
export async function openEvalSet(spec: string, options: { model?: Model | Seq2SeqModel } = {}): Promise<EvalSet> {
  if (typeof spec !== "string" || spec.length === 0) throw unknownSpec(spec);
  if (spec === "grammar") return grammarSet();
  if (spec === "transliteration") {
    const model = options.model;
    if (model === undefined) throw invalidOption("model", 'a loaded encoder-decoder for the "transliteration" set', model);
    if (model.kind !== "encoder-decoder") {
      throw new InseqError(ErrorCode.INVALID_OPTION, `The "transliteration" set needs an encoder-decoder (Arabic -> Latin) model but received a ${model.kind} model`);
    }
    return transliterationSet(await transliterationPairs(model as Seq2SeqModel));
  }
  const colon = spec.indexOf(":");
  const prefix = colon > 0 ? spec.slice(0, colon) : "";
  const rest = spec.slice(colon + 1);
  if (prefix === "grammar" && rest.length > 0) return grammarSet({ modelDir: rest });
  if ((prefix === "winomt" || prefix === "winomt-pro" || prefix === "winomt-anti") && rest.length > 0) {
    const subset = prefix === "winomt" ? "all" : prefix === "winomt-pro" ? "pro" : "anti";
    return winomtSet(rest, { subset });
  }
  if (spec.endsWith(".jsonl")) {
    if (!existsSync(spec)) throw new InseqError(ErrorCode.NOT_FOUND, `No evaluation set at ${spec}`);
    return jsonlSet(spec);
  }
  throw unknownSpec(spec);
}

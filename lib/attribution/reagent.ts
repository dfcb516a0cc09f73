/**
 * The TS side of `reagent` (native/attribution/reagent.cc runs the probes): its method options, the POS tables
 * it needs (pos-groups.ts), and its warnings: `attributedFn` is ignored (as Inseq), and steps where no probe
 * converged within maxProbeSteps fall back to the mean over all probes.
 */
import { invalidOption } from "../core/errors.js";
import type { HeldModel } from "../contract/model-contract.js";
import type { NativeAttributionRequest, NativeAttributionResult } from "../native/binding-types.js";
import { posGroupsOf } from "./pos-groups.js";

/** Codes of reagent's process warnings. */
export const REAGENT_ATTRIBUTED_FN_IGNORED = "INSEQ_REAGENT_ATTRIBUTED_FN_IGNORED";
export const REAGENT_NOT_CONVERGED = "INSEQ_REAGENT_NOT_CONVERGED";

/** The sequence score the native method reports its converged probes in (removed from the output). */
const CONVERGED = "reagent_converged_probes";

/** reagent's methodArgs, checked, as native request fields (other methods do not declare these options). @internal */
export function reagentArgs(a: Record<string, unknown>): Partial<NativeAttributionRequest> {
  const out: Partial<NativeAttributionRequest> = {};
  const int = (k: "keepTopN" | "stoppingConditionTopK" | "maxProbeSteps" | "numProbes", min: number) => {
    const v = a[k];
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw invalidOption(k, `an integer >= ${min}`, v);
    out[k] = v;
  };
  const ratio = (k: "keepRatio" | "replacingRatio") => {
    const v = a[k];
    if (v === undefined || v === null) return;
    if (typeof v !== "number" || !(v > 0 && v <= 1)) throw invalidOption(k, "a number in (0, 1]", v);
    out[k] = v;
  };
  int("keepTopN", 0);
  int("stoppingConditionTopK", 1);
  int("maxProbeSteps", 1);
  int("numProbes", 1);
  ratio("keepRatio");
  ratio("replacingRatio");
  if (a.invertKeep !== undefined) {
    if (typeof a.invertKeep !== "boolean") throw invalidOption("invertKeep", "a boolean", a.invertKeep);
    out.invertKeep = a.invertKeep;
  }
  if (a.posGroups !== undefined) {
    const g = a.posGroups;
    const ok = (Array.isArray(g) || g instanceof Int32Array) && g.length > 0 && Array.from(g as ArrayLike<number>).every((x) => Number.isInteger(x) && x >= -1);
    if (!ok) throw invalidOption("posGroups", "an array or Int32Array of group indices (-1: special) per vocabulary id", g);
    out.posGroups = Int32Array.from(g as ArrayLike<number>);
  }
  if (out.keepTopN === 0 && out.keepRatio === undefined) throw invalidOption("keepRatio", "a number in (0, 1] when keepTopN is 0", a.keepRatio);
  return out;
}

/**
 * The native request fields reagent needs beyond its options: the POS tables of the target side and (when it has
 * its own tokenizer) the source side, built once per tokenizer, unless the caller `given` one table (methodArgs
 * posGroups, for both sides); whether the target prefix is a feature. Warns
 * once per call when `attributedFn` is given (ReAGent always probes p(y)). @internal
 */
export async function reagentRequestFields(model: HeldModel, attributedFn: string | undefined, attributeTarget: boolean,
  given?: Int32Array): Promise<Partial<NativeAttributionRequest>> {
  if (attributedFn !== undefined) {
    process.emitWarning(`reagent ignores attributedFn ${JSON.stringify(attributedFn)}: its probes always measure the change in the target's probability (as Python Inseq)`,
      { code: REAGENT_ATTRIBUTED_FN_IGNORED, type: "InseqWarning" });
  }
  const { info } = model;
  const specials = [info.bosTokenId, info.padTokenId, info.unkTokenId, info.decoderStartTokenId, ...info.eosTokenIds].filter((id) => id >= 0);
  const out: Partial<NativeAttributionRequest> = { posGroups: given ?? (await posGroupsOf(model.targetTokenizer, info.vocabSize, specials)).groups };
  if (model.layout.separateSource) {
    out.attributeTarget = attributeTarget;
    if (!given && model.tokenizer !== model.targetTokenizer) out.sourcePosGroups = (await posGroupsOf(model.tokenizer, info.sourceVocabSize, specials)).groups;
  }
  return out;
}

/**
 * Removes reagent's converged-probe counts from a native result and warns (once per native job, listing the steps)
 * where no probe converged: those steps' scores are the mean over all probes. `first` numbers the batch's
 * first example. @internal
 */
export function takeReagentConvergence(raw: NativeAttributionResult, first: number, maxProbeSteps: number | undefined): void {
  const missed: string[] = [];
  raw.sequences.forEach((s, k) => {
    const t = s.sequenceScores[CONVERGED];
    if (!t) return;
    delete s.sequenceScores[CONVERGED];
    t.data.forEach((c, j) => { if (c === 0) missed.push(`example ${first + k} step ${j}`); });
  });
  if (missed.length === 0) return;
  process.emitWarning(`reagent: no probe converged within maxProbeSteps (${maxProbeSteps ?? 3000}) at ${missed.length} step(s) (${missed.slice(0, 5).join(", ")}` +
    `${missed.length > 5 ? ", ..." : ""}); their scores are the mean over all probes. Raise maxProbeSteps, lower keepTopN or raise stoppingConditionTopK.`,
    { code: REAGENT_NOT_CONVERGED, type: "InseqWarning" });
}

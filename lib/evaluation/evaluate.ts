/**
 * `evaluate()`: runs attribution methods (and model-free baselines) on an evaluation set and reports, per
 * method and per group of items, plausibility against the ground truth and faithfulness by perturbation, with
 * the sanity checks on request. See docs/evaluation.md for the definitions and measured tables.
 */
import { getMethod } from "../attribution/registry.js";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import type { Model } from "../models/model.js";
import type { Seq2SeqModel } from "../models/seq2seq-model.js";
import { baselineScores } from "./baselines.js";
import {
  aopc, aopcKs, averagePrecision, comprehensiveness, evidenceOverDistractors, mean, meanEvidenceRank, rankOrder, sufficiency, top1Hit,
  type PerturbationProbabilities,
} from "./metrics.js";
import { completenessAdvice, withoutCompletenessWarning, COMPLETENESS_THRESHOLD } from "../attribution/completeness-warning.js";
import type { DeviceOption, DtypeOption } from "../models/load-model.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import { completenessInputs, completenessReport } from "../attribution/completeness.js";
import { Perturber } from "./perturb.js";
import { meanSpearman, randomizationCheck } from "./randomize.js";
import { prepareItems, type PreparedItem } from "./prepare.js";
import {
  BASELINES, REPLACEMENTS, type BaselineId, type EvalItem, type EvalSet, type EvaluateOptions, type EvaluationReport, type FaithfulnessMetrics,
  type GroupReport, type ItemRecord, type MethodReport, type MethodSpec, type Replacement,
} from "./types.js";
import { attributeWordScores } from "./word-scores.js";

const EVALUATE_OPTIONS = {
  methods: "checked", baselines: "checked", replacement: "checked", k: "checked", aopcMaxK: "checked", faithfulness: "boolean",
  verifiedOnly: "boolean", limit: "checked", randomization: "checked", completenessThreshold: "checked", seed: "checked",
  batchSize: "checked", includeItems: "boolean", signal: "signal", onProgress: "function",
} as const satisfies OptionTable;

/** One row of the table while it is computed: its scores per item and its per-item metrics. */
interface Row {
  report: MethodReport;
  scores: number[][];
  faithfulness?: ItemFaithfulness[];
}

interface ItemFaithfulness {
  pFull: number;
  comprehensiveness: Record<string, number>;
  sufficiency: Record<string, number>;
  aopcComprehensiveness: number;
  aopcSufficiency: number;
  flipped: Record<string, boolean>;
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isSafeInteger(value) && (value as number) >= 1)) throw invalidOption(name, "an integer >= 1", value);
  return value as number;
}

/** A method spec from a string or an object, checked against the method table. */
export function methodSpec(input: string | MethodSpec): MethodSpec {
  const spec = typeof input === "string" ? { method: input } : input;
  if (spec === null || typeof spec !== "object" || typeof spec.method !== "string") {
    throw invalidOption("methods", "method ids or { method, methodArgs?, attributedFn?, attributedFnArgs?, label? } objects", input);
  }
  getMethod(spec.method);
  if (spec.scoresLayer !== undefined && !Number.isSafeInteger(spec.scoresLayer)) throw invalidOption("scoresLayer", "an integer (negative: from the last layer)", spec.scoresLayer);
  return spec;
}

/** The report label of a spec: its label, else method[+attributedFn][ key=value ...]. */
export function specLabel(spec: MethodSpec): string {
  if (spec.label !== undefined) return spec.label;
  const args = Object.entries(spec.methodArgs ?? {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [spec.attributedFn ? `${spec.method}+${spec.attributedFn}` : spec.method, ...args, ...(spec.scoresLayer !== undefined ? [`layer=${spec.scoresLayer}`] : [])].join(" ");
}

function checkSet(set: EvalSet): void {
  if (set === null || typeof set !== "object" || !Array.isArray(set.items)) {
    throw invalidOption("set", "an evaluation set { name, description, items }", set);
  }
}

/** The k values a row needs per item: the report's k (capped at the word count) and AOPC's 1..min(maxK, words). */
function neededKs(words: number, k: readonly number[], aopcMaxK: number): number[] {
  return [...new Set([...k.map((x) => Math.min(x, words)), ...aopcKs(words, aopcMaxK)])].sort((a, b) => a - b);
}

/**
 * Evaluates attribution methods on `set` with `model`. Each item is attributed with a forced target (the item's
 * target after its input); word importances are the sum of |score| over a word's tokens after Inseq's default
 * aggregation. Baselines (random, previous word, first word, ground-truth oracle) go through the same metrics.
 *
 * @example
 * import { loadModel, evaluate, openEvalSet } from "inseq";
 * const model = await loadModel("default");
 * const report = await evaluate(model, await openEvalSet("grammar"), {
 *   methods: ["saliency", { method: "saliency", attributedFn: "contrast_logits_diff" }],
 * });
 * console.log(formatEvaluationTable(report));
 */
export async function evaluate(model: Model | Seq2SeqModel, set: EvalSet, options: EvaluateOptions = {}): Promise<EvaluationReport> {
  checkOptions("evaluate", options, EVALUATE_OPTIONS);
  checkSet(set);
  const started = performance.now();
  const specs = (options.methods ?? []).map(methodSpec);
  const baselines = options.baselines ?? BASELINES;
  if (!Array.isArray(baselines) || baselines.some((b) => !BASELINES.includes(b))) {
    throw invalidOption("baselines", `a list of ${BASELINES.join(", ")}`, baselines);
  }
  if (specs.length + baselines.length === 0) throw invalidOption("methods", "at least one method or baseline", options.methods);
  const ks = options.k ?? [1, 2];
  if (!Array.isArray(ks) || ks.length === 0 || ks.some((k) => !(Number.isSafeInteger(k) && k >= 1))) throw invalidOption("k", "a non-empty list of integers >= 1", ks);
  const aopcMaxK = positiveInteger("aopcMaxK", options.aopcMaxK, 5);
  const batchSize = positiveInteger("batchSize", options.batchSize, 32);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw invalidOption("seed", "an integer", seed);
  const faithful = options.faithfulness ?? true;
  const threshold = options.completenessThreshold ?? COMPLETENESS_THRESHOLD;
  if (!(typeof threshold === "number" && threshold > 0)) throw invalidOption("completenessThreshold", "a number > 0", threshold);
  if (options.randomization !== undefined && typeof options.randomization !== "boolean" && (options.randomization === null || typeof options.randomization !== "object")) {
    throw invalidOption("randomization", "true, false or { items?, seed? }", options.randomization);
  }

  let items: EvalItem[] = set.items;
  if (options.verifiedOnly) items = items.filter((i) => i.verified === true);
  if (options.limit !== undefined) items = items.slice(0, positiveInteger("limit", options.limit, 0));
  if (items.length === 0) throw new InseqError(ErrorCode.BAD_DATASET, `The evaluation set ${JSON.stringify(set.name)} has no items to evaluate${options.verifiedOnly ? " (verifiedOnly: none is verified)" : ""}`);
  const replacement = chooseReplacement(model, items, options.replacement);
  const prepared = await prepareItems(model, items);

  const total = (specs.length + baselines.length) * items.length;
  let done = 0;
  const progress = (n: number, label: string) => {
    done += n;
    options.onProgress?.(done, total, label);
  };
  const rows: Row[] = [];
  for (const spec of specs) {
    const label = specLabel(spec);
    // One untimed item first: the per-item time then excludes one-off costs (first native job, allocations).
    await withoutCompletenessWarning(() => attributeWordScores(model, prepared.slice(0, 1), spec, { batchSize: 1, ...(options.signal ? { signal: options.signal } : {}) }));
    const t0 = performance.now();
    let reported = 0;
    const completeness = hasConvergenceDelta(spec) ? { deltas: [] as number[], scales: [] as number[] } : null;
    const run = completeness ? { ...spec, methodArgs: { returnConvergenceDelta: true, ...spec.methodArgs } } : spec;
    const scores = await withoutCompletenessWarning(() => attributeWordScores(model, prepared, run, {
      batchSize, ...(options.signal ? { signal: options.signal } : {}),
      onBatch: (n, output, batch) => {
        progress(n - reported, label);
        reported = n;
        if (completeness) collectCompleteness(output, batch, completeness);
      },
    }));
    rows.push({
      scores,
      report: {
        label, method: spec.method, ...(spec.methodArgs ? { methodArgs: spec.methodArgs } : {}), ...(spec.attributedFn ? { attributedFn: spec.attributedFn } : {}),
        ...(spec.attributedFnArgs ? { attributedFnArgs: spec.attributedFnArgs } : {}),
        ...(spec.scoresLayer !== undefined ? { scoresLayer: spec.scoresLayer } : {}), groups: [],
        ...(completeness ? { completeness: completenessReport(completeness.deltas, completeness.scales, threshold, { unit: "items", advice: completenessAdvice(spec.method, spec.methodArgs) }) } : {}), msPerItem: (performance.now() - t0) / items.length,
      },
    });
  }
  for (const baseline of baselines as readonly BaselineId[]) {
    const label = `baseline: ${baseline.replace("_", " ")}`;
    rows.push({
      scores: prepared.map((p) => baselineScores(baseline, p.item, p.words.length, p.index, seed)),
      report: { label, method: "baseline", baseline, groups: [], msPerItem: 0 },
    });
    progress(items.length, label);
  }

  if (options.randomization) {
    const r = options.randomization === true ? {} : options.randomization;
    await measureRandomization(model, prepared, specs, rows.slice(0, specs.length), {
      items: positiveInteger("randomization.items", r.items, 32), seed: r.seed ?? seed, batchSize, signal: options.signal,
    });
  }
  if (faithful) await measureFaithfulness(model, prepared, rows, { replacement, ks, aopcMaxK, signal: options.signal });
  for (const row of rows) row.report.groups = groupReports(prepared, row, ks);

  const report: EvaluationReport = {
    format: "inseq-evaluation/1",
    set: { name: set.name, description: set.description, items: items.length, verified: items.filter((i) => i.verified === true).length },
    model: { name: model.info.name, path: model.info.path, kind: model.kind },
    replacement, k: [...ks], aopcMaxK,
    methods: rows.map((r) => r.report),
    seconds: (performance.now() - started) / 1000,
    createdAt: new Date().toISOString(),
  };
  if (options.includeItems) report.items = rows.flatMap((row) => itemRecords(prepared, row));
  return report;
}

/** Whether the spec's method returns convergence deltas (integrated gradients and its layer variant). */
function hasConvergenceDelta(spec: MethodSpec): boolean {
  return getMethod(spec.method).options.includes("returnConvergenceDelta") && spec.methodArgs?.multiplyByInputs !== false;
}

/** Appends the delta and f(x) - f(baseline) of each item's attributed step. */
function collectCompleteness(output: FeatureAttributionOutput, batch: readonly PreparedItem[], into: { deltas: number[]; scales: number[] }): void {
  const inputs = completenessInputs(output);
  if (!inputs) return;
  let offset = 0;
  output.sequenceAttributions.forEach((seq, i) => {
    const step = batch[i]!.step;
    into.deltas.push(inputs.deltas[offset + step]!);
    into.scales.push(inputs.scales[offset + step]!);
    offset += seq.nSteps;
  });
}

/** `n` items spread evenly over the set (all of them when n >= the set). */
function spread(prepared: readonly PreparedItem[], n: number): PreparedItem[] {
  if (n >= prepared.length) return [...prepared];
  return Array.from({ length: n }, (_, i) => prepared[Math.floor((i * prepared.length) / n)]!);
}

/**
 * The model-randomisation check of every method row: one cascade of randomised checkpoints (randomize.ts), each
 * loaded once and attributed with every method on the same items; Spearman against the trained model per method.
 */
async function measureRandomization(
  model: Model | Seq2SeqModel, prepared: readonly PreparedItem[], specs: readonly MethodSpec[], rows: Row[],
  o: { items: number; seed: number; batchSize: number; signal: AbortSignal | undefined },
): Promise<void> {
  if (specs.length === 0) return;
  const subset = spread(prepared, o.items);
  const perStep: number[][][][] = [];  // step -> method -> item -> word scores
  const signal = o.signal ? { signal: o.signal } : {};
  const steps = await randomizationCheck(model.info.path, { device: model.info.device as DeviceOption, dtype: model.info.dtype as DtypeOption },
    subset.map((p) => p.item), async (randomized) => {
      const again = await prepareItems(randomized as Model | Seq2SeqModel, subset.map((p) => p.item));
      const all: number[][][] = [];
      for (const spec of specs) {
        all.push(await withoutCompletenessWarning(() => attributeWordScores(randomized as Model | Seq2SeqModel, again, spec, { batchSize: o.batchSize, ...signal })));
      }
      perStep.push(all);
      return all[0]!;
    }, subset.map((p) => rows[0]!.scores[p.index]!), { seed: o.seed, ...signal });
  rows.forEach((row, m) => {
    const original = subset.map((p) => row.scores[p.index]!);
    row.report.randomization = steps.map((s, k) => ({ ...s, spearman: meanSpearman(perStep[k]![m]!, original) }));
  });
}

function chooseReplacement(model: Model | Seq2SeqModel, items: readonly EvalItem[], requested: Replacement | undefined): Replacement {
  if (requested !== undefined) {
    if (!REPLACEMENTS.includes(requested)) throw invalidOption("replacement", REPLACEMENTS.map((r) => JSON.stringify(r)).join(" | "), requested);
    return requested;
  }
  if (items.every((i) => i.counterfactuals && Object.keys(i.counterfactuals).length > 0)) return "counterfactual";
  return model.tokenizer.unkTokenId !== null ? "unk" : "mean";
}

async function measureFaithfulness(
  model: Model | Seq2SeqModel, prepared: readonly PreparedItem[], rows: Row[],
  o: { replacement: Replacement; ks: readonly number[]; aopcMaxK: number; signal: AbortSignal | undefined },
): Promise<void> {
  const perturber = new Perturber(model, o.replacement, o.signal ? { signal: o.signal } : {});
  // Keys of every perturbation, per row and item: full input, top-k removed, only top-k kept.
  const plans: Array<Array<{ full: string; removed: Map<number, string>; kept: Map<number, string> }>> = [];
  for (const row of rows) {
    const perItem: (typeof plans)[number] = [];
    for (const p of prepared) {
      const order = rankOrder(row.scores[p.index]!);
      const full = await perturber.request(p, []);
      const removed = new Map<number, string>();
      const kept = new Map<number, string>();
      for (const k of neededKs(p.words.length, o.ks, o.aopcMaxK)) {
        removed.set(k, await perturber.request(p, order.slice(0, k)));
        kept.set(k, await perturber.request(p, order.slice(k)));
      }
      perItem.push({ full, removed, kept });
    }
    plans.push(perItem);
  }
  await perturber.run();
  rows.forEach((row, r) => {
    row.faithfulness = prepared.map((p, i) => {
      const plan = plans[r]![i]!;
      const full = perturber.get(plan.full);
      const probs: PerturbationProbabilities = {
        full: full.p,
        removed: new Map([...plan.removed].map(([k, key]) => [k, perturber.get(key).p])),
        kept: new Map([...plan.kept].map(([k, key]) => [k, perturber.get(key).p])),
      };
      const n = p.words.length;
      const at = (k: number) => Math.min(k, n);
      return {
        pFull: full.p,
        comprehensiveness: Object.fromEntries(o.ks.map((k) => [String(k), comprehensiveness(probs, at(k))])),
        sufficiency: Object.fromEntries(o.ks.map((k) => [String(k), sufficiency(probs, at(k))])),
        aopcComprehensiveness: aopc(probs, n, o.aopcMaxK, "comprehensiveness"),
        aopcSufficiency: aopc(probs, n, o.aopcMaxK, "sufficiency"),
        flipped: Object.fromEntries(o.ks.map((k) => [String(k), perturber.get(plan.removed.get(at(k))!).decision !== full.decision])),
      };
    });
  });
}

/** The item indices of each reported group: "all", each kind in order of appearance, "verified" when it is a strict subset. */
function groups(prepared: readonly PreparedItem[]): Array<[string, number[]]> {
  const out = new Map<string, number[]>([["all", prepared.map((p) => p.index)]]);
  for (const p of prepared) {
    if (!out.has(p.item.kind)) out.set(p.item.kind, []);
    out.get(p.item.kind)!.push(p.index);
  }
  // A set with a single kind reports it once ("all").
  if (out.size === 2) out.delete(prepared[0]!.item.kind);
  const verified = prepared.filter((p) => p.item.verified === true).map((p) => p.index);
  if (verified.length > 0 && verified.length < prepared.length) out.set("verified", verified);
  return [...out];
}

function groupReports(prepared: readonly PreparedItem[], row: Row, ks: readonly number[]): GroupReport[] {
  return groups(prepared).map(([group, indices]) => {
    const of = (i: number) => prepared[i]!.item;
    const report: GroupReport = {
      group, items: indices.length,
      plausibility: {
        top1: mean(indices.map((i) => (top1Hit(row.scores[i]!, of(i).evidence) ? 1 : 0)))!,
        meanEvidenceRank: mean(indices.map((i) => meanEvidenceRank(row.scores[i]!, of(i).evidence)))!,
        evidenceOverDistractors: mean(indices.map((i) => {
          const v = evidenceOverDistractors(row.scores[i]!, of(i).evidence, of(i).distractors ?? []);
          return v === null ? null : v ? 1 : 0;
        })),
        auprc: mean(indices.map((i) => averagePrecision(row.scores[i]!, of(i).evidence)))!,
      },
    };
    if (row.faithfulness) {
      const f = indices.map((i) => row.faithfulness![i]!);
      const perK = (pick: (x: ItemFaithfulness) => Record<string, number | boolean>) =>
        Object.fromEntries(ks.map((k) => [String(k), mean(f.map((x) => Number(pick(x)[String(k)])))!]));
      const faithfulness: FaithfulnessMetrics = {
        comprehensiveness: perK((x) => x.comprehensiveness),
        sufficiency: perK((x) => x.sufficiency),
        aopcComprehensiveness: mean(f.map((x) => x.aopcComprehensiveness))!,
        aopcSufficiency: mean(f.map((x) => x.aopcSufficiency))!,
        decisionFlip: perK((x) => x.flipped),
      };
      report.faithfulness = faithfulness;
    }
    return report;
  });
}

function itemRecords(prepared: readonly PreparedItem[], row: Row): ItemRecord[] {
  return prepared.map((p, i) => {
    const scores = row.scores[i]!;
    const f = row.faithfulness?.[i];
    return {
      id: p.item.id, kind: p.item.kind, label: row.report.label, wordScores: scores,
      top1: top1Hit(scores, p.item.evidence), evidenceRank: meanEvidenceRank(scores, p.item.evidence),
      ...(f ? { pFull: f.pFull, comprehensiveness: f.comprehensiveness, sufficiency: f.sufficiency, flipped: f.flipped } : {}),
    };
  });
}

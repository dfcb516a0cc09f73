/**
 * The quality gates of the bundled default model (a development tool, not part of the package), measured on grammar
 * examples the model never saw:
 *
 * - greedy agreement, per dependency kind: the greedy next token after `words.slice(0, target)` carries the
 *   expected feature (for a pronoun or possessive: it is the expected word; for a verb: a form of the expected
 *   number, since which verb or tense follows is free in the grammar);
 * - evidence flips, per template: with each evidence word swapped for its counterpart (`counterpart`), the greedy
 *   token carries the alternative's feature instead;
 * - distractor flips, per template: with one competitor slot (`competitors`: the other name, the other noun,
 *   whatever its feature) swapped for its counterpart, the greedy token's feature changes. A model that reads the
 *   evidence flips on every evidence swap and on no competitor swap.
 *
 * A dependency is `verified` when all three hold for it. Swapping a word also swaps, in the prefix, the dependent
 * words of the example's other dependencies that word controls ("the dogs that the boy sees" becomes "the dogs
 * that the boys see"), so that every probed prefix stays grammatical.
 */
import { ErrorCode, InseqError, invalidOption } from "../../lib/core/errors.js";
import {
  categoryEntries,
  lookupWord,
  type Category,
  type DependencyKind,
  type GrammarDependency,
  type GrammarExample,
  type LexicalEntry,
} from "../../lib/default-model/grammar.js";
import type { Model } from "../../lib/index.js";

type Feature = "gender" | "number";

/** The thresholds of the gates: agreement and evidence flips at least, distractor flips at most. */
export const GATE_THRESHOLDS = { agreement: 0.99, evidenceFlips: 0.95, distractorFlips: 0.05 } as const;

/** `hits` of `total`, and their ratio (0 when `total` is 0). */
export interface Rate {
  hits: number;
  total: number;
  rate: number;
}

/** The causal check of one dependency of one example. */
export interface DependencyCheck {
  /** Index of the example in the measured list, and of the dependency in its `dependencies`. */
  example: number;
  dependency: number;
  template: string;
  kind: DependencyKind;
  /** The greedy token after the prefix. */
  predicted: string;
  /** It carries the expected feature. */
  agrees: boolean;
  /** With the evidence swapped, the greedy token carries the alternative's feature. */
  evidenceFlips: boolean;
  /** With some competitor swapped, the greedy token's feature changed (false when there is no competitor). */
  distractorFlips: boolean;
  /** The number of competitors swapped (one probe each). */
  competitors: number;
  /** agrees && evidenceFlips && !distractorFlips. */
  verified: boolean;
}

export interface GateReport {
  examples: number;
  dependencies: number;
  /** Greedy agreement per dependency kind. */
  agreement: Record<string, Rate>;
  /** Evidence-swap flip rate per template. */
  evidenceFlips: Record<string, Rate>;
  /** Competitor-swap flip rate per template (templates whose dependencies have competitors). */
  distractorFlips: Record<string, Rate>;
  /** One check per dependency, in example order. */
  checks: DependencyCheck[];
  /** What missed its threshold, one line each (empty when every gate holds). */
  failures: string[];
}

const featureOf = (e: LexicalEntry, feature: Feature): string | undefined => (feature === "gender" ? e.gender : e.number);
const featureOfKind = (kind: DependencyKind): Feature => (kind === "subject_verb_number" ? "number" : "gender");

/** The lexical entry of `word` carrying `feature` (a gender noun or a noun number), or undefined. */
function entryWith(word: string, feature: Feature, category?: Category): (LexicalEntry & { category: Category }) | undefined {
  return lookupWord(word).find((e) => featureOf(e, feature) !== undefined && (category === undefined || e.category === category));
}

/**
 * The counterpart of a controller word for `feature`: the gender noun of the other gender (woman ↔ man, mother ↔
 * father, lady ↔ gentleman), the other number of a noun (key ↔ keys), or, for a name, a name of the other gender:
 * the one at the same place in the other gender's list, or the next one not in `avoid` (deterministic).
 */
export function counterpart(word: string, feature: Feature, avoid: ReadonlySet<string> = new Set()): string {
  // "cashier" is an occupation (singular only) and an agent (with a plural): the first category with a counterpart.
  const entries = lookupWord(word).filter((e) => featureOf(e, feature) !== undefined);
  if (entries.length === 0) throw invalidOption("word", `a word of the grammar with a ${feature}`, word);
  for (const entry of entries) {
    const value = featureOf(entry, feature);
    const category = categoryEntries(entry.category);
    if (entry.category === "name") {
      const own = category.filter((e) => featureOf(e, feature) === value).map((e) => e.word);
      const other = category.filter((e) => featureOf(e, feature) !== value).map((e) => e.word);
      const start = own.indexOf(word);
      for (let k = 0; k < other.length; k++) {
        const candidate = other[(start + k) % other.length]!;
        if (!avoid.has(candidate)) return candidate;
      }
    } else {
      const found = category.find((e) => e.lemma === entry.lemma && featureOf(e, feature) !== value);
      if (found) return found.word;
    }
  }
  throw new InseqError(ErrorCode.INVALID_OPTION, `No counterpart of ${JSON.stringify(word)} for ${feature} outside ${JSON.stringify([...avoid])}`);
}

/** The prefix of `d` with the words at `swap` replaced by their counterparts (and the words they control re-inflected). */
function swappedPrefix(example: GrammarExample, d: GrammarDependency, swap: readonly number[]): string {
  const feature = featureOfKind(d.kind);
  const words = example.words.slice(0, d.target);
  const avoid = new Set(example.words);
  for (const i of swap) words[i] = counterpart(words[i]!, feature, avoid);
  for (const other of example.dependencies) {
    if (other.target < d.target && other.evidence.some((i) => swap.includes(i))) words[other.target] = other.alternatives[0]!;
  }
  return words.join(" ");
}

interface Probe {
  readonly prompt: string;
  readonly check: number;
  readonly role: "base" | "evidence" | "competitor";
}

/** Greedy next token of each prompt: batched forward passes (left-padded) over the prompts sorted by length. */
async function greedyNext(model: Model, prompts: readonly string[], batchSize: number): Promise<string[]> {
  const encoded = await model.encode(prompts);
  const order = prompts.map((_, i) => i).sort((a, b) => encoded[a]!.ids.length - encoded[b]!.ids.length);
  const out: string[] = new Array(prompts.length);
  for (let start = 0; start < order.length; start += batchSize) {
    const rows = order.slice(start, start + batchSize);
    const { logits } = await model.forward(rows.map((i) => encoded[i]!.ids));
    const [, seq, vocab] = logits.shape as [number, number, number];
    rows.forEach((i, j) => {
      const base = (j * seq + seq - 1) * vocab; // last position: the batch is left-padded
      let best = 0;
      for (let v = 1; v < vocab; v++) if (logits.data[base + v]! > logits.data[base + best]!) best = v;
      out[i] = model.tokenizer.idToToken(best) ?? "";
    });
  }
  return out;
}

function rate(hits: number, total: number): Rate {
  return { hits, total, rate: total === 0 ? 0 : hits / total };
}

function tally(checks: readonly DependencyCheck[], key: (c: DependencyCheck) => string | undefined, hit: (c: DependencyCheck) => boolean): Record<string, Rate> {
  const counts = new Map<string, [number, number]>();
  for (const c of checks) {
    const k = key(c);
    if (k === undefined) continue;
    const [h, n] = counts.get(k) ?? [0, 0];
    counts.set(k, [h + (hit(c) ? 1 : 0), n + 1]);
  }
  return Object.fromEntries([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, [h, n]]) => [k, rate(h, n)]));
}

/**
 * Measures the gates of `model` (the bundled default model or one trained like it) on `examples` (grammar examples
 * with `competitors`; held-out sentences). Runs a few batched forward passes: one probe per dependency, one per
 * evidence swap, one per competitor.
 */
export async function measureGates(model: Model, examples: readonly GrammarExample[], options: { batchSize?: number } = {}): Promise<GateReport> {
  if (!Array.isArray(examples as unknown) || examples.length === 0) throw invalidOption("examples", "a non-empty array of grammar examples", examples);
  const batchSize = options.batchSize ?? 256;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw invalidOption("batchSize", "a positive integer", batchSize);

  const probes: Probe[] = [];
  const deps: Array<{ example: number; dependency: number; d: GrammarDependency; template: string }> = [];
  examples.forEach((example, e) => {
    example.dependencies.forEach((d, j) => {
      const check = deps.length;
      deps.push({ example: e, dependency: j, d, template: example.template });
      probes.push({ prompt: example.words.slice(0, d.target).join(" "), check, role: "base" });
      probes.push({ prompt: swappedPrefix(example, d, d.evidence), check, role: "evidence" });
      for (const c of d.competitors ?? d.distractors) probes.push({ prompt: swappedPrefix(example, d, [c]), check, role: "competitor" });
    });
  });
  const predicted = await greedyNext(model, probes.map((p) => p.prompt), batchSize);

  // The feature value a token carries as the target's word (undefined for any other token), per dependency.
  const targets = deps.map(({ d }) => {
    const feature = featureOfKind(d.kind);
    const entry = entryWith(d.expected, feature)!;
    const valueOf = (token: string): string | undefined => {
      const e = entryWith(token, feature, entry.category);
      return e && featureOf(e, feature);
    };
    return { expected: featureOf(entry, feature), alternative: valueOf(d.alternatives[0]!), valueOf };
  });
  const checks: DependencyCheck[] = deps.map(({ example, dependency, d, template }) => ({
    example, dependency, template, kind: d.kind, predicted: "", agrees: false, evidenceFlips: false, distractorFlips: false, competitors: 0, verified: false,
  }));
  const baseValue = new Map<number, string | undefined>();
  probes.forEach((p, i) => {
    if (p.role !== "base") return;
    const c = checks[p.check]!;
    c.predicted = predicted[i]!;
    baseValue.set(p.check, targets[p.check]!.valueOf(c.predicted));
    c.agrees = baseValue.get(p.check) === targets[p.check]!.expected;
  });
  probes.forEach((p, i) => {
    const c = checks[p.check]!;
    const value = targets[p.check]!.valueOf(predicted[i]!);
    if (p.role === "evidence") {
      c.evidenceFlips = value === targets[p.check]!.alternative;
    } else if (p.role === "competitor") {
      c.competitors++;
      if (value !== baseValue.get(p.check)) c.distractorFlips = true;
    }
  });
  for (const c of checks) c.verified = c.agrees && c.evidenceFlips && !c.distractorFlips;

  const report: GateReport = {
    examples: examples.length,
    dependencies: checks.length,
    agreement: tally(checks, (c) => c.kind, (c) => c.agrees),
    evidenceFlips: tally(checks, (c) => c.template, (c) => c.evidenceFlips),
    distractorFlips: tally(checks, (c) => (c.competitors > 0 ? c.template : undefined), (c) => c.distractorFlips),
    checks,
    failures: [],
  };
  report.failures = gateFailures(report);
  return report;
}

/** The gates `report` misses, one line each ("agreement subject_verb_number 0.981 < 0.99"). */
export function gateFailures(report: Pick<GateReport, "agreement" | "evidenceFlips" | "distractorFlips">, thresholds = GATE_THRESHOLDS): string[] {
  const out: string[] = [];
  const fmt = (r: Rate) => `${r.rate.toFixed(3)} (${r.hits}/${r.total})`;
  for (const [k, r] of Object.entries(report.agreement)) if (r.rate < thresholds.agreement) out.push(`agreement ${k} ${fmt(r)} < ${thresholds.agreement}`);
  for (const [k, r] of Object.entries(report.evidenceFlips)) if (r.rate < thresholds.evidenceFlips) out.push(`evidence flips ${k} ${fmt(r)} < ${thresholds.evidenceFlips}`);
  for (const [k, r] of Object.entries(report.distractorFlips)) if (r.rate > thresholds.distractorFlips) out.push(`distractor flips ${k} ${fmt(r)} > ${thresholds.distractorFlips}`);
  return out;
}

/** Copies of `examples` with each dependency's `verified` set from `report.checks` (measured on these examples). */
export function markVerified(examples: readonly GrammarExample[], report: Pick<GateReport, "checks">): GrammarExample[] {
  const out = examples.map((e) => ({ ...e, dependencies: e.dependencies.map((d) => ({ ...d, verified: false })) }));
  for (const c of report.checks) {
    const d = out[c.example]?.dependencies[c.dependency];
    if (!d) throw invalidOption("report", "the gate report of these examples", c);
    d.verified = c.verified;
  }
  return out;
}

/** The rates of a report without its per-dependency checks (what training.json records). */
export function gateSummary(report: GateReport): Omit<GateReport, "checks"> {
  const { checks: _checks, ...rest } = report;
  return rest;
}

/**
 * The corpus generator of the bundled default model (a development tool, not part of the package): training
 * sentences from a seeded stream of the grammar (lib/default-model/grammar.ts) and held-out evaluation examples
 * from a derived seed that never repeat a training sentence.
 */
import { invalidOption } from "../../lib/core/errors.js";
import { generateExample, mulberry32, type GrammarExample } from "../../lib/default-model/grammar.js";

/** Generates `n` sentences from a mulberry32 stream seeded with `seed` (same arguments, same corpus). */
export function generateCorpus(n: number, seed: number): GrammarExample[] {
  if (!Number.isSafeInteger(n) || n < 0) throw invalidOption("n", "a non-negative integer", n);
  if (!Number.isSafeInteger(seed)) throw invalidOption("seed", "an integer", seed);
  const rng = mulberry32(seed);
  const out: GrammarExample[] = [];
  for (let i = 0; i < n; i++) out.push(generateExample(rng));
  return out;
}

export interface CorpusOptions {
  /** Number of training sentences (train.txt). */
  trainSize: number;
  /** Number of evaluation examples (eval.jsonl), none of which occurs in train.txt. */
  evalSize: number;
  /** Seed of the training corpus; the evaluation set uses a seed derived from it. */
  seed: number;
}

/** Seed of the evaluation stream, derived from the corpus seed. */
export function evalSeed(seed: number): number {
  return (seed ^ 0x5bd1e995) >>> 0;
}

/**
 * Seed of the gate set (tools/default-model/gates.ts), derived from the corpus seed and distinct from both the
 * corpus seed and the evaluation stream's seeds: a held-out set no training or eval.jsonl sentence was drawn from.
 */
export function gateSeed(seed: number): number {
  return (seed ^ 0x27d4eb2f) >>> 0;
}

/**
 * Evaluation examples from the derived seed, skipping sentences that occur in `train`.
 * Gives up (ERR_INVALID_OPTION) if the grammar cannot supply enough distinct held-out sentences.
 */
export function heldOut(train: ReadonlySet<string>, evalSize: number, seed: number): GrammarExample[] {
  return heldOutFrom(train, evalSize, evalSeed(seed), "evalSize");
}

/**
 * The gate set of a corpus: `size` examples from `gateSeed(seed)`, skipping sentences of `train` (the corpus of
 * `seed`). Gives up (ERR_INVALID_OPTION) like `heldOut`.
 */
export function gateSet(train: ReadonlySet<string>, size: number, seed: number): GrammarExample[] {
  return heldOutFrom(train, size, gateSeed(seed), "size");
}

function heldOutFrom(train: ReadonlySet<string>, evalSize: number, start: number, option: string): GrammarExample[] {
  const out: GrammarExample[] = [];
  const seen = new Set<string>();
  let s = start;
  const batch = Math.max(64, evalSize);
  for (let round = 0; out.length < evalSize; round++) {
    if (round >= 64) throw invalidOption(option, "a size the grammar can supply as held-out sentences", evalSize);
    for (const ex of generateCorpus(batch, s)) {
      if (out.length >= evalSize) break;
      if (train.has(ex.text) || seen.has(ex.text)) continue;
      seen.add(ex.text);
      out.push(ex);
    }
    s = (s + 0x9e3779b9) >>> 0;
  }
  return out;
}

/**
 * The model-randomisation sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps", cascading
 * variant): re-initialise the model's blocks from the top down and measure how much the attributions change. A
 * method whose word importances stay the same while the model is destroyed explains the input, not the model.
 *
 * Cascade over a safetensors checkpoint (single file or sharded), blocks found by their Hugging Face names:
 *   - `model.layers.N.` (Llama, Mistral, Qwen2, Qwen3, OLMo 2, Phi-3, Gemma 1-3), `gpt_neox.layers.N.` (GPT-NeoX),
 *     `transformer.h.N.` (GPT-2): top block first;
 *   - `model.decoder.layers.N.`, then `model.encoder.layers.N.` (Marian, BART, M2M100), or `decoder.block.N.`, then
 *     `encoder.block.N.` (T5; block 0 holds the stack's relative position bias, which every block uses): decoder top
 *     to bottom, then encoder top to bottom.
 * Step k (k = 1 .. L) re-initialises the top k blocks ("top k"; step L is "all blocks"); the last step also
 * re-initialises every tensor outside the blocks (embeddings, positional embeddings, final norm, LM head):
 * "all + embeddings". L + 1 steps in all.
 *
 * Re-initialisation: each tensor of a randomised block gets values drawn from a normal distribution with the
 * tensor's own mean and (population) standard deviation, from a xoshiro128** stream seeded by (seed, tensor name),
 * stored in the tensor's dtype (F32, F16, BF16 round to nearest even, F64). So a tensor gets the same values at
 * every step that randomises it (the cascade is nested) and in every run with the same seed. A constant tensor
 * (e.g. an untrained norm weight of ones) stays constant. Shape, dtype and names are kept: the directory loads as
 * the original does.
 *
 * Tensors of other dtypes are kept outside the blocks (buffers such as position ids) and refused inside them
 * (quantised weights: ERR_UNSUPPORTED_MODEL).
 *
 * Each step is written from the previous one: the weight files holding the step's new tensors are copied
 * (reflinked where the file system can) and only those tensors rewritten; the other files are hard links (copies
 * across file systems), config and tokenizer files are copied. So the whole cascade re-initialises each tensor
 * once. `cascadingRandomizations` keeps one step on disk at a time (while it writes the next: that step's touched
 * shards once more); `writeCascadingRandomizations` keeps them all.
 */
import { constants as fsConstants } from "node:fs";
import { copyFile, link, mkdir, mkdtemp, open, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { abortError, ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { loadModel, resolveDir, type AnyModel, type LoadModelOptions } from "../models/load-model.js";
import { BUNDLE_SIDECAR } from "../models/model-kind.js";
import { FLOAT_DTYPE_BYTES, readCheckpointTensors, WEIGHTS, WEIGHTS_INDEX, type CheckpointTensor } from "./checkpoint-tensors.js";
import { spearman } from "./spearman.js";
import { randomizeTensor } from "./tensor-rewrite.js";
import type { EvalItem, RandomizationStep } from "./types.js";

/** One randomised model directory of the cascade. */
export interface RandomizedModelDir {
  /** "top 1", "top 2", ..., "all blocks", "all + embeddings" (RandomizationStep.randomized). */
  randomized: string;
  /** Number of randomised blocks (L at the last two steps). */
  blocks: number;
  /** The model directory (config, tokenizer and weights). */
  dir: string;
}

export interface RandomizeOptions {
  /** Seed of the re-initialisation (default 0). */
  seed?: number;
  /** Parent folder of the step directories (default: a new folder under the OS temp dir). */
  outDir?: string;
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------------------------------------------

const BLOCK_PATTERNS: ReadonlyArray<{ stack: string; re: RegExp }> = [
  { stack: "decoder", re: /^(?:model\.)?decoder\.(?:layers|block)\.(\d+)\./ },
  { stack: "encoder", re: /^(?:model\.)?encoder\.(?:layers|block)\.(\d+)\./ },
  { stack: "layers", re: /^(?:model\.|gpt_neox\.)?layers\.(\d+)\./ },
  { stack: "h", re: /^(?:transformer\.)?h\.(\d+)\./ },
];
/** Order of the stacks in the cascade: the decoder's blocks before the encoder's. */
const STACK_ORDER = ["layers", "h", "decoder", "encoder"];

/** The block of a tensor name ("decoder.5", "layers.31", "h.11"), or null for tensors outside the blocks. */
export function blockOf(name: string): string | null {
  for (const { stack, re } of BLOCK_PATTERNS) {
    const m = re.exec(name);
    if (m) return `${stack}.${Number(m[1])}`;
  }
  return null;
}

/** The blocks of a checkpoint in cascade order (top block of the first stack first). */
export function cascadeBlocks(names: readonly string[]): string[] {
  const byStack = new Map<string, Set<number>>();
  for (const n of names) {
    const b = blockOf(n);
    if (!b) continue;
    const [stack, index] = b.split(".") as [string, string];
    if (!byStack.has(stack)) byStack.set(stack, new Set());
    byStack.get(stack)!.add(Number(index));
  }
  const out: string[] = [];
  for (const stack of STACK_ORDER) {
    const indices = [...(byStack.get(stack) ?? [])].sort((a, b) => b - a);
    for (const i of indices) out.push(`${stack}.${i}`);
  }
  return out;
}

/** The steps of the cascade: which blocks each randomises, and whether it also randomises everything else. */
export function cascadeSteps(blocks: readonly string[]): Array<{ randomized: string; blocks: number; all: boolean }> {
  const L = blocks.length;
  const steps = blocks.map((_, k) => ({ randomized: k + 1 === L ? "all blocks" : `top ${k + 1}`, blocks: k + 1, all: false }));
  steps.push({ randomized: "all + embeddings", blocks: L, all: true });
  return steps;
}

// ---------------------------------------------------------------------------------------------------------------
// Model directories
// ---------------------------------------------------------------------------------------------------------------

/** Files never copied into a step directory: weights of other formats. */
const OTHER_WEIGHTS = /\.(bin|pt|pth|h5|msgpack|ckpt|onnx|gguf|safetensors)$/i;

interface Plan {
  dir: string;
  files: string[];
  tensors: CheckpointTensor[];
  blocks: string[];
  /** The other files of the model directory (config, tokenizer, generation config...). */
  companions: string[];
}

/** Reads what the cascade needs of `modelDir`, refusing what it cannot randomise (ERR_UNSUPPORTED_MODEL). */
async function planOf(modelDir: string): Promise<Plan> {
  const entries = await readdir(modelDir, { withFileTypes: true }).catch((cause: unknown) => {
    throw new InseqError(ErrorCode.NOT_FOUND, `Model directory not found: ${modelDir}`, { cause });
  });
  if (entries.some((e) => e.name === BUNDLE_SIDECAR)) {
    throw new InseqError(
      ErrorCode.UNSUPPORTED_MODEL,
      `${modelDir} is a TorchScript bundle: its weights are inside a compiled program, so the randomisation check ` +
        "cannot re-initialise its blocks. Run it on the Hugging Face safetensors checkpoint the bundle was made from.",
    );
  }
  const { files, tensors } = await readCheckpointTensors(modelDir);
  const blocks = cascadeBlocks(tensors.map((t) => t.name));
  if (blocks.length === 0) {
    const sample = tensors.slice(0, 3).map((t) => t.name).join(", ");
    throw new InseqError(
      ErrorCode.UNSUPPORTED_MODEL,
      `No transformer blocks found in the checkpoint of ${modelDir} (tensors such as ${sample}): the randomisation check ` +
        'knows the Hugging Face block names "model.layers.N." (Llama, Mistral, Qwen2, Qwen3, OLMo 2, Phi-3, Gemma), "gpt_neox.layers.N." (GPT-NeoX), "transformer.h.N." (GPT-2) and ' +
        '"model.decoder.layers.N." / "model.encoder.layers.N." (Marian, BART), "decoder.block.N." / "encoder.block.N." (T5)',
    );
  }
  // Non-float tensors in a block are quantised weights, which re-initialising as floats would not randomise;
  // outside the blocks they are buffers (position ids) and are kept.
  const quantised = tensors.find((t) => blockOf(t.name) !== null && FLOAT_DTYPE_BYTES[t.dtype] === undefined);
  if (quantised) {
    throw new InseqError(
      ErrorCode.UNSUPPORTED_MODEL,
      `Tensor ${quantised.name} of ${path.join(modelDir, quantised.file)} has dtype ${quantised.dtype} (quantised?): the randomisation ` +
        "check re-initialises F32, F16, BF16 and F64 weights only",
    );
  }
  const weightFiles = new Set([...files, WEIGHTS, WEIGHTS_INDEX]);
  const companions = entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !weightFiles.has(e.name) && !OTHER_WEIGHTS.test(e.name))
    .map((e) => e.name);
  if (files.length > 1 || !files.includes(WEIGHTS)) companions.push(WEIGHTS_INDEX);
  return { dir: modelDir, files, tensors, blocks, companions };
}

/** Hard link, else copy (across file systems, or where links are refused). */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to, fsConstants.COPYFILE_FICLONE);
  }
}

/**
 * Writes one step of the cascade into `dir` (created) from the weight files of `base` (the previous step, or the
 * original model): the files holding a tensor of `fresh` (this step's new tensors) are copied and those tensors
 * rewritten; the other files are hard links to `base`'s. Each tensor's moments are those of the original values,
 * since a tensor is re-initialised at the first step that randomises it and carried over afterwards.
 */
async function writeStep(plan: Plan, base: string, dir: string, fresh: readonly CheckpointTensor[], seed: number, signal?: AbortSignal): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of plan.companions) await copyFile(path.join(plan.dir, f), path.join(dir, f));
  for (const file of plan.files) {
    const from = path.join(base, file);
    const to = path.join(dir, file);
    await mkdir(path.dirname(to), { recursive: true });
    const chosen = fresh.filter((t) => t.file === file);
    if (chosen.length === 0) {
      await linkOrCopy(from, to);
      continue;
    }
    await copyFile(from, to, fsConstants.COPYFILE_FICLONE);
    const fh = await open(to, "r+");
    try {
      for (const t of chosen) {
        if (signal?.aborted) throw abortError(signal);
        await randomizeTensor(fh, t, seed, signal);
      }
    } finally {
      await fh.close();
    }
  }
}

/** The tensors each step re-initialises first: the step's new block, and at the last step everything outside the blocks. */
function freshTensors(plan: Plan): CheckpointTensor[][] {
  const floats = plan.tensors.filter((t) => FLOAT_DTYPE_BYTES[t.dtype] !== undefined);
  return cascadeSteps(plan.blocks).map((step) =>
    step.all ? floats.filter((t) => blockOf(t.name) === null) : floats.filter((t) => blockOf(t.name) === plan.blocks[step.blocks - 1]));
}

function checkSeed(seed: unknown): number {
  if (seed === undefined) return 0;
  if (typeof seed !== "number" || !Number.isInteger(seed)) throw invalidOption("seed", "an integer", seed);
  return seed;
}

/**
 * The cascade one step at a time (peak disk: one model copy): each yielded directory exists until the consumer
 * asks for the next step (or stops iterating), then it is deleted; the parent folder is deleted at the end when
 * this created it (no `outDir`). Throws ERR_UNSUPPORTED_MODEL for TorchScript bundles, checkpoints without
 * safetensors, without known block names or with non-float tensors in a block.
 */
export async function* cascadingRandomizations(modelDir: string, options: RandomizeOptions = {}): AsyncGenerator<RandomizedModelDir, void, undefined> {
  const seed = checkSeed(options.seed);
  yield* stepsOf(await planOf(modelDir), seed, options);
}

async function* stepsOf(plan: Plan, seed: number, options: RandomizeOptions): AsyncGenerator<RandomizedModelDir, void, undefined> {
  const parent = options.outDir ?? (await mkdtemp(path.join(os.tmpdir(), "inseq-randomized-")));
  const steps = cascadeSteps(plan.blocks);
  const fresh = freshTensors(plan);
  let previous: string | null = null;
  let current: string | null = null;
  try {
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k]!;
      if (options.signal?.aborted) throw abortError(options.signal);
      current = path.join(parent, stepDirName(k));
      await rm(current, { recursive: true, force: true });
      await writeStep(plan, previous ?? plan.dir, current, fresh[k]!, seed, options.signal);
      if (previous) await rm(previous, { recursive: true, force: true });
      previous = current;
      yield { randomized: step.randomized, blocks: step.blocks, dir: current };
    }
  } finally {
    for (const d of [previous, current]) if (d) await rm(d, { recursive: true, force: true });
    if (options.outDir === undefined) await rm(parent, { recursive: true, force: true });
  }
}

/** "step-01", "step-02", ... */
function stepDirName(k: number): string {
  return `step-${String(k + 1).padStart(2, "0")}`;
}

/**
 * Every step of the cascade written at once (L + 1 directories under `outDir`, default a new temp folder), kept
 * on disk: the caller deletes them. Disk: up to L + 1 copies of the model; prefer `cascadingRandomizations` for
 * large models.
 */
export async function writeCascadingRandomizations(modelDir: string, options: RandomizeOptions = {}): Promise<RandomizedModelDir[]> {
  const seed = checkSeed(options.seed);
  const plan = await planOf(modelDir);
  const parent = options.outDir ?? (await mkdtemp(path.join(os.tmpdir(), "inseq-randomized-")));
  const out: RandomizedModelDir[] = [];
  const steps = cascadeSteps(plan.blocks);
  const fresh = freshTensors(plan);
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k]!;
    if (options.signal?.aborted) throw abortError(options.signal);
    const dir = path.join(parent, stepDirName(k));
    await writeStep(plan, out.at(-1)?.dir ?? plan.dir, dir, fresh[k]!, seed, options.signal);
    out.push({ randomized: step.randomized, blocks: step.blocks, dir });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------------------------

/**
 * Word importances of `items` under `model`, one row per item (the evaluation runner attributes them); `signal` is
 * the check's, to pass on to attribute().
 */
export type WordScoresFn = (model: AnyModel, items: EvalItem[], signal?: AbortSignal) => Promise<number[][]>;

export interface RandomizationCheckOptions extends RandomizeOptions {
  /** Called after each step with the step's result and the number of steps. */
  onStep?: (step: RandomizationStep, index: number, total: number) => void;
}

/** Mean over items of Spearman's rho between each item's scores and its original scores (spearman.ts). */
export function meanSpearman(scores: ReadonlyArray<ArrayLike<number>>, original: ReadonlyArray<ArrayLike<number>>): number {
  if (scores.length !== original.length) throw invalidOption("word scores", `${original.length} rows (one per item)`, `${scores.length} rows`);
  if (scores.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += spearman(scores[i]!, original[i]!);
  return sum / scores.length;
}

/**
 * The cascading model-randomisation check: for each step of the cascade (top 1, top 2, ..., all blocks, all +
 * embeddings), loads the randomised model with `loadOptions` (device, dtype), computes the items' word scores with
 * `wordScores`, and reports the mean Spearman correlation with `original` (the trained model's word scores of the
 * same items). The model is disposed and its directory deleted before the next step (one model on disk and in
 * memory at a time). `modelDir` is what loadModel takes (a directory, "default" or a hub id already in the cache).
 * Abortable with `options.signal` (ERR_ABORTED).
 */
export async function randomizationCheck(
  modelDir: string,
  loadOptions: Pick<LoadModelOptions, "device" | "dtype" | "offline" | "revision" | "cacheDir">,
  items: EvalItem[],
  wordScores: WordScoresFn,
  original: number[][],
  options: RandomizationCheckOptions = {},
): Promise<RandomizationStep[]> {
  if (original.length !== items.length) throw invalidOption("original", `${items.length} rows of word scores (one per item)`, `${original.length} rows`);
  const seed = checkSeed(options.seed);
  const plan = await planOf(await resolveDir(modelDir, { ...loadOptions, offline: loadOptions.offline ?? true }));
  const out: RandomizationStep[] = [];
  const total = plan.blocks.length + 1;
  for await (const step of stepsOf(plan, seed, options)) {
    const model = await loadModel(step.dir, { device: loadOptions.device, dtype: loadOptions.dtype, signal: options.signal });
    let scores: number[][];
    try {
      scores = await wordScores(model, items, options.signal);
    } finally {
      await model.dispose();
    }
    if (options.signal?.aborted) throw abortError(options.signal);
    const result: RandomizationStep = { randomized: step.randomized, blocks: step.blocks, spearman: meanSpearman(scores, original) };
    out.push(result);
    options.onStep?.(result, out.length - 1, total);
  }
  return out;
}

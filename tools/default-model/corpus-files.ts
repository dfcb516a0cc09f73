/**
 * The corpus writer of the default model: train.txt, eval.jsonl (ground truth), README.md and the tokenizer
 * files in one folder, which scripts/train-default-model.mjs then trains on and turns into models/default/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCode, InseqError, invalidOption } from "../../lib/core/errors.js";
import { vocabulary } from "../../lib/default-model/grammar.js";
import { generateCorpus, heldOut, type CorpusOptions } from "./corpus.js";
import { corpusReadme } from "./corpus-readme.js";
import { buildTokenizerFiles } from "./tokenizer-json.js";

function checkCount(name: string, value: unknown, min: number): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalidOption(name, min === 0 ? "a non-negative integer" : "a positive integer", value);
  }
}

/**
 * Writes train.txt, eval.jsonl, README.md, tokenizer.json, tokenizer_config.json and
 * special_tokens_map.json into `dir` (created if missing). Returns the paths of train.txt and eval.jsonl.
 */
export function writeCorpusFiles(dir: string, opts: CorpusOptions): { train: string; eval: string } {
  if (typeof dir !== "string" || dir.length === 0) throw invalidOption("dir", "a directory path", dir);
  if (opts == null || typeof opts !== "object") throw invalidOption("opts", "an object", opts);
  checkCount("trainSize", opts.trainSize, 1);
  checkCount("evalSize", opts.evalSize, 0);
  if (typeof opts.seed !== "number" || !Number.isSafeInteger(opts.seed)) throw invalidOption("seed", "an integer", opts.seed);

  const train = generateCorpus(opts.trainSize, opts.seed);
  const trainTexts = new Set(train.map((e) => e.text));
  const evalExamples = heldOut(trainTexts, opts.evalSize, opts.seed);
  const vocab = vocabulary();
  const files = buildTokenizerFiles(vocab);

  const root = resolve(dir);
  const trainPath = join(root, "train.txt");
  const evalPath = join(root, "eval.jsonl");
  try {
    mkdirSync(root, { recursive: true });
    writeFileSync(trainPath, train.map((e) => `${e.text}\n`).join(""));
    writeFileSync(evalPath, evalExamples.map((e) => `${JSON.stringify(e)}\n`).join(""));
    writeFileSync(join(root, "README.md"), corpusReadme(vocab.length, opts));
    writeFileSync(join(root, "tokenizer.json"), `${JSON.stringify(files.tokenizerJson, null, 2)}\n`);
    writeFileSync(join(root, "tokenizer_config.json"), `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);
    writeFileSync(join(root, "special_tokens_map.json"), `${JSON.stringify(files.specialTokensMap, null, 2)}\n`);
  } catch (cause) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a writable directory for dir but received ${JSON.stringify(dir)}`, { cause });
  }
  return { train: trainPath, eval: evalPath };
}

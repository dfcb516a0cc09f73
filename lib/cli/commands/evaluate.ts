import { Command, Option } from "commander";

import { writeFileAtomic } from "../../core/atomic-write.js";
import { ErrorCode, InseqError, invalidOption } from "../../core/errors.js";
import { evaluate } from "../../evaluation/evaluate.js";
import { formatEvaluationTable } from "../../evaluation/report-table.js";
import { renderEvaluationHtml } from "../../evaluation/report-html.js";
import { loadEvaluationReport, saveEvaluationReport } from "../../evaluation/report-json.js";
import { openEvalSet } from "../../evaluation/sets/index.js";
import { isContrastive } from "../../evaluation/word-scores.js";
import { BASELINES, REPLACEMENTS, type BaselineId, type EvaluateOptions, type EvaluationReport, type MethodSpec, type Replacement } from "../../evaluation/types.js";
import { loadModel, type DeviceOption } from "../../models/load-model.js";
import { detectTerminalColor } from "../../viz/terminal.js";
import { parseMethodList, parseMethodSpecJson } from "../method-spec.js";
import { trustRemoteCodeOption } from "../model-options.js";
import { intOption, numberOption } from "../parse.js";
import { ProgressBar } from "../progress.js";
import { widthOption } from "../terminal-options.js";

/**
 * Methods evaluated when neither --methods nor --method-spec is given: the cheap gradient methods, integrated
 * gradients, attention, and contrastive saliency (the best plausibility measured in docs/evaluation.md; dropped
 * for sets whose items have no alternatives to contrast with).
 */
export const DEFAULT_CLI_METHODS = "saliency,saliency+contrast_logits_diff,input_x_gradient,integrated_gradients,attention";

/** The evaluation flags of `inseq evaluate`, as commander parses them (strings for the lists). */
export interface EvaluateFlags {
  /** Comma-separated method specs, or "none". */
  methods?: string;
  /** Whole MethodSpec objects as JSON, one per --method-spec. */
  methodSpec?: string[];
  /** Comma-separated baseline ids, or "none". */
  baselines?: string;
  replacement?: string;
  /** Comma-separated k, e.g. "1,2". */
  k?: string;
  aopcMaxK?: number;
  /** false with --no-faithfulness. */
  faithfulness?: boolean;
  verifiedOnly?: boolean;
  limit?: number;
  randomization?: boolean;
  randomizationItems?: number;
  completenessThreshold?: number;
  seed?: number;
  batchSize?: number;
  includeItems?: boolean;
}

const positiveInt = (flag: string, v: number | undefined) => {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw invalidOption(flag, "a positive integer", v);
  return v;
};

function parseBaselines(text: string): BaselineId[] {
  if (text.trim() === "none") return [];
  return text.split(",").map((s) => {
    const id = s.trim();
    if (!BASELINES.includes(id as BaselineId)) throw invalidOption("--baselines", `"none" or a comma-separated list of ${BASELINES.join(", ")}`, id);
    return id as BaselineId;
  });
}

function parseKs(text: string): number[] {
  const ks = text.split(",").map((s) => Number(s.trim()));
  for (const k of ks) if (!(Number.isInteger(k) && k >= 1)) throw invalidOption("--k", "comma-separated positive integers (e.g. 1,2)", text);
  return [...new Set(ks)].sort((a, b) => a - b);
}

/**
 * The `evaluate()` options from the command's flags, checked before any model loads: method specs parsed and
 * their ids checked against the registry (`parseMethodList`, `parseMethodSpecJson`), lists split, numbers
 * checked. Flags not given are left out, so evaluate()'s defaults apply — except the methods, which default to
 * `DEFAULT_CLI_METHODS` when neither --methods nor --method-spec is given. Throws ERR_INVALID_OPTION (or
 * ERR_UNKNOWN_OPTION for an unknown method option) naming the flag.
 *
 * @example
 * evaluateOptionsFromFlags({ methods: "integrated_gradients:nSteps=64", k: "1,3", faithfulness: true });
 * // { methods: [{ method: "integrated_gradients", methodArgs: { nSteps: 64 } }], k: [1, 3] }
 */
export function evaluateOptionsFromFlags(flags: EvaluateFlags): EvaluateOptions {
  const fromJson = (flags.methodSpec ?? []).map(parseMethodSpecJson);
  const listed = flags.methods !== undefined ? parseMethodList(flags.methods) : fromJson.length > 0 ? [] : parseMethodList(DEFAULT_CLI_METHODS);
  const methods: MethodSpec[] = [...listed, ...fromJson];
  const options: EvaluateOptions = { methods };
  if (flags.baselines !== undefined) options.baselines = parseBaselines(flags.baselines);
  if (methods.length === 0 && options.baselines?.length === 0) {
    throw new InseqError(ErrorCode.INVALID_OPTION, "Expected at least one method or baseline but --methods and --baselines are both none");
  }
  if (flags.replacement !== undefined) {
    if (!REPLACEMENTS.includes(flags.replacement as Replacement)) throw invalidOption("--replacement", `one of ${REPLACEMENTS.join(", ")}`, flags.replacement);
    options.replacement = flags.replacement as Replacement;
  }
  if (flags.k !== undefined) options.k = parseKs(flags.k);
  if (flags.aopcMaxK !== undefined) options.aopcMaxK = positiveInt("--aopc-max-k", flags.aopcMaxK);
  if (flags.faithfulness === false) options.faithfulness = false;
  if (flags.verifiedOnly) options.verifiedOnly = true;
  if (flags.limit !== undefined) options.limit = positiveInt("--limit", flags.limit);
  positiveInt("--randomization-items", flags.randomizationItems);
  if (flags.randomizationItems !== undefined && !flags.randomization) {
    throw new InseqError(ErrorCode.INVALID_OPTION, "--randomization-items needs --randomization");
  }
  if (flags.randomization) options.randomization = flags.randomizationItems !== undefined ? { items: flags.randomizationItems } : true;
  if (flags.completenessThreshold !== undefined) {
    if (!(flags.completenessThreshold > 0)) throw invalidOption("--completeness-threshold", "a positive number", flags.completenessThreshold);
    options.completenessThreshold = flags.completenessThreshold;
  }
  if (flags.seed !== undefined) {
    if (!Number.isInteger(flags.seed)) throw invalidOption("--seed", "an integer", flags.seed);
    options.seed = flags.seed;
  }
  if (flags.batchSize !== undefined) options.batchSize = positiveInt("--batch-size", flags.batchSize);
  if (flags.includeItems) options.includeItems = true;
  return options;
}

/** The flags that configure a new evaluation, refused with --from-json (which only re-renders). */
const EVALUATION_FLAGS: Record<string, string> = {
  model: "--model", set: "--set", methods: "--methods", methodSpec: "--method-spec", baselines: "--baselines",
  replacement: "--replacement", k: "--k", aopcMaxK: "--aopc-max-k", faithfulness: "--no-faithfulness",
  verifiedOnly: "--verified-only", limit: "--limit", randomization: "--randomization",
  randomizationItems: "--randomization-items", completenessThreshold: "--completeness-threshold", seed: "--seed",
  batchSize: "--batch-size", includeItems: "--include-items", device: "--device", offline: "--offline",
  trustRemoteCode: "--trust-remote-code",
};

/** Table to stdout, then the --json and --html files (atomic writes). */
async function output(report: EvaluationReport, opts: { color?: boolean; width?: number; json?: string; html?: string; quiet?: boolean }): Promise<void> {
  const color = opts.color ?? detectTerminalColor(process.stdout, process.env) !== "none";
  const width = opts.width ?? (process.stdout.isTTY ? process.stdout.columns : undefined);
  if (!opts.quiet) process.stdout.write(formatEvaluationTable(report, { color, width }));
  if (opts.json) await saveEvaluationReport(report, opts.json);
  if (opts.html) await writeFileAtomic(opts.html, renderEvaluationHtml(report));
}

export function makeEvaluateCommand(): Command {
  const repeat = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
  return new Command("evaluate")
    .description("evaluate attribution methods against ground truth (plausibility, faithfulness, sanity checks) and print the comparison")
    .option("-m, --model <id>", 'model directory, hub id, or "default" (the bundled model)', "default")
    .option("--set <spec>", 'evaluation set: "grammar", "grammar:DIR", "winomt:PATH", "winomt-pro:PATH", "winomt-anti:PATH", "transliteration", or a .jsonl file', "grammar")
    .option(
      "--methods <list>",
      `comma-separated method specs method[+attributedFn][:key=value;key=value], e.g. integrated_gradients:nSteps=64 or saliency+contrast_logits_diff; values are JSON when they parse; "none" for baselines only (default: ${DEFAULT_CLI_METHODS}, unless --method-spec is given)`,
    )
    .option("--method-spec <json>", 'a whole method spec as JSON, e.g. \'{"method": "lime", "methodArgs": {"nSamples": 200}, "label": "lime-200"}\' (repeatable; added after --methods; default: none)', repeat)
    .option("--baselines <list>", `comma-separated baselines among ${BASELINES.join(", ")}, or "none" (default: all four)`)
    .addOption(new Option("--replacement <how>", 'replacement of removed words in the faithfulness metrics (default: counterfactual when every item has counterfactuals, else unk)').choices([...REPLACEMENTS]))
    .option("--k <list>", "comma-separated k of comprehensiveness, sufficiency and decision flip (default: 1,2)")
    .option("--aopc-max-k <n>", "AOPC averages over k = 1 .. min(n, words) (default: 5)", intOption)
    .option("--no-faithfulness", "plausibility only: skip the perturbation metrics (default: faithfulness computed)")
    .option("--verified-only", "evaluate only the items whose evidence is causally verified (default: all items; the report also gives the verified subset)")
    .option("--limit <n>", "only the first n items, after --verified-only (default: all)", intOption)
    .option("--randomization", "model-randomisation sanity check: re-initialise blocks from the top and compare attributions (default: off; loads one model per layer)")
    .option("--randomization-items <n>", "items attributed per randomised model (with --randomization; default: 32)", intOption)
    .option("--completeness-threshold <x>", "IG completeness: warn when more than 5% of items have a relative |delta| above x (default: 0.05)", numberOption)
    .option("--seed <n>", "seed of the random baseline and the randomisation (default: 0)", intOption)
    .option("--bs, --batch-size <n>", "items per attribute() call (default: 32)", intOption)
    .option("--include-items", "keep the per-item records (word scores, ranks, perturbation results) in the JSON report (default: off)")
    .option("--json <file>", "write the report as JSON, atomically; re-render it later with --from-json (default: not written)")
    .option("--html <file>", "write the report as a self-contained HTML page with tables and bar charts, atomically (default: not written)")
    .option("--from-json <file>", "only re-render a saved JSON report (table, --html, --json); no model is loaded (default: run a new evaluation)")
    .option("--color", "bold / dimmed table (default: when stdout is a colour terminal; NO_COLOR and FORCE_COLOR are honoured)")
    .option("--no-color", "plain table: the best value per column is marked * (default: see --color)")
    .addOption(widthOption())
    .option("-q, --quiet", "do not print the table (default: printed)")
    .addOption(new Option("--device <device>", "device: auto, cpu, cuda or cuda:N").default("auto"))
    .option("--offline", "never touch the network (also HF_HUB_OFFLINE=1; default: online)")
    .addOption(trustRemoteCodeOption())
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  inseq evaluate --methods saliency,integrated_gradients:nSteps=64 --json eval.json --html eval.html",
        "  inseq evaluate --set winomt-anti:path/to/winomt -m path/to/decoder-only-lm --methods saliency+contrast_logits_diff",
        "  inseq evaluate --method-spec '{\"method\": \"lime\", \"methodArgs\": {\"nSamples\": 200}}' --baselines random,oracle",
        "  inseq evaluate --from-json eval.json --html eval.html",
      ].join("\n"),
    )
    .action(async (opts, cmd: Command) => {
      if (opts.width !== undefined && !(opts.width > 0)) throw invalidOption("--width", "a positive integer", opts.width);
      if (opts.fromJson !== undefined) {
        const given = Object.keys(EVALUATION_FLAGS).filter((k) => cmd.getOptionValueSource(k) === "cli");
        if (given.length > 0) {
          throw new InseqError(ErrorCode.INVALID_OPTION, `--from-json re-renders a saved report; ${given.map((k) => EVALUATION_FLAGS[k]).join(", ")} would configure a new evaluation`);
        }
        await output(await loadEvaluationReport(opts.fromJson), opts);
        return;
      }
      // Everything that can fail without the model, first.
      const options = evaluateOptionsFromFlags(opts as EvaluateFlags);
      const model = await loadModel(opts.model, { device: opts.device as DeviceOption, offline: opts.offline, trustRemoteCode: opts.trustRemoteCode });
      let report: EvaluationReport;
      try {
        const set = await openEvalSet(opts.set, { model });
        if (opts.methods === undefined && (opts.methodSpec ?? []).length === 0 && set.items.some((i) => i.alternatives.length === 0)) {
          options.methods = (options.methods as MethodSpec[]).filter((m) => !isContrastive(m));  // nothing to contrast with
        }
        const bar = new ProgressBar("evaluating");
        report = await evaluate(model, set, { ...options, onProgress: (done, total, label) => bar.update(done, total, "items", label) });
        bar.done();
      } finally {
        await model.dispose();
      }
      await output(report, opts);
    });
}

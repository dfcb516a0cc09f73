import { existsSync } from "node:fs";
import { Command, Option } from "commander";

import { writeFileAtomic } from "../../core/atomic-write.js";
import { ErrorCode, InseqError } from "../../core/errors.js";
import type { Model } from "../../models/model.js";
import { getMethod, listFeatureAttributionMethods, listStepFunctions, STEP_ARG_NAMES } from "../../attribution/registry.js";
import type { AttributeOptions } from "../../attribution/attribute.js";
import { loadModel, type DeviceOption } from "../../models/load-model.js";
import { camel, generationKwargsOption, intOption, jsonOption, unknownKey } from "../parse.js";
import { ProgressBar } from "../progress.js";
import { colorOption, pageOption, pageRowsOption, pagingSettings, terminalSettings, topKOption, widthOption } from "../terminal-options.js";
import { loadKwargs, modelKwargsOption, tokenizerKwargsOption, trustRemoteCodeOption } from "../model-options.js";
import { describeModel, describeOptions, logger, verbosity, verbosityOptions, VERBOSITY_ALIASES } from "../verbosity.js";
import { acceptInseqSpellings, ATTRIBUTE_ALIASES } from "../inseq-aliases.js";
import { applySaveAggregation, granularFor, saveAggregation, saveAggregationOptions } from "../save-aggregation.js";

const STEP_KEYS: readonly string[] = STEP_ARG_NAMES;
const TOP_LEVEL_KEYS = ["contrastTargets", "contrastTargetsAlignments", "contrastForceInputs", "contrastSources", "granular", "memoryBudgetMb", "memoryBudget", "gradientCheckpointing", "baselineIds"];

/**
 * Rejects --attribution-kwargs keys that neither `method` nor the step functions take, naming each key as written
 * (snake_case or camelCase), with the nearest valid key.
 */
export function checkAttributionKwargs(kwargs: Record<string, unknown>, method: string): void {
  const methodKeys = getMethod(method).options;
  const where = `--attribution-kwargs for ${method}`;
  for (const [key, value] of Object.entries(kwargs)) {
    const k = camel(key);
    if (k === "attributionArgs" && value && typeof value === "object" && !Array.isArray(value)) {
      for (const k2 of Object.keys(value)) if (!methodKeys.includes(camel(k2))) throw unknownKey(k2, `${key} of ${where}`, methodKeys);
    } else if (!methodKeys.includes(k) && !STEP_KEYS.includes(k) && !TOP_LEVEL_KEYS.includes(k)) {
      throw unknownKey(key, where, [...methodKeys, ...STEP_KEYS, ...TOP_LEVEL_KEYS, "attributionArgs"]);
    }
  }
}

/**
 * Splits --attribution-kwargs as Inseq routes them: method args, step-function args, contrast and position
 * options. With `method`, unknown keys are refused first (`checkAttributionKwargs`).
 */
export function routeAttributionKwargs(kwargs: Record<string, unknown>, method?: string): Partial<AttributeOptions> {
  if (method !== undefined) checkAttributionKwargs(kwargs, method);
  const out: Partial<AttributeOptions> & { methodArgs: Record<string, unknown>; stepScoresArgs: Record<string, unknown>; attributedFnArgs: Record<string, unknown> } = {
    methodArgs: {}, stepScoresArgs: {}, attributedFnArgs: {},
  };
  const stepKeys = new Set(STEP_KEYS);
  const topLevel = new Set(TOP_LEVEL_KEYS);
  for (const [key, value] of Object.entries(kwargs)) {
    const k = camel(key);
    if (k === "attributionArgs" && value && typeof value === "object") {
      for (const [k2, v2] of Object.entries(value)) out.methodArgs[camel(k2)] = v2;
    } else if (stepKeys.has(k)) {
      out.stepScoresArgs[k] = value;
      out.attributedFnArgs[k] = value;
    } else if (topLevel.has(k)) {
      (out as Record<string, unknown>)[k] = value;
    } else {
      out.methodArgs[k] = value;
    }
  }
  for (const k of ["methodArgs", "stepScoresArgs", "attributedFnArgs"] as const) if (Object.keys(out[k]).length === 0) delete out[k];
  return out;
}

/** Refuses to replace an existing output unless --overwrite (checked before the model loads). */
function checkNewOutput(file: string | undefined, flag: string, overwrite: boolean): void {
  if (file !== undefined && !overwrite && existsSync(file)) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a path that does not exist (or --overwrite) for ${flag} but received ${JSON.stringify(file)}: the file already exists`);
  }
}

export function makeAttributeCommand(): Command {
  const cmd = new Command("attribute")
    .description("attribute generated (or forced) tokens to their inputs and show the heatmap")
    .option("-m, --model <id>", "model directory, hub id, or \"default\" (the bundled model)", "default")
    .addOption(new Option("-a, --attribution-method <id>", "attribution method").choices(listFeatureAttributionMethods()).default("saliency"))
    .requiredOption("-i, --input-texts <texts...>", "prompts to attribute")
    .option("-g, --generated-texts <texts...>", "forced targets (decoder-only: each starts with its prompt; encoder-decoders: the target texts); omit to generate")
    .addOption(new Option("--step-scores <ids...>", "step functions computed at every step").choices(listStepFunctions()))
    .addOption(new Option("--attributed-fn <id>", "step function to attribute (default: the method's, probability; logit for attn_lrp, cp_lrp and alti_logit)").choices(listStepFunctions()))
    .option("--attribution-kwargs <json>", "method / step-function options as JSON, e.g. '{\"n_steps\": 100}'", jsonOption)
    .option("--generation-kwargs <json>", "generation options as JSON, e.g. '{\"max_new_tokens\": 10}'", generationKwargsOption)
    .option("--output-step-attributions", "also keep per-step outputs (as Inseq, they are not saved)", false)
    .option("--bs, --batch-size <n>", "inputs per native job (default: all)", intOption)
    .option("-s, --attr-pos-start <n>", "first target position to attribute", intOption)
    .option("-e, --attr-pos-end <n>", "last target position (exclusive)", intOption)
    .option("--eos, --include-eos-baseline", "replace EOS by UNK in the baseline too", false)
    .option("--attribute-target", "encoder-decoders: also attribute the target prefix", false)
    .option("--generate-from-target-prefix", "encoder-decoders: generate continuing the --generated-texts prefixes", false)
    .option("-o, --save-path <file>", "save the output as Inseq JSON (.json, or .json.gz compressed)")
    .option("--viz-path <file>", "write the HTML heatmap to this file")
    .option("--overwrite", "replace existing --save-path / --viz-path files", false)
    .option("--hide, --hide-attributions", "do not print the heatmap", false)
    .addOption(colorOption())
    .addOption(widthOption())
    .addOption(pageOption())
    .addOption(pageRowsOption())
    .addOption(topKOption())
    .addOption(new Option("--device <device>", "device").default("auto"))
    .option("--offline", "never touch the network (also HF_HUB_OFFLINE=1)")
    .addOption(modelKwargsOption())
    .addOption(tokenizerKwargsOption())
    .addOption(trustRemoteCodeOption())
    .action(async (opts) => {
      // Everything that can fail without the model, first.
      const aggregation = saveAggregation(opts);
      if (aggregation && !opts.savePath) process.stderr.write("inseq: --attribution-aggregators apply to what --save-path saves; nothing is saved (as in Inseq)\n");
      const load = loadKwargs(opts.modelKwargs, opts.tokenizerKwargs);
      checkNewOutput(opts.savePath, "--save-path", opts.overwrite);
      checkNewOutput(opts.vizPath, "--viz-path", opts.overwrite);
      const kwargs = routeAttributionKwargs(opts.attributionKwargs ?? {}, opts.attributionMethod);
      const gen = opts.generationKwargs ? Object.fromEntries(Object.entries(opts.generationKwargs).map(([k, v]) => [camel(k), v])) : undefined;
      const log = logger(verbosity(opts));
      const loadStart = performance.now();
      const model = await loadModel(opts.model, { ...load, device: opts.device as DeviceOption, offline: opts.offline, trustRemoteCode: opts.trustRemoteCode });
      log.info(describeModel(model.info, performance.now() - loadStart));
      try {
        const bar = new ProgressBar(`attributing with ${opts.attributionMethod}`);
        const encDec = model.info.isEncoderDecoder;
        if (!encDec && (opts.attributeTarget || opts.generateFromTargetPrefix)) {
          throw new InseqError(ErrorCode.INVALID_OPTION, "--attribute-target and --generate-from-target-prefix are for encoder-decoder models");
        }
        // Both kinds share these options; the encoder-decoder ones are only passed to Seq2SeqModel.attribute.
        const attributeOptions = {
          ...(encDec ? { attributeTarget: opts.attributeTarget, generateFromTargetPrefix: opts.generateFromTargetPrefix } : {}),
          method: opts.attributionMethod,
          generatedTexts: opts.generatedTexts,
          stepScores: opts.stepScores ?? [],
          attributedFn: opts.attributedFn,
          batchSize: opts.batchSize,
          attrPosStart: opts.attrPosStart,
          attrPosEnd: opts.attrPosEnd,
          includeEosBaseline: opts.includeEosBaseline,
          outputStepAttributions: opts.outputStepAttributions,
          generationArgs: gen,
          ...kwargs,
          ...granularFor(opts.savePath ? aggregation : undefined, opts.attributionMethod, kwargs),
        };
        log.info(`attributing ${opts.inputTexts.length} input${opts.inputTexts.length === 1 ? "" : "s"} with ${opts.attributionMethod}`);
        log.debug(`attribute options: ${describeOptions(attributeOptions)}`);
        const attrStart = performance.now();
        const out = await (model as Model).attribute(opts.inputTexts, { ...attributeOptions, onProgress: (done: number, total: number) => bar.update(done, total, "rows") });
        bar.done();
        log.info(`attributed in ${((performance.now() - attrStart) / 1000).toFixed(2)}s`);
        if (!opts.hideAttributions) process.stdout.write(out.show({ format: "terminal", ...terminalSettings(opts, true), ...pagingSettings(opts) }) + "\n");
        if (opts.vizPath) await writeFileAtomic(opts.vizPath, out.show({ format: "html" }));
        if (opts.savePath) {
          await applySaveAggregation(out, aggregation).save(opts.savePath, { overwrite: opts.overwrite, compress: String(opts.savePath).endsWith(".gz") });
          log.info(`saved ${opts.savePath}`);
        }
      } finally {
        await model.dispose();
      }
    });
  for (const o of [...saveAggregationOptions(), ...verbosityOptions()]) cmd.addOption(o);
  return acceptInseqSpellings(cmd, { ...ATTRIBUTE_ALIASES, ...VERBOSITY_ALIASES });
}

import { writeFile, rename } from "node:fs/promises";
import { Command, Option } from "commander";

import { ErrorCode, InseqError } from "../../core/errors.js";
import type { Model } from "../../models/model.js";
import { listFeatureAttributionMethods, listStepFunctions } from "../../attribution/registry.js";
import type { AttributeOptions } from "../../attribution/attribute.js";
import { loadModel, type DeviceOption } from "../../models/load-model.js";
import { camel, intOption, jsonOption } from "../parse.js";
import { ProgressBar } from "../progress.js";
import { detectTerminalColor } from "../../viz/terminal.js";



/** Splits --attribution-kwargs as Inseq routes them: method args, step-function args, contrast and position options. */
export function routeAttributionKwargs(kwargs: Record<string, unknown>): Partial<AttributeOptions> {
  const out: Partial<AttributeOptions> & { methodArgs: Record<string, unknown>; stepScoresArgs: Record<string, unknown>; attributedFnArgs: Record<string, unknown> } = {
    methodArgs: {}, stepScoresArgs: {}, attributedFnArgs: {},
  };
  const stepKeys = new Set(["logprob", "topP", "topK", "minTokensToKeep", "perplexityBase2", "nMcdSteps"]);
  const topLevel = new Set(["contrastTargets", "contrastTargetsAlignments", "contrastForceInputs", "granular", "memoryBudgetMb", "baselineIds"]);
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

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

export function makeAttributeCommand(): Command {
  return new Command("attribute")
    .description("attribute generated (or forced) tokens to their inputs and show the heatmap")
    .option("-m, --model <id>", "model directory, hub id, or \"default\" (the bundled model)", "default")
    .addOption(new Option("-a, --attribution-method <id>", "attribution method").choices(listFeatureAttributionMethods()).default("saliency"))
    .requiredOption("-i, --input-texts <texts...>", "prompts to attribute")
    .option("-g, --generated-texts <texts...>", "forced targets (decoder-only: each starts with its prompt; encoder-decoders: the target texts); omit to generate")
    .addOption(new Option("--step-scores <ids...>", "step functions computed at every step").choices(listStepFunctions()))
    .addOption(new Option("--attributed-fn <id>", "step function to attribute (default probability)").choices(listStepFunctions()))
    .option("--attribution-kwargs <json>", "method / step-function options as JSON, e.g. '{\"n_steps\": 100}'", jsonOption)
    .option("--generation-kwargs <json>", "generation options as JSON, e.g. '{\"max_new_tokens\": 10}'", jsonOption)
    .option("--bs, --batch-size <n>", "inputs per native job (default: all)", intOption)
    .option("-s, --attr-pos-start <n>", "first target position to attribute", intOption)
    .option("-e, --attr-pos-end <n>", "last target position (exclusive)", intOption)
    .option("--eos, --include-eos-baseline", "replace EOS by UNK in the baseline too", false)
    .option("--attribute-target", "encoder-decoders: also attribute the target prefix", false)
    .option("--generate-from-target-prefix", "encoder-decoders: generate continuing the --generated-texts prefixes", false)
    .option("-o, --save-path <file>", "save the output as Inseq JSON (.json, or .json.gz compressed)")
    .option("--viz-path <file>", "write the HTML heatmap to this file")
    .option("--hide, --hide-attributions", "do not print the heatmap", false)
    .addOption(new Option("--device <device>", "device").default("auto"))
    .option("--offline", "never touch the network (also HF_HUB_OFFLINE=1)")
    .action(async (opts) => {
      const model = await loadModel(opts.model, { device: opts.device as DeviceOption, offline: opts.offline });
      try {
        const gen = opts.generationKwargs ? Object.fromEntries(Object.entries(opts.generationKwargs).map(([k, v]) => [camel(k), v])) : undefined;
        const bar = new ProgressBar(`attributing with ${opts.attributionMethod}`);
        const encDec = model.info.isEncoderDecoder;
        if (!encDec && (opts.attributeTarget || opts.generateFromTargetPrefix)) {
          throw new InseqError(ErrorCode.INVALID_OPTION, "--attribute-target and --generate-from-target-prefix are for encoder-decoder models");
        }
        // Both kinds share these options; the encoder-decoder ones are only passed to Seq2SeqModel.attribute.
        const out = await (model as Model).attribute(opts.inputTexts, {
          ...(encDec ? { attributeTarget: opts.attributeTarget, generateFromTargetPrefix: opts.generateFromTargetPrefix } : {}),
          method: opts.attributionMethod,
          generatedTexts: opts.generatedTexts,
          stepScores: opts.stepScores ?? [],
          attributedFn: opts.attributedFn,
          batchSize: opts.batchSize,
          attrPosStart: opts.attrPosStart,
          attrPosEnd: opts.attrPosEnd,
          includeEosBaseline: opts.includeEosBaseline,
          generationArgs: gen,
          ...routeAttributionKwargs(opts.attributionKwargs ?? {}),
          onProgress: (done, total) => bar.update(done, total, "rows"),
        });
        bar.done();
        if (!opts.hideAttributions) {
          const color = detectTerminalColor(process.stdout, process.env);
          process.stdout.write(out.show({ format: "terminal", color, width: process.stdout.columns }) + "\n");
        }
        if (opts.vizPath) await writeAtomic(opts.vizPath, out.show({ format: "html" }));
        if (opts.savePath) await out.save(opts.savePath, { overwrite: true, compress: String(opts.savePath).endsWith(".gz") });
      } finally {
        await model.dispose();
      }
    });
}

/**
 * `inseq attribute-context`: PECoRe (Python Inseq's command of the same name, same flags in kebab-case or Inseq's
 * snake_case). Prints the terminal view unless --no-show-viz, writes the HTML view to --viz-path and the JSON of
 * Inseq's `AttributeContextOutput.to_dict()` to --save-path.
 */
import { createInterface } from "node:readline/promises";
import { Command, Option } from "commander";

import { listFeatureAttributionMethods, listStepFunctions } from "../../attribution/registry.js";
import { writeFileAtomic } from "../../core/atomic-write.js";
import { ErrorCode, InseqError } from "../../core/errors.js";
import { attributeContextWithDetails } from "../../context/attribute-context.js";
import { CONTEXT_SENSITIVITY_METRICS, OUTPUT_CONTEXT_STRATEGIES, type ConfirmOutputContext, type OutputContextStrategy } from "../../context/types.js";
import { renderContextHtml } from "../../context/views.js";
import { loadModel, type DeviceOption } from "../../models/load-model.js";
import { acceptInseqSpellings, CONTEXT_ALIASES } from "../inseq-aliases.js";
import { loadKwargs, modelKwargsOption, tokenizerKwargsOption, trustRemoteCodeOption } from "../model-options.js";
import { camel, generationKwargsOption, intOption, jsonOption, numberOption } from "../parse.js";
import { ProgressBar } from "../progress.js";
import { colorOption, terminalSettings } from "../terminal-options.js";
import { routeAttributionKwargs } from "./attribute.js";

/** Inseq's `prompt_user_for_context` on a terminal: confirm the candidate, or type the context. */
export const askOutputContext: ConfirmOutputContext = async (output, candidate) => {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(`\nThe model generated the following output: "${output}"\n`);
    for (;;) {
      if (candidate) {
        const yes = (await rl.question(`Is "${candidate}" the correct context you want to attribute? [y/n] `)).trim().toLowerCase();
        if (yes === "y" || yes === "yes") return candidate;
      }
      const typed = await rl.question("Please enter the portion of the generated output representing the correct context: ");
      if (output.startsWith(typed)) return typed;
      process.stderr.write("The provided context is invalid: it must be a prefix of the model output above.\n");
    }
  } finally {
    rl.close();
  }
};

/** Inseq's `prompt_user_for_contextless_output_next_tokens` on a terminal: a word to compare with, or none. */
export async function askContextlessToken(query: { prefix: string; token: string }): Promise<string | null> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(`\nContextual prefix: "${query.prefix}"\n`);
    const yes = (await rl.question(`The token "${query.token}" is produced in the contextual setting. Do you want to specify a word for comparison? [y/n] `)).trim().toLowerCase();
    if (yes !== "y" && yes !== "yes") return null;
    for (;;) {
      const word = await rl.question("Please enter the word to use for comparison with the contextual output: ");
      if (word.trim()) return word;
      process.stderr.write("The provided word is empty. Please provide a non-empty word.\n");
    }
  } finally {
    rl.close();
  }
}

const nullableNumber = (v: string): number | null => (v === "None" || v === "null" ? null : numberOption(v));
const nullableInt = (v: string): number | null => (v === "None" || v === "null" ? null : intOption(v));

export function makeAttributeContextCommand(): Command {
  const cmd = new Command("attribute-context")
    .description("detect the context-sensitive tokens of a generated (or forced) output and attribute them to the input / output context (PECoRe)")
    .option("-m, --model <id>", "model directory, hub id, or \"default\" (the bundled model)", "default")
    .addOption(new Option("-a, --attribution-method <id>", "CCI attribution method").choices(listFeatureAttributionMethods()).default("saliency"))
    .addOption(new Option("--attributed-fn <id>", "CCI attributed step function (default: the method's, probability or logit; contrastive ones compare with the contextless alternative)").choices(listStepFunctions()))
    .option("--attribution-kwargs <json>", "CCI method options as JSON, e.g. '{\"n_steps\": 100}'", jsonOption)
    .option("--generation-kwargs <json>", "generation options as JSON, e.g. '{\"max_new_tokens\": 10}'", generationKwargsOption)
    .requiredOption("--input-current-text <text>", "the current input ({current} of --input-template)")
    .option("--input-context-text <text>", "the input context ({context} of --input-template)")
    .option("--input-template <template>", "default \"{context} {current}\" with an input context, else \"{current}\"")
    .option("--output-context-text <text>", "an output context (e.g. a chain of thought) preceding the current output")
    .option("--output-current-text <text>", "the output to test (forced); generated when absent")
    .option("--output-template <template>", "default \"{context} {current}\" with an output context, else \"{current}\"")
    .option("--contextless-input-current-text <template>", "template of the contextless input", "{current}")
    .option("--contextless-output-current-text <template>", "template of the contextless output", "{current}")
    .addOption(new Option("--context-sensitivity-metric <id>", "CTI metric").choices(CONTEXT_SENSITIVITY_METRICS).default("kl_divergence"))
    .addOption(new Option("--handle-output-context-strategy <mode>", "split of a generated output context: manual (ask on a terminal; elsewhere as auto), auto, pre").choices(OUTPUT_CONTEXT_STRATEGIES).default("manual"))
    .option("--contextless-output-next-tokens <tokens...>", "one contextless alternative token per context-sensitive token (contrastive --attributed-fn)")
    .option("--prompt-user-for-contextless-output-next-tokens", "ask for each alternative token on the terminal", false)
    .option("--special-tokens-to-keep <tokens...>", "special tokens kept in texts and token lists (e.g. <brk>)")
    .option("--decoder-input-output-separator <sep>", "separator between prompt and output (decoder-only)", " ")
    .option("--context-sensitivity-std-threshold <x>", "CTI: |score| >= mean + x·std (None: no threshold)", nullableNumber, 1)
    .option("--context-sensitivity-topk <k>", "CTI: keep the top k tokens", nullableInt)
    .option("--attribution-std-threshold <x>", "views: cue highlight threshold mean + x·std", nullableNumber, 1)
    .option("--attribution-topk <k>", "views: highlight the top k cues", nullableInt)
    .option("--attribution-aggregators <ids...>", "CCI aggregation (default: the default aggregator)")
    .option("--attribution-selectors <n...>", "with --attribution-aggregators: one select_idx per aggregator")
    .option("--normalize-attributions", "normalize the CCI attributions (default off, as Inseq)", false)
    .option("--rescale-attributions", "rescale the CCI attributions", false)
    .option("--show-intermediate-outputs", "print the CTI step scores and each CCI heatmap", false)
    .option("-o, --save-path <file>", "save the output as JSON (Inseq's AttributeContextOutput.to_dict())")
    .option("--add-output-info", "keep the arguments in the saved output's info (default)", true)
    .option("--no-add-output-info", "save no info")
    .option("--viz-path <file>", "write the HTML view to this file")
    .option("--show-viz", "print the terminal view (default)", true)
    .option("--no-show-viz", "do not print the terminal view")
    .addOption(colorOption())
    .addOption(new Option("--device <device>", "device").default("auto"))
    .option("--offline", "never touch the network (also HF_HUB_OFFLINE=1)")
    .addOption(modelKwargsOption())
    .addOption(tokenizerKwargsOption())
    .addOption(trustRemoteCodeOption())
    .action(async (opts) => {
      const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
      if (opts.promptUserForContextlessOutputNextTokens) {
        if (opts.contextlessOutputNextTokens?.length) {
          throw new InseqError(ErrorCode.INVALID_OPTION, "Only one of --contextless-output-next-tokens and --prompt-user-for-contextless-output-next-tokens can be given");
        }
        if (!interactive) {
          throw new InseqError(ErrorCode.INVALID_OPTION,
            "--prompt-user-for-contextless-output-next-tokens needs a terminal (stdin and stderr); pass --contextless-output-next-tokens instead");
        }
      }
      const kwargs = opts.attributionKwargs ?? {};
      // routed as `inseq attribute` does: method options, attributed-function options; the contrast and position
      // options are set by the procedure itself
      const { methodArgs, attributedFnArgs, stepScoresArgs: _step, ...rest } = routeAttributionKwargs(kwargs, opts.attributionMethod);
      const own = Object.keys(rest);
      if (own.length > 0) {
        throw new InseqError(ErrorCode.INVALID_OPTION, `Expected no ${own.join(", ")} in --attribution-kwargs of attribute-context (the procedure sets them) but received ${own.join(", ")}`);
      }
      const gen = opts.generationKwargs ? Object.fromEntries(Object.entries(opts.generationKwargs).map(([k, v]) => [camel(k), v])) : undefined;
      let strategy = opts.handleOutputContextStrategy as OutputContextStrategy;
      if (strategy === "manual" && !interactive) strategy = "auto";
      const load = loadKwargs(opts.modelKwargs, opts.tokenizerKwargs);
      const model = await loadModel(opts.model, { ...load, device: opts.device as DeviceOption, offline: opts.offline, trustRemoteCode: opts.trustRemoteCode });
      try {
        const color = terminalSettings(opts, true).color;
        const bar = new ProgressBar("attribute-context (CTI, then CCI per token)");
        const { output, ctiThreshold, notes, outputSetting } = await attributeContextWithDetails(model, {
          inputCurrentText: opts.inputCurrentText, inputContextText: opts.inputContextText, inputTemplate: opts.inputTemplate,
          outputContextText: opts.outputContextText, outputCurrentText: opts.outputCurrentText, outputTemplate: opts.outputTemplate,
          contextlessInputCurrentText: opts.contextlessInputCurrentText, contextlessOutputCurrentText: opts.contextlessOutputCurrentText,
          contextSensitivityMetric: opts.contextSensitivityMetric, contextSensitivityStdThreshold: opts.contextSensitivityStdThreshold,
          contextSensitivityTopk: opts.contextSensitivityTopk, attributionMethod: opts.attributionMethod, attributionKwargs: methodArgs ?? {},
          ...(attributedFnArgs ? { attributedFnArgs } : {}),
          attributedFn: opts.attributedFn, contextlessOutputNextTokens: opts.contextlessOutputNextTokens,
          ...(opts.promptUserForContextlessOutputNextTokens ? { chooseContextlessNextToken: askContextlessToken } : {}),
          handleOutputContextStrategy: strategy, ...(strategy === "manual" ? { confirmOutputContext: askOutputContext } : {}),
          specialTokensToKeep: opts.specialTokensToKeep, decoderInputOutputSeparator: opts.decoderInputOutputSeparator,
          attributionStdThreshold: opts.attributionStdThreshold, attributionTopk: opts.attributionTopk,
          attributionAggregators: opts.attributionAggregators,
          ...(opts.attributionSelectors ? { attributionSelectors: opts.attributionSelectors.map((v: string) => intOption(v)) } : {}), normalizeAttributions: opts.normalizeAttributions,
          rescaleAttributions: opts.rescaleAttributions, generationArgs: gen, modelNameOrPath: opts.model,
          onProgress: (done, total) => bar.update(done, total, "steps"),
          ...(opts.showIntermediateOutputs ? {
            onIntermediate: (stage: "cti" | "cci", out: { show(o: object): string }) =>
              process.stdout.write(`${stage.toUpperCase()}:\n${out.show({ format: "terminal", color, ...(stage === "cti" ? { doAggregation: false } : {}) })}\n`),
          } : {}),
        });
        bar.done();
        for (const n of notes) process.stderr.write(`inseq: ${n}\n`);
        if (opts.handleOutputContextStrategy === "manual" && !interactive && outputSetting >= 5) {
          process.stderr.write("inseq: --handle-output-context-strategy manual without a terminal: the automatic context split was used (as auto)\n");
        }
        if (output.info) {
          Object.assign(output.info, {
            show_intermediate_outputs: opts.showIntermediateOutputs, save_path: opts.savePath ?? null, add_output_info: opts.addOutputInfo,
            viz_path: opts.vizPath ?? null, show_viz: opts.showViz, handle_output_context_strategy: opts.handleOutputContextStrategy,
            model_kwargs: opts.modelKwargs ?? {}, tokenizer_kwargs: opts.tokenizerKwargs ?? {}, attribution_kwargs: kwargs,
            generation_kwargs: opts.generationKwargs ?? {},
          });
        }
        if (opts.showViz) process.stdout.write(output.show({ format: "terminal", color, ctiThreshold }) + "\n");
        if (opts.vizPath) await writeFileAtomic(opts.vizPath, renderContextHtml(output, { ctiThreshold }));
        if (!opts.addOutputInfo) output.info = null;
        if (opts.savePath) await output.save(opts.savePath);
      } finally {
        await model.dispose();
      }
    });
  return acceptInseqSpellings(cmd, CONTEXT_ALIASES);
}

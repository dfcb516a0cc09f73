import { Command, Option } from "commander";

import { loadModel, type DeviceOption, type DtypeOption } from "../../models/load-model.js";
import { Seq2SeqModel } from "../../models/seq2seq-model.js";
import { ProgressBar } from "../progress.js";
import { intOption, numberOption } from "../parse.js";
import { trustRemoteCodeOption } from "../model-options.js";

export function makeGenerateCommand(): Command {
  return new Command("generate")
    .description("continue prompts with a model (greedy by default) and print prompt + continuation")
    .argument("[texts...]", "prompts (or use --input-texts)")
    .option("-m, --model <id>", "model directory, hub id, or \"default\" (the bundled model)", "default")
    .option("--input-texts <texts...>", "prompts to continue")
    .option("--max-new-tokens <n>", "tokens to generate per prompt", intOption, 20)
    .option("--do-sample", "sample instead of greedy decoding", false)
    .option("--temperature <t>", "sampling temperature", numberOption, 1)
    .option("--top-k <k>", "keep the k most likely tokens when sampling (0 = off)", intOption, 0)
    .option("--top-p <p>", "nucleus sampling threshold (1 = off)", numberOption, 1)
    .option("--seed <n>", "sampling seed", intOption, 0)
    .option("--generated-only", "print only the continuation", false)
    .addOption(new Option("--device <device>", "device").default("auto"))
    .addOption(new Option("--dtype <dtype>", "weights dtype (half precision on CUDA)").choices(["float32", "float16", "bfloat16"]).default("float32"))
    .option("--offline", "never touch the network (also HF_HUB_OFFLINE=1)")
    .addOption(trustRemoteCodeOption())
    .option("--json", "print JSON with ids and log-probabilities", false)
    .action(async (texts: string[], opts) => {
      const prompts: string[] = [...(opts.inputTexts ?? []), ...texts];
      if (prompts.length === 0) prompts.push("");
      const model = await loadModel(opts.model, {
        device: opts.device as DeviceOption,
        dtype: opts.dtype as DtypeOption,
        offline: opts.offline,
        trustRemoteCode: opts.trustRemoteCode,
      });
      try {
        const bar = new ProgressBar("generating");
        const sampling = { maxNewTokens: opts.maxNewTokens, doSample: opts.doSample, temperature: opts.temperature, topK: opts.topK, topP: opts.topP, seed: opts.seed };
        const onProgress = (done: number, total: number) => bar.update(done, total, "tok");
        // Encoder-decoders print the generated targets; decoder-only models prompt + continuation (Inseq's convention).
        const out = model instanceof Seq2SeqModel
          ? await model.generate(prompts, { ...sampling, returnIds: true, onProgress })
          : await model.generate(prompts, { ...sampling, outputGeneratedOnly: opts.generatedOnly, returnIds: true, onProgress });
        bar.done();
        if (opts.json) {
          process.stdout.write(JSON.stringify(out.sequences, null, 2) + "\n");
        } else {
          for (const text of out.texts) process.stdout.write(text + "\n");
        }
      } finally {
        await model.dispose();
      }
    });
}

/**
 * CLI parity with Python Inseq 0.7.1, the parts that need no model: Inseq's snake_case spellings of the
 * `attribute` / `attribute-dataset` flags, and the refusals of the new flags (aggregators × selectors,
 * normalize + rescale, --model-kwargs / --tokenizer-kwargs keys) before any model loads.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { InseqError } from "../../lib/core/errors.js";
import { makeAttributeCommand } from "../../lib/cli/commands/attribute.js";
import { makeAttributeDatasetCommand } from "../../lib/cli/commands/attribute-dataset.js";
import { aliasMap, ATTRIBUTE_ALIASES, normalizeArgv } from "../../lib/cli/inseq-aliases.js";
import { loadKwargs } from "../../lib/cli/model-options.js";
import { saveAggregation } from "../../lib/cli/save-aggregation.js";
import { tempDir } from "../helpers.js";
import { failure, runCommand } from "../helpers/cli.js";

const tmp = tempDir("cli-inseq-parity-args");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const noModel = path.join(tmp, "no-model");

/** The options commander parses from `args` (no action runs). */
function parsed(make: () => import("commander").Command, args: string[]): Record<string, unknown> {
  const cmd = make().exitOverride();
  cmd.parseOptions(args);
  return cmd.opts();
}

describe("Inseq's snake_case spellings", () => {
  it("every attribute flag Inseq spells with underscores parses as ours", () => {
    const opts = parsed(makeAttributeCommand, [
      "--model_name_or_path", "default", "--attribution_method", "integrated_gradients", "--input_texts", "a", "b",
      "--generated_texts", "a b", "a c", "--attributed_fn", "logit", "--step_scores", "probability", "entropy",
      "--attribution_kwargs", '{"n_steps": 3}', "--generation_kwargs", '{"max_new_tokens": 2}', "--batch_size", "4",
      "--save_path", "o.json", "--viz_path", "o.html", "--start_pos", "1", "--end_pos", "3", "--include_eos_baseline",
      "--hide_attributions", "--attribute_target", "--generate_from_target_prefix", "--output_step_attributions",
      "--attribution_aggregators", "mean", "vnorm", "--attribution_selectors", "0", "1", "--normalize_attributions",
      "--model_kwargs", '{"torch_dtype": "float32"}', "--tokenizer_kwargs", "{}",
    ]);
    expect(opts).toMatchObject({
      model: "default", attributionMethod: "integrated_gradients", inputTexts: ["a", "b"], generatedTexts: ["a b", "a c"],
      attributedFn: "logit", stepScores: ["probability", "entropy"], attributionKwargs: { n_steps: 3 },
      generationKwargs: { max_new_tokens: 2 }, batchSize: 4, savePath: "o.json", vizPath: "o.html", attrPosStart: 1,
      attrPosEnd: 3, includeEosBaseline: true, hideAttributions: true, attributeTarget: true, generateFromTargetPrefix: true,
      outputStepAttributions: true, attributionAggregators: ["mean", "vnorm"], attributionSelectors: [0, 1],
      normalizeAttributions: true, modelKwargs: { torch_dtype: "float32" }, tokenizerKwargs: {},
    });
  });

  it("Inseq's short aliases (-fn, -bs, --dev, --eos, --hide) and --flag=value", () => {
    const opts = parsed(makeAttributeCommand, ["-i", "a", "-fn", "logit", "-bs", "2", "--dev", "cpu", "--eos", "--hide", "--attribution_method=saliency"]);
    expect(opts).toMatchObject({ attributedFn: "logit", batchSize: 2, device: "cpu", includeEosBaseline: true, hideAttributions: true, attributionMethod: "saliency" });
  });

  it("attribute-dataset: Inseq's dataset flags", () => {
    const opts = parsed(makeAttributeDatasetCommand, [
      "--dataset_name", "d.csv", "--input_text_field", "en", "--generated_text_field", "it", "--dataset_split", "train[:20]",
      "--dataset_config", "c", "--dataset_revision", "r", "--viz_path", "v.html", "--batch_size", "8", "--hide", "--no_header",
      "--save_path", "o.jsonl", "--attribute_target", "--generate_from_target_prefix",
    ]);
    expect(opts).toMatchObject({
      dataset: "d.csv", inputTextField: "en", generatedTextField: "it", datasetSplit: "train[:20]", datasetConfig: "c",
      datasetRevision: "r", vizPath: "v.html", batchSize: 8, hideAttributions: true, header: false, output: "o.jsonl",
      attributeTarget: true, generateFromTargetPrefix: true,
    });
    expect(parsed(makeAttributeDatasetCommand, ["-in", "en", "-gen", "it", "--dataset", "d"])).toMatchObject({ inputTextField: "en", generatedTextField: "it" });
  });

  it("only flag positions are rewritten, and nothing after --", () => {
    const cmd = makeAttributeCommand();
    const aliases = aliasMap(cmd, ATTRIBUTE_ALIASES);
    expect(normalizeArgv(["--save_path", "--viz_path", "--viz_path", "x", "--", "--save_path"], aliases, cmd)).toEqual([
      "--save-path", "--viz_path", "--viz-path", "x", "--", "--save_path",
    ]);
    expect(normalizeArgv(["--model_name_or_path=default", "--unknown_flag"], aliases, cmd)).toEqual(["--model=default", "--unknown_flag"]);
  });

  it("Inseq's `--switch true|false` form of booleans", () => {
    const opts = parsed(makeAttributeCommand, ["-i", "a", "--hide", "false", "--attribute_target", "True", "--eos", "0", "--normalize_attributions", "yes", "-g", "false"]);
    expect(opts).toMatchObject({ hideAttributions: false, attributeTarget: true, includeEosBaseline: false, normalizeAttributions: true, generatedTexts: ["false"] });
  });

  it("an unknown snake_case flag is still an unknown option", async () => {
    const err = await runCommand(makeAttributeCommand, ["-i", "a", "--aggregate_outputs"]).catch((e: unknown) => e);
    expect(String(err)).toContain("unknown option '--aggregate_outputs'");
  });

  it("--help lists the kebab-case flags and names the aliases once", () => {
    for (const make of [makeAttributeCommand, makeAttributeDatasetCommand]) {
      const help = make().helpInformation() + (() => {
        let after = "";
        const cmd = make();
        cmd.configureOutput({ writeOut: (s) => (after += s) });
        cmd.outputHelp();
        return after;
      })();
      expect(help).toContain("--attribution-aggregators");
      expect(help).toContain("--model-kwargs");
      expect(help).not.toContain("--attribution_aggregators");
      expect(help.match(/Python Inseq's spellings are accepted/g)?.length).toBe(1);
      expect(help).toContain("--model_name_or_path (--model)");
    }
  });
});

describe("save aggregation options", () => {
  it("selectors need one per aggregator; normalize and rescale exclude each other", async () => {
    const sel = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "--attribution-aggregators", "mean", "vnorm", "--attribution-selectors", "0"]);
    expect(sel.code).toBe("ERR_INVALID_OPTION");
    expect(sel.message).toMatch(/one --attribution-selectors value per aggregator \(2: mean vnorm\) but received 1/);
    const both = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "--attribution-aggregators", "mean", "--normalize-attributions", "--rescale-attributions"]);
    expect(both.code).toBe("ERR_INVALID_OPTION");
    expect(both.message).toContain("--normalize-attributions and --rescale-attributions");
    const stray = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "--normalize_attributions"]);
    expect(stray.message).toMatch(/Expected --attribution-aggregators with --normalize-attributions/);
    // Valid options get as far as the model.
    expect((await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "--attribution-aggregators", "mean", "--attribution-selectors", "0", "--rescale-attributions"])).code).toBe("ERR_NOT_FOUND");
    expect(saveAggregation({})).toBeUndefined();
    expect(saveAggregation({ attributionAggregators: ["scores"], attributionSelectors: [-1], rescaleAttributions: true })).toEqual({
      aggregators: ["scores"], selectors: [-1], normalize: false, rescale: true,
    });
  });

  it("an aggregator id that is not one is refused by the choices", async () => {
    const err = await runCommand(makeAttributeCommand, ["-m", noModel, "-i", "a", "--attribution-aggregators", "meen"]).catch((e: unknown) => e);
    expect(String(err)).toMatch(/meen.*Allowed choices are scores, spans/);
  });

  it("attribute-dataset checks them before reading the dataset", async () => {
    const err = await failure(makeAttributeDatasetCommand, [
      "-d", path.join(tmp, "missing.jsonl"), "-i", "text", "-o", path.join(tmp, "o.jsonl"), "--attribution_aggregators", "mean", "--attribution_selectors", "0", "1",
    ]);
    expect(err.code).toBe("ERR_INVALID_OPTION");
    expect(err.message).toContain("--attribution-selectors");
  });
});

describe("--model-kwargs / --tokenizer-kwargs", () => {
  it("maps torch_dtype / dtype and the hub keys", () => {
    expect(loadKwargs({ torch_dtype: "torch.float16" })).toEqual({ dtype: "float16" });
    expect(loadKwargs({ dtype: "bfloat16", revision: "main" }, { revision: "main", cache_dir: "/c" })).toEqual({ dtype: "bfloat16", revision: "main", cacheDir: "/c" });
    expect(loadKwargs()).toEqual({});
  });

  it("refuses other keys with ERR_INVALID_OPTION, naming the key and why", () => {
    const cases: Array<[Record<string, unknown>, Record<string, unknown>, RegExp]> = [
      [{ device_map: "auto" }, {}, /"device_map" in --model-kwargs: one model runs on one device here: use --device/],
      [{ load_in_8bit: true }, {}, /"load_in_8bit" in --model-kwargs: bitsandbytes/],
      [{ torch_dtype: "auto" }, {}, /"torch_dtype" in --model-kwargs: expected one of float32, float16, bfloat16/],
      [{ output_attentions: true }, {}, /"output_attentions" in --model-kwargs: not a loading option of this port \(accepted: torch_dtype/],
      [{}, { tgt_lang: "it_IT" }, /"tgt_lang" in --tokenizer-kwargs: language codes are not set here: .*forced_bos_token_id/],
      [{}, { src_lang: "en_XX" }, /"src_lang" in --tokenizer-kwargs: language codes are not set here: M2M100/],
      [{ revision: "a" }, { revision: "b" }, /the same "revision" in --model-kwargs and --tokenizer-kwargs/],
    ];
    for (const [m, t, message] of cases) {
      let err: unknown;
      try {
        loadKwargs(m, t);
      } catch (e) {
        err = e;
      }
      expect(err, message.source).toBeInstanceOf(InseqError);
      expect((err as InseqError).code).toBe("ERR_INVALID_OPTION");
      expect((err as InseqError).message).toMatch(message);
    }
  });

  it("the CLI refuses them before loading the model", async () => {
    const err = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "--tokenizer_kwargs", '{"tgt_lang": "it"}']);
    expect(err.code).toBe("ERR_INVALID_OPTION");
    expect(err.message).toContain('"tgt_lang"');
    const bad = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "--model-kwargs", "[1]"]);
    expect(bad.message).toContain("Expected a JSON object");
  });
});

describe("attribute-dataset without --output", () => {
  it("needs --viz-path (the run would write nothing), and --resume needs --output", async () => {
    const none = await failure(makeAttributeDatasetCommand, ["-d", path.join(tmp, "missing.jsonl"), "-i", "text"]);
    expect(none.code).toBe("ERR_INVALID_OPTION");
    expect(none.message).toContain("--output (records) or --viz-path (HTML)");
    const resume = await failure(makeAttributeDatasetCommand, ["-d", path.join(tmp, "missing.jsonl"), "-i", "text", "--viz-path", path.join(tmp, "v.html"), "--resume"]);
    expect(resume.message).toContain("--output with --resume");
    // With --viz-path only it gets as far as the dataset.
    expect((await failure(makeAttributeDatasetCommand, ["-d", path.join(tmp, "missing.jsonl"), "-i", "text", "--viz_path", path.join(tmp, "v.html")])).code).toBe("ERR_NOT_FOUND");
  });
});

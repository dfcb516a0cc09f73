/**
 * CLI parity with Python Inseq 0.7.1 on the bundled model, in-process: Inseq's documented command lines run
 * unchanged (but for the program and model names) and save what the kebab-case ones save; the aggregation flags
 * give what the library's aggregate() gives; --model-kwargs, --output-step-attributions; attribute-dataset's
 * --viz-path and aggregated records.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { makeAttributeCommand } from "../../lib/cli/commands/attribute.js";
import { makeAttributeDatasetCommand } from "../../lib/cli/commands/attribute-dataset.js";
import { scanRecords, type DatasetRecord } from "../../lib/dataset/records.js";
import { loadModel } from "../../lib/models/load-model.js";
import type { Model } from "../../lib/models/model.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { nanAwareMaxDiff, repoRoot, sharedFixtures, tempDir, testDevice } from "../helpers.js";
import { runCommand } from "../helpers/cli.js";

const tmp = tempDir("cli-inseq-parity");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TEXT = "the window beside the blue letters";
const GEN = '{"max_new_tokens": 3}';

/** A saved output with exec_time removed (the only field that differs between two runs). */
function saved(file: string): FeatureAttributionOutput {
  const o = FeatureAttributionOutput.fromJSON(JSON.parse(readFileSync(file, "utf8")));
  delete o.info.exec_time;
  return o;
}

function tensor(o: FeatureAttributionOutput, i = 0) {
  return o.sequenceAttributions[i]!.targetAttributions!;
}

let model: Model;
beforeAll(async () => {
  model = (await loadModel("default", { device: testDevice })) as Model;
});
afterAll(async () => model?.dispose());

describe("Inseq's command lines run unchanged", () => {
  it("attribute: the README line with snake_case flags saves what the kebab-case line saves", async () => {
    // inseq attribute --model_name_or_path ... --input_texts "..." (Inseq's README), saving and hiding.
    const snake = path.join(tmp, "snake.json");
    const kebab = path.join(tmp, "kebab.json");
    await runCommand(makeAttributeCommand, [
      "--model_name_or_path", "default", "--attribution_method", "saliency", "--input_texts", TEXT,
      "--generation_kwargs", GEN, "--step_scores", "probability", "--save_path", snake, "--hide", "--device", testDevice,
    ]);
    await runCommand(makeAttributeCommand, [
      "--model", "default", "--attribution-method", "saliency", "--input-texts", TEXT,
      "--generation-kwargs", GEN, "--step-scores", "probability", "--save-path", kebab, "--hide-attributions", "--device", testDevice,
    ]);
    expect(saved(snake).equals(saved(kebab), 0)).toBe(true);
    expect(saved(snake).info.step_scores).toEqual(["probability"]);
  });

  it("attribute-dataset: Inseq's documented line (no save path, --viz_path, --hide) writes the HTML of the records", async () => {
    const viz = path.join(tmp, "attributions.html");
    const { stderr } = await runCommand(makeAttributeDatasetCommand, [
      "--model_name_or_path", "default", "--attribution_method", "saliency", "--dataset_name", path.join(sharedFixtures, "winomt/en.txt"),
      "--no_header", "--column_names", "gender,index,sentence,noun", "--input_text_field", "sentence", "--dataset_split", "train[:2]",
      "--viz_path", viz, "--batch_size", "8", "--hide", "--generation_kwargs", GEN, "--device", testDevice,
    ]);
    expect(stderr).toContain("wrote 2 records to a scratch file (no --output)");
    const html = readFileSync(viz, "utf8");
    // One heatmap per record, by row index (the bundled model's vocabulary lacks "developer": UNK pieces).
    expect(html.match(/<table/g)?.length).toBe(2);
    expect(html).toContain("1st instance: the with the because his");
    expect(html).not.toContain("2nd instance");
  });

  it("attribute-dataset: Inseq's --dataset_name json --dataset_files FILE reads that file (load_dataset(builder, data_files))", async () => {
    const data = path.join(tmp, "prompts.jsonl");
    writeFileSync(data, [TEXT, "mary went to the park because"].map((prompt) => JSON.stringify({ prompt })).join("\n") + "\n");
    const viaBuilder = path.join(tmp, "builder.jsonl");
    const direct = path.join(tmp, "direct.jsonl");
    await runCommand(makeAttributeDatasetCommand, [
      "--model_name_or_path", "default", "--dataset_name", "json", "--dataset_files", data, "--input_text_field", "prompt",
      "--save_path", viaBuilder, "--generation_kwargs", GEN, "--device", testDevice,
    ]);
    await runCommand(makeAttributeDatasetCommand, ["-m", "default", "-d", data, "-i", "prompt", "-o", direct, "--generation-kwargs", GEN, "--device", testDevice]);
    // The records without the run configuration (it names the dataset as given) and the timing.
    const records = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => {
      const { index, input_text, generated_text, attribution } = JSON.parse(l);
      return { index, input_text, generated_text, tensors: JSON.stringify(attribution).replace(/"exec_time":[0-9.e+-]+/g, "") };
    });
    expect(records(viaBuilder)).toEqual(records(direct));
    expect(records(direct)).toHaveLength(2);
    await expect(runCommand(makeAttributeDatasetCommand, ["-d", "json", "-i", "prompt", "-o", path.join(tmp, "x.jsonl")]))
      .rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("--dataset-files") });
    await expect(runCommand(makeAttributeDatasetCommand, ["-d", data, "--dataset-files", data, "-i", "prompt", "-o", path.join(tmp, "y.jsonl")]))
      .rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("builder") });
  });
});

describe("--attribution-aggregators before saving", () => {
  const run = async (name: string, flags: string[]) => {
    const file = path.join(tmp, `${name}.json`);
    await runCommand(makeAttributeCommand, ["-i", TEXT, "--generation-kwargs", GEN, "--hide", "-o", file, "--device", testDevice, ...flags]);
    return saved(file);
  };

  it("aggregate the granular output as the library does (normalize off unless asked, as Inseq's CLI)", async () => {
    const granular = await model.attribute(TEXT, { generationArgs: { maxNewTokens: 3 }, granular: true });
    const cases: Array<[string, string[], FeatureAttributionOutput]> = [
      ["mean", ["--attribution-aggregators", "mean"], granular.aggregate(["mean"], { normalize: false })],
      ["mean-norm", ["--attribution_aggregators", "mean", "--normalize_attributions"], granular.aggregate(["mean"], { normalize: true })],
      ["vnorm-rescale", ["--attribution-aggregators", "vnorm", "--rescale-attributions"], granular.aggregate(["vnorm"], { rescale: true })],
      ["select", ["--attribution-aggregators", "scores", "--attribution-selectors", "5"], granular.aggregate("scores", { normalize: false, selectIdx: 5, doPostAggregationChecks: false })],
    ];
    for (const [name, flags, expected] of cases) {
      const got = await run(name, flags);
      expect(tensor(got).shape, name).toEqual(tensor(expected).shape);
      expect(tensor(got).shape.length, name).toBe(2);
      expect(nanAwareMaxDiff(tensor(got).data, tensor(expected).data), name).toBeLessThan(1e-6);
    }
    // Rescaled: max |score| is 1. Selected: the hidden unit 5 of the saliency (|gradient|) map.
    const rescaled = tensor(await run("vnorm-rescale2", ["--attribution-aggregators", "vnorm", "--rescale-attributions"]));
    expect(Math.max(...Array.from(rescaled.data).filter(Number.isFinite).map(Math.abs))).toBeCloseTo(1, 6);
    const g = tensor(granular);
    const h = g.shape[2]!;
    const sel = tensor(await run("select2", ["--attribution-aggregators", "scores", "--attribution-selectors", "5"]));
    for (let i = 0; i < sel.data.length; i++) {
      const want = g.data[i * h + 5]!;
      if (Number.isNaN(want)) expect(sel.data[i]).toBeNaN();
      else expect(sel.data[i]).toBeCloseTo(want, 6);
    }
  });

  it("the printed heatmap is not aggregated by them (Inseq aggregates only what it saves)", async () => {
    const plain = (await runCommand(makeAttributeCommand, ["-i", TEXT, "--generation-kwargs", GEN, "--color", "none", "--device", testDevice])).stdout;
    const withAgg = await runCommand(makeAttributeCommand, [
      "-i", TEXT, "--generation-kwargs", GEN, "--color", "none", "--device", testDevice, "--attribution-aggregators", "mean",
    ]);
    expect(withAgg.stdout).toBe(plain);
    expect(withAgg.stderr).toContain("--attribution-aggregators apply to what --save-path saves; nothing is saved");
    // Saving with aggregators runs the granular attribution: its printed (default-aggregated) heatmap is the same.
    const saving = await runCommand(makeAttributeCommand, [
      "-i", TEXT, "--generation-kwargs", GEN, "--color", "none", "--device", testDevice, "--attribution-aggregators", "mean", "-o", path.join(tmp, "printed.json"),
    ]);
    expect(saving.stdout).toBe(plain);
  });
});

describe("loading and step options", () => {
  it("--model-kwargs torch_dtype float32 and --output-step-attributions save the same output", async () => {
    const a = path.join(tmp, "plain.json");
    const b = path.join(tmp, "kwargs.json");
    const base = ["-i", TEXT, "--generation-kwargs", GEN, "--hide", "--device", testDevice];
    await runCommand(makeAttributeCommand, [...base, "-o", a]);
    await runCommand(makeAttributeCommand, [...base, "-o", b, "--model_kwargs", '{"torch_dtype": "torch.float32"}', "--output_step_attributions"]);
    const [pa, pb] = [saved(a), saved(b)];
    expect(pb.info.output_step_attributions).toBe(true); // recorded in info, as Inseq does; the steps are not saved
    delete pa.info.output_step_attributions;
    delete pb.info.output_step_attributions;
    expect(pa.equals(pb, 0)).toBe(true);
  });
});

describe("attribute-dataset", () => {
  it("--attribution-aggregators applies to every record and is part of the run's configuration", async () => {
    const out = path.join(tmp, "agg.jsonl");
    const viz = path.join(tmp, "agg.html");
    await runCommand(makeAttributeDatasetCommand, [
      "-d", path.join(sharedFixtures, "winomt/en.txt"), "--no-header", "--column-names", "gender,index,sentence,noun", "-i", "sentence",
      "--split", "train[:2]", "-o", out, "--generation-kwargs", GEN, "--device", testDevice,
      "--attribution-aggregators", "mean", "--normalize-attributions", "--viz-path", viz,
    ]);
    const records: DatasetRecord[] = [];
    scanRecords(out, (r) => void records.push(r));
    expect(records.length).toBe(2);
    for (const r of records) {
      expect(r.config).toMatchObject({ attribution_aggregators: ["mean"], attribution_selectors: null, normalize_attributions: true, granular: true });
      const got = FeatureAttributionOutput.fromJSON(r.attribution);
      const expected = (await model.attribute(r.input_text, { generationArgs: { maxNewTokens: 3 }, granular: true })).aggregate(["mean"], { normalize: true });
      expect(nanAwareMaxDiff(tensor(got).data, tensor(expected).data)).toBeLessThan(1e-5);
    }
    expect(readFileSync(viz, "utf8").match(/<table/g)?.length).toBe(2);
    // A different aggregation is a different run: --resume refuses it.
    await expect(runCommand(makeAttributeDatasetCommand, [
      "-d", path.join(sharedFixtures, "winomt/en.txt"), "--no-header", "--column-names", "gender,index,sentence,noun", "-i", "sentence",
      "--split", "train[:3]", "-o", out, "--generation-kwargs", GEN, "--device", testDevice, "--resume", "--attribution-aggregators", "vnorm",
    ])).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("attribution_aggregators") });
  });
});

describe("attribute-dataset: Inseq's encoder-decoder switches", () => {
  it("--attribute_target on an encoder-decoder saves target attributions; a decoder-only model refuses it", async () => {
    const data = path.join(tmp, "pairs.jsonl");
    writeFileSync(data, [
      { en: "the window beside the blue letters", it: "the small window" },
      { en: "the blue letters", it: "the letters" },
    ].map((r) => JSON.stringify(r)).join("\n") + "\n");
    const out = path.join(tmp, "bart.jsonl");
    await runCommand(makeAttributeDatasetCommand, [
      "--model_name_or_path", path.join(repoRoot, "test/fixtures/reference-seq2seq/bart"), "--dataset_name", data,
      "--input_text_field", "en", "--generated_text_field", "it", "--attribute_target", "--save_path", out, "--device", testDevice,
    ]);
    const records: DatasetRecord[] = [];
    scanRecords(out, (r) => void records.push(r));
    expect(records.length).toBe(2);
    for (const r of records) {
      expect(r.config).toMatchObject({ attribute_target: true });
      const seq = FeatureAttributionOutput.fromJSON(r.attribution).sequenceAttributions[0]!;
      expect(seq.sourceAttributions).toBeTruthy();
      expect(seq.targetAttributions).toBeTruthy();
    }
    await expect(runCommand(makeAttributeDatasetCommand, [
      "-d", data, "-i", "en", "-o", path.join(tmp, "dec.jsonl"), "--attribute-target", "--device", testDevice,
    ])).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("encoder-decoder") });
  });
});

/**
 * The rest of Python Inseq 0.7.1's attribute-dataset flags, on the bundled model, in-process: several
 * --dataset_files and --dataset_dir read as one split in order, --dataset_kwargs, --save_path x.json (one Inseq
 * JSON document, resumable through its records file), -v / -vv, --aggregate_output; and `inseq -v` still the version.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { makeAttributeCommand } from "../../lib/cli/commands/attribute.js";
import { makeAttributeDatasetCommand, recordsPathFor } from "../../lib/cli/commands/attribute-dataset.js";
import { datasetKwargs } from "../../lib/cli/dataset-kwargs.js";
import { mergeRecordFiles } from "../../lib/dataset/merge.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { repoRoot, tempDir, testDevice } from "../helpers.js";
import { failure, runCommand } from "../helpers/cli.js";

const tmp = tempDir("cli-inseq-dataset");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const GEN = '{"max_new_tokens": 2}';
const PROMPTS = ["the window beside the blue letters", "mary went to the park because", "the doctor , a woman , said that"];
const common = ["--model_name_or_path", "default", "--input_text_field", "prompt", "--generation_kwargs", GEN, "--device", testDevice];

/** Records of a JSONL output without what differs between runs (the run configuration names the files; timings). */
function records(file: string) {
  return readFileSync(file, "utf8").trim().split("\n").map((l) => {
    const { index, input_text, generated_text, attribution } = JSON.parse(l);
    const output = FeatureAttributionOutput.fromJSON(attribution);
    delete output.info.exec_time;
    return { index, input_text, generated_text, output };
  });
}

/** Same rows, texts and attributions (within 1e-5: rows batched with other rows pad differently). */
function expectSameRecords(got: ReturnType<typeof records>, want: ReturnType<typeof records>) {
  expect(got.map(({ index, input_text, generated_text }) => ({ index, input_text, generated_text })))
    .toEqual(want.map(({ index, input_text, generated_text }) => ({ index, input_text, generated_text })));
  got.forEach((r, i) => expect(r.output.equals(want[i]!.output, 1e-5), `row ${r.index}`).toBe(true));
}

const jsonl = (rows: string[]) => rows.map((prompt) => JSON.stringify({ prompt })).join("\n") + "\n";

describe("attribute-dataset: Inseq's data_files, data_dir and dataset_kwargs", () => {
  it("--dataset_files a b reads both files in order as one split; --dataset_dir DIR reads its files by name", async () => {
    const dir = path.join(tmp, "parts");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "b.jsonl"), jsonl(PROMPTS.slice(1)));
    writeFileSync(path.join(dir, "a.jsonl"), jsonl(PROMPTS.slice(0, 1)));
    writeFileSync(path.join(dir, "notes.md"), "not data\n");
    const whole = path.join(tmp, "whole.jsonl");
    writeFileSync(whole, jsonl(PROMPTS));

    const [viaFiles, viaDir, direct] = ["files.jsonl", "dir.jsonl", "direct.jsonl"].map((f) => path.join(tmp, f));
    await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", "json", "--dataset_files", path.join(dir, "a.jsonl"), path.join(dir, "b.jsonl"), "--save_path", viaFiles]);
    await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", "json", "--dataset_dir", dir, "--save_path", viaDir]);
    await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", whole, "--save_path", direct]);
    expect(records(direct).map((r) => r.input_text)).toEqual(PROMPTS);
    expectSameRecords(records(viaFiles), records(direct));
    expectSameRecords(records(viaDir), records(direct));
    // --dataset_split slices across the files (rows numbered over the whole split).
    const sliced = path.join(tmp, "sliced.jsonl");
    await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", "json", "--dataset_dir", dir, "--dataset_split", "train[1:]", "--save_path", sliced]);
    expectSameRecords(records(sliced), records(direct).slice(1));
  });

  it("--dataset_kwargs: the csv builder's sep and column names; unsupported keys refused by name", async () => {
    const csv = path.join(tmp, "semi.csv");
    writeFileSync(csv, PROMPTS.slice(0, 2).map((p, i) => `${i};${p}`).join("\n") + "\n");
    const out = path.join(tmp, "csv.jsonl");
    await runCommand(makeAttributeDatasetCommand, [
      ...common, "--dataset_name", "csv", "--dataset_files", csv, "--dataset_kwargs", '{"sep": ";", "header": null, "column_names": ["id", "prompt"]}', "--save_path", out,
    ]);
    expect(records(out).map((r) => r.input_text)).toEqual(PROMPTS.slice(0, 2));

    expect(datasetKwargs({ data_files: "x.csv", data_dir: "d" })).toEqual({ dataFiles: ["x.csv"], dataDir: "d" });
    expect(() => datasetKwargs({ streaming: true })).toThrow(/Unsupported --dataset-kwargs key "streaming"/);
    expect(() => datasetKwargs({ split: "test" })).toThrow(/--dataset-split/);
    expect(() => datasetKwargs({ header: 3 })).toThrow(/header/);
    const err = await failure(makeAttributeDatasetCommand, [...common, "--dataset_name", "org/name", "--dataset_dir", tmp, "--save_path", path.join(tmp, "hub.jsonl")]);
    expect(err.code).toBe("ERR_INVALID_OPTION");
    expect(err.message).toContain("Parquet conversion");
    const empty = path.join(tmp, "empty-dir");
    mkdirSync(empty);
    expect((await failure(makeAttributeDatasetCommand, [...common, "--dataset_name", "csv", "--dataset_dir", empty, "--save_path", path.join(tmp, "e.jsonl")])).code).toBe("ERR_NOT_FOUND");
  });

  it("files with different columns are refused (datasets requires one schema)", async () => {
    const a = path.join(tmp, "cols-a.jsonl");
    const b = path.join(tmp, "cols-b.jsonl");
    writeFileSync(a, jsonl(PROMPTS.slice(0, 1)));
    writeFileSync(b, JSON.stringify({ prompt: PROMPTS[1], extra: 1 }) + "\n");
    const err = await failure(makeAttributeDatasetCommand, [...common, "--dataset_name", "json", "--dataset_files", a, b, "--save_path", path.join(tmp, "cols.jsonl")]);
    expect(err.code).toBe("ERR_BAD_DATASET");
    expect(err.message).toContain("columns");
  });
});

describe("attribute-dataset --save_path x.json: one Inseq JSON document", () => {
  it("equals the merge of the JSONL run; the records file is removed; an existing file needs --overwrite", async () => {
    const data = path.join(tmp, "three.jsonl");
    writeFileSync(data, jsonl(PROMPTS));
    const asJson = path.join(tmp, "out.json");
    const asJsonl = path.join(tmp, "out.jsonl");
    const { stderr } = await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", data, "--save_path", asJson, "--batch_size", "2"]);
    expect(stderr).toContain(`wrote 3 sequences to ${asJson}`);
    expect(existsSync(recordsPathFor(asJson))).toBe(false);
    await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", data, "--save_path", asJsonl, "--batch_size", "2"]);
    const merged = path.join(tmp, "merged.json");
    await mergeRecordFiles([asJsonl], merged);
    const load = (f: string) => {
      const o = FeatureAttributionOutput.fromJSON(JSON.parse(readFileSync(f, "utf8")));
      delete o.info.exec_time;
      return o;
    };
    expect(load(asJson).length).toBe(3);
    const [a, b] = [load(asJson), load(merged)];
    expect(a.info).toEqual(b.info);
    expect(a.equals(b, 0)).toBe(true);
    const again = await failure(makeAttributeDatasetCommand, [...common, "--dataset_name", data, "--save_path", asJson]);
    expect(again.code).toBe("ERR_INVALID_OPTION");
    await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", data, "--save_path", asJson, "--overwrite", "--batch_size", "2"]);
    expect(load(asJson).equals(load(merged), 0)).toBe(true);
  });

  it("an interrupted .json run leaves its records file; --resume finishes it and writes the document", async () => {
    const data = path.join(tmp, "resume.jsonl");
    writeFileSync(data, jsonl(PROMPTS));
    const out = path.join(tmp, "resumed.json");
    // The first two rows as a finished earlier run would leave them, then the whole split resumed.
    await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", data, "--dataset_split", "train[:2]", "--save_path", recordsPathFor(out)]);
    expect(records(recordsPathFor(out))).toHaveLength(2);
    const { stderr } = await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", data, "--save_path", out, "--resume"]);
    expect(stderr).toContain("2 already done");
    expect(FeatureAttributionOutput.fromJSON(JSON.parse(readFileSync(out, "utf8"))).length).toBe(3);
    expect(existsSync(recordsPathFor(out))).toBe(false);
  });
});

describe("-v / -vv / --aggregate_output", () => {
  it("-v prints the model and timings, -vv the resolved options; both run the same attribution", async () => {
    const args = ["--model_name_or_path", "default", "--input_texts", PROMPTS[0]!, "--generation_kwargs", GEN, "--hide", "--device", testDevice];
    const quiet = await runCommand(makeAttributeCommand, args);
    const info = await runCommand(makeAttributeCommand, [...args, "-v", "--aggregate_output", "true"]);
    const debug = await runCommand(makeAttributeCommand, [...args, "-vv"]);
    expect(quiet.stderr).not.toContain("loaded default");
    expect(info.stderr).toMatch(/inseq: loaded default \(llama, 4 layers x 128, [0-9.]+K parameters, float32\) on \w+ in [0-9.]+s/);
    expect(info.stderr).toMatch(/attributed in [0-9.]+s/);
    expect(info.stderr).not.toContain("[debug]");
    expect(debug.stderr).toContain('[debug] attribute options: {"method":"saliency"');
    const ds = path.join(tmp, "v.jsonl");
    writeFileSync(ds, jsonl(PROMPTS.slice(0, 1)));
    const dsRun = await runCommand(makeAttributeDatasetCommand, [...common, "--dataset_name", ds, "--save_path", path.join(tmp, "v-out.jsonl"), "-v"]);
    expect(dsRun.stderr).toContain("attributing 1 example of");
  });

  it("`inseq -v` before a command is still the version (the built CLI)", () => {
    const cli = path.join(repoRoot, "dist/cli/index.js");
    const version = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")).version;
    expect(execFileSync(process.execPath, [cli, "-v"], { encoding: "utf8" }).trim()).toBe(version);
    expect(execFileSync(process.execPath, [cli, "attribute", "--help"], { encoding: "utf8" })).toContain("--verbose");
  });
});

/**
 * `inseq attribute` and `inseq attribute-dataset` checks that run before any model loads (no addon): existing
 * outputs, output extensions, and JSON keyword arguments named as the user wrote them.
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { makeAttributeCommand, routeAttributionKwargs } from "../../lib/cli/commands/attribute.js";
import { makeAttributeDatasetCommand } from "../../lib/cli/commands/attribute-dataset.js";
import { tempDir } from "../helpers.js";
import { failure, runCommand } from "../helpers/cli.js";

const tmp = tempDir("cli-attribute");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
/** A model path that does not exist: reaching loadModel would fail with ERR_NOT_FOUND instead. */
const noModel = path.join(tmp, "no-model");

describe("inseq attribute: outputs", () => {
  it("-o refuses an existing file without --overwrite, before loading the model", async () => {
    const out = path.join(tmp, "out.json");
    writeFileSync(out, "old");
    const err = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "-o", out]);
    expect(err.code).toBe("ERR_INVALID_OPTION");
    expect(err.message).toContain(out);
    expect(err.message).toContain("--overwrite");
    const viz = path.join(tmp, "page.html");
    writeFileSync(viz, "old");
    const vizErr = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "--viz-path", viz]);
    expect(vizErr.message).toMatch(/--viz-path.*--overwrite|--overwrite.*--viz-path/);
    // With --overwrite the checks pass and the model is what fails.
    expect((await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "-o", out, "--viz-path", viz, "--overwrite"])).code).toBe("ERR_NOT_FOUND");
  });

  it("takes --color and --width like show", async () => {
    const cmd = makeAttributeCommand();
    const flags = cmd.options.map((o) => o.long);
    expect(flags).toEqual(expect.arrayContaining(["--color", "--width", "--overwrite"]));
    const bad = await runCommand(makeAttributeCommand, ["-m", noModel, "-i", "a", "--color", "purple"]).catch((e: unknown) => e);
    expect(String(bad)).toMatch(/purple.*Allowed choices are auto, truecolor, 256, 16, none/);
  });
});

describe("JSON keyword arguments name the key as written", () => {
  it("an unknown --attribution-kwargs key, with a suggestion, before loading the model", async () => {
    const err = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "-a", "integrated_gradients", "--attribution-kwargs", '{"n_stepz": 3}']);
    expect(err.code).toBe("ERR_UNKNOWN_OPTION");
    expect(err.message).toContain('"n_stepz"');
    expect(err.message).toContain("--attribution-kwargs");
    expect(err.message).toContain('did you mean "n_steps"?');
    expect(err.message).not.toContain("nStepz");
  });

  it("a key of another method lists this method's keys in snake_case", () => {
    expect(() => routeAttributionKwargs({ n_steps: 3 }, "saliency")).toThrow(/"n_steps".*saliency.*internal_batch_size/);
    expect(() => routeAttributionKwargs({ attribution_args: { internal_batch_sise: 3 } }, "saliency")).toThrow(
      /"internal_batch_sise" in attribution_args.*did you mean "internal_batch_size"\?/,
    );
    expect(routeAttributionKwargs({ n_steps: 3, logprob: true, contrast_targets: "x" }, "integrated_gradients")).toEqual({
      methodArgs: { nSteps: 3 }, stepScoresArgs: { logprob: true }, attributedFnArgs: { logprob: true }, contrastTargets: "x",
    });
  });

  it("an unknown --generation-kwargs key, with a suggestion", async () => {
    const err = await failure(makeAttributeCommand, ["-m", noModel, "-i", "a", "--generation-kwargs", '{"max_new_token": 3}']);
    expect(err.code).toBe("ERR_UNKNOWN_OPTION");
    expect(err.message).toContain('"max_new_token"');
    expect(err.message).toContain('did you mean "max_new_tokens"?');
  });

  it("attribute-dataset checks the same keys before reading the dataset", async () => {
    const err = await failure(makeAttributeDatasetCommand, [
      "-d", path.join(tmp, "missing.jsonl"), "-i", "text", "-o", path.join(tmp, "o.jsonl"), "--generation-kwargs", '{"do_smaple": true}',
    ]);
    expect(err.code).toBe("ERR_UNKNOWN_OPTION");
    expect(err.message).toContain('did you mean "do_sample"?');
  });
});

describe("inseq attribute-dataset: output extension", () => {
  it("-o x.txt is refused before reading the dataset; .jsonl and Inseq's .json get as far as the dataset", async () => {
    for (const name of ["x.txt", "x.csv"]) {
      const err = await failure(makeAttributeDatasetCommand, ["-d", path.join(tmp, "missing.jsonl"), "-i", "text", "-o", path.join(tmp, name)]);
      expect(err.code, name).toBe("ERR_INVALID_OPTION");
      expect(err.message).toContain(name);
      expect(err.message).toContain(".jsonl");
      expect(err.message).toContain(".json / .json.gz");
    }
    for (const name of ["x.jsonl.gz", "x.json", "x.json.gz"]) {
      expect((await failure(makeAttributeDatasetCommand, ["-d", path.join(tmp, "missing.jsonl"), "-i", "text", "-o", path.join(tmp, name)])).code, name).toBe("ERR_NOT_FOUND");
    }
  });
});

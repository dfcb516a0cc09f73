/**
 * `inseq attribute-context`: the command line of Inseq's documentation (attribute_context.py's docstring) run
 * unchanged but for the model path (Inseq's snake_case flags), compared with what Python Inseq 0.7.1's own CLI saved
 * on the same tiny model (scripts/reference/make_inseq_context_goldens.py, case cli_docs_example); plus the
 * kebab-case form, the views and the refusals.
 */
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { makeAttributeContextCommand } from "../../lib/cli/commands/attribute-context.js";
import { makeShowCommand } from "../../lib/cli/commands/show.js";
import { AttributeContextOutput } from "../../lib/context/output.js";
import { loadModel } from "../../lib/models/load-model.js";
import { referenceDir, readJson, repoRoot, stories260K, tempDir } from "../helpers.js";
import { failure, runCommand } from "../helpers/cli.js";
import { compareWithGolden } from "../helpers/context-golden.js";

const dir = path.join(repoRoot, "test/fixtures/inseq-golden-context");
const tmp = tempDir("cli-attribute-context");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const index = readJson<{ cases: Array<{ case: string; file: string; argv?: string[]; model: string }> }>(path.join(dir, "index.json"));

describe("inseq attribute-context", () => {
  it("runs Inseq's documented command line and saves what Inseq's CLI saved", async () => {
    const c = index.cases.find((x) => x.case === "cli_docs_example")!;
    const argv = c.argv!.slice(1).map((a) => (a === c.model ? stories260K : a));
    const out = path.join(tmp, "docs.json");
    const html = path.join(tmp, "docs.html");
    const { stdout } = await runCommand(makeAttributeContextCommand, [...argv, "-o", out, "--viz_path", html, "--color", "none"]);
    const golden = AttributeContextOutput.fromDict(readJson(path.join(dir, c.file)));
    const ours = await AttributeContextOutput.load(out);
    // Llama prompt: we skip the <s> row that Inseq includes in the input context scores (docs/attribute-context.md)
    compareWithGolden(ours, golden, c.case, ["input"]);
    // the saved info has Inseq's keys and the command line's values
    const info = ours.info!;
    expect(Object.keys(info).sort()).toEqual(Object.keys(golden.info!).sort());
    expect(info.attributed_fn).toBe("contrast_prob_diff");
    expect(info.save_path).toBe(out);
    expect(info.input_context_text).toBe("George was sick yesterday.");
    // terminal view: every selected token with its score, and the input context cue line
    for (const cci of golden.cciScores) expect(stdout).toContain(`(${cci.ctiScore.toFixed(3)})`);
    expect(stdout).toContain("Input context:");
    const page = readFileSync(html, "utf8");
    expect(page.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(page.match(/class="inseq-cci"/g)?.length).toBe(golden.cciScores.length);
  }, 120_000);

  it("takes the kebab-case flags, --no-show-viz and --no-add-output-info", async () => {
    const out = path.join(tmp, "kebab.json");
    const { stdout } = await runCommand(makeAttributeContextCommand, [
      "--model", referenceDir("gpt2"), "--input-context-text", "George was sick yesterday.", "--input-current-text", "His colleagues asked him to come",
      "--output-current-text", "to the hospital. He said he was fine", "--context-sensitivity-metric", "pcxmi", "--no-show-viz", "--no-add-output-info", "-o", out,
    ]);
    expect(stdout).toBe("");
    const saved = JSON.parse(readFileSync(out, "utf8"));
    expect(saved.info).toBeUndefined();
    // What the library computes with the same options (the Inseq golden of this case is compared in
    // attribute-context-golden.test.ts; tiny GPT-2 tokenizes this output differently alone, see inseqCurrentOffset).
    const model = await loadModel(referenceDir("gpt2"));
    try {
      const library = await model.attributeContext({
        inputContextText: "George was sick yesterday.", inputCurrentText: "His colleagues asked him to come",
        outputCurrentText: "to the hospital. He said he was fine", contextSensitivityMetric: "pcxmi", addOutputInfo: false,
      });
      compareWithGolden(AttributeContextOutput.fromDict(saved), library, "kebab pcxmi");
    } finally {
      await model.dispose();
    }
  }, 120_000);

  it("--handle_output_context_strategy manual without a terminal splits as auto (and says so), as Inseq's auto golden", async () => {
    const c = index.cases.find((x) => x.case === "stories_split")!;
    const out = path.join(tmp, "split.json");
    const { stdout, stderr } = await runCommand(makeAttributeContextCommand, [
      "--model_name_or_path", stories260K, "--input_context_text", "Lily was sad.", "--input_current_text", "Tom said",
      "--output_template", "{context} {current}", "--generation_kwargs", '{"max_new_tokens": 7}', "--context_sensitivity_std_threshold", "0",
      "--handle_output_context_strategy", "manual", "--show_viz", "false", "-o", out,
    ]);
    expect(stderr).toContain("as auto");
    expect(stdout).toBe("");  // --show_viz false
    const golden = AttributeContextOutput.fromDict(readJson(path.join(dir, c.file)));
    const ours = await AttributeContextOutput.load(out);
    expect(ours.outputContext).toBe("Anna");
    compareWithGolden(ours, golden, c.case, ["input", "output"]);
    expect(ours.info!.handle_output_context_strategy).toBe("manual");
  }, 120_000);

  it("routes --attribution-kwargs as attribute does (method options, attributed-function options)", async () => {
    const args = ["--model", referenceDir("gpt2"), "--input-context-text", "George was sick yesterday.", "--input-current-text", "His colleagues asked him to come",
      "--output-current-text", "to the hospital.", "--context-sensitivity-topk", "1", "--no-show-viz", "-a", "integrated_gradients"];
    const a = path.join(tmp, "ig8.json");
    const b = path.join(tmp, "ig32.json");
    await runCommand(makeAttributeContextCommand, [...args, "--attribution_kwargs", '{"n_steps": 8, "logprob": true}', "--attributed-fn", "probability", "-o", a]);
    await runCommand(makeAttributeContextCommand, [...args, "--attribution_kwargs", '{"n_steps": 32}', "-o", b]);
    const [x, y] = [await AttributeContextOutput.load(a), await AttributeContextOutput.load(b)];
    expect(x.info!.attribution_kwargs).toEqual({ n_steps: 8, logprob: true });
    expect(x.cciScores[0]!.ctiIdx).toBe(y.cciScores[0]!.ctiIdx);
    expect(x.cciScores[0]!.inputContextScores).not.toEqual(y.cciScores[0]!.inputContextScores);
  }, 120_000);

  it("--show-intermediate-outputs prints the CTI step scores and each CCI heatmap", async () => {
    const { stdout } = await runCommand(makeAttributeContextCommand, [
      "--model", referenceDir("gpt2"), "--input-context-text", "George was sick yesterday.", "--input-current-text", "His colleagues asked him to come",
      "--output-current-text", "to the hospital.", "--context-sensitivity-topk", "2", "--show-intermediate-outputs", "--no-show-viz", "--color", "none",
    ]);
    expect(stdout.match(/^CTI:$/gm)?.length).toBe(1);
    expect(stdout.match(/^CCI:$/gm)?.length).toBe(2);
    expect(stdout).toContain("kl_divergence");
  }, 120_000);

  it("inseq show renders a saved attribute-context output (ours or Inseq's): terminal and HTML views", async () => {
    const file = path.join(dir, "gpt2_output_context.json");
    const golden = AttributeContextOutput.fromDict(readJson(file));
    const { stdout } = await runCommand(makeShowCommand, [file, "--color", "none"]);
    expect(stdout).toBe(golden.show() + "\n");
    const page = path.join(tmp, "shown.html");
    await runCommand(makeShowCommand, [file, "--out", page]);
    expect(readFileSync(page, "utf8")).toBe(golden.show({ format: "html", title: "inseq: gpt2_output_context.json" }));
  });

  it("refuses an input template without {current} and the interactive-only flag, with codes", async () => {
    const base = ["--model", referenceDir("gpt2"), "--input-current-text", "Hi", "--no-show-viz"];
    const e1 = await failure(makeAttributeContextCommand, [...base, "--input_template", "{context}", "--input-context-text", "x"]);
    expect(e1.code).toBe("ERR_INVALID_OPTION");
    expect(e1.message).toContain("{current}");
    const e3 = await failure(makeAttributeContextCommand, [...base, "--attribution_kwargs", '{"n_stepz": 3}', "-a", "integrated_gradients"]);
    expect(e3.code).toBe("ERR_UNKNOWN_OPTION");
    expect(e3.message).toContain("n_steps");
    const e4 = await failure(makeAttributeContextCommand, [...base, "--attribution_kwargs", '{"contrast_targets": "x"}']);
    expect(e4.code).toBe("ERR_INVALID_OPTION");
    expect(e4.message).toContain("contrastTargets");
    const e2 = await failure(makeAttributeContextCommand, [...base, "--prompt_user_for_contextless_output_next_tokens"]);
    expect(e2.code).toBe("ERR_INVALID_OPTION");
    expect(e2.message).toContain("--contextless-output-next-tokens");  // no terminal under the test runner
  });
});

/**
 * `inseq evaluate` without a model: method specs, the flags -> EvaluateOptions mapping, --help, --from-json
 * rendering, and one run through the command with the model, the set and evaluate() mocked (what reaches
 * evaluate(), what is printed and written, that the model is disposed).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";

import { InseqError } from "../../lib/core/errors.js";
import { DEFAULT_CLI_METHODS, evaluateOptionsFromFlags, makeEvaluateCommand } from "../../lib/cli/commands/evaluate.js";
import { parseMethodList, parseMethodSpec, parseMethodSpecJson, splitTopLevel } from "../../lib/cli/method-spec.js";
import { evaluate } from "../../lib/evaluation/evaluate.js";
import { renderEvaluationHtml } from "../../lib/evaluation/report-html.js";
import { loadEvaluationReport, saveEvaluationReport } from "../../lib/evaluation/report-json.js";
import { formatEvaluationTable } from "../../lib/evaluation/report-table.js";
import { openEvalSet } from "../../lib/evaluation/sets/index.js";
import type { EvaluateOptions } from "../../lib/evaluation/types.js";
import { loadModel } from "../../lib/models/load-model.js";
import { sampleReport } from "../fixtures/evaluation/report.js";
import { tempDir } from "../helpers.js";
import { runCommand } from "../helpers/cli.js";

vi.mock("../../lib/evaluation/evaluate.js", () => ({ evaluate: vi.fn() }));
vi.mock("../../lib/evaluation/sets/index.js", () => ({ openEvalSet: vi.fn() }));
vi.mock("../../lib/models/load-model.js", () => ({ loadModel: vi.fn() }));

const tmp = tempDir("cli-evaluate");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  for (const fn of [loadModel, openEvalSet, evaluate]) vi.mocked(fn).mockReset();
});

/** The InseqError `fn` throws (or rejects with). */
async function caught(fn: () => unknown): Promise<InseqError> {
  let err: unknown = null;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InseqError);
  return err as InseqError;
}

describe("method specs", () => {
  it("method:key=value;key=value -> methodArgs, values parsed as JSON", () => {
    expect(parseMethodSpec("integrated_gradients:nSteps=64;internalBatchSize=8")).toEqual({
      method: "integrated_gradients",
      methodArgs: { nSteps: 64, internalBatchSize: 8 },
    });
  });

  it("scoresLayer picks one layer of a layer axis, in specs and JSON specs", () => {
    expect(parseMethodSpec("value_zeroing:scoresLayer=-1;label=vz-last")).toEqual({ method: "value_zeroing", scoresLayer: -1, label: "vz-last" });
    expect(parseMethodSpecJson('{"method": "attention", "scoresLayer": 2}')).toEqual({ method: "attention", scoresLayer: 2 });
    expect(() => parseMethodSpec("attention:scoresLayer=last")).toThrow(/integer for scoresLayer/);
  });

  it("method+attributedFn", () => {
    expect(parseMethodSpec("saliency+contrast_logits_diff")).toEqual({ method: "saliency", attributedFn: "contrast_logits_diff" });
  });

  it("snake_case keys, string values, JSON values with ; and , inside, step-function options and a label", () => {
    expect(parseMethodSpec("integrated_gradients:n_steps=16;method=gausslegendre;label=ig-16")).toEqual({
      method: "integrated_gradients",
      methodArgs: { nSteps: 16, method: "gausslegendre" },
      label: "ig-16",
    });
    expect(parseMethodSpec("saliency+contrast_prob_diff:logprob=true")).toEqual({
      method: "saliency", attributedFn: "contrast_prob_diff", attributedFnArgs: { logprob: true },
    });
    expect(parseMethodSpec('value_zeroing:decoderZeroedUnitsIndices={"0": [1, 2]};label="a;b"')).toEqual({
      method: "value_zeroing", methodArgs: { decoderZeroedUnitsIndices: { "0": [1, 2] } }, label: "a;b",
    });
    expect(splitTopLevel('a:x=[1,2],b:y="c,d",c', ",")).toEqual(["a:x=[1,2]", 'b:y="c,d"', "c"]);
    expect(parseMethodList("saliency, integrated_gradients:nSteps=64 ,lime:seed=1").map((s) => s.method)).toEqual([
      "saliency", "integrated_gradients", "lime",
    ]);
    expect(parseMethodList("none")).toEqual([]);
  });

  it("an unknown method, step function or key is refused, naming it and the spec", async () => {
    const bad = await caught(() => parseMethodSpec("salency:nSteps=3"));
    expect(bad.code).toBe("ERR_INVALID_OPTION");
    expect(bad.message).toContain('Unknown attribution method "salency"');
    expect(bad.message).toContain('(in the method spec "salency:nSteps=3")');
    expect(bad.message).toContain("integrated_gradients"); // the available ones are listed
    const fn = await caught(() => parseMethodSpec("saliency+contrast_logit_diff"));
    expect(fn.code).toBe("ERR_INVALID_OPTION");
    expect(fn.message).toContain('Unknown step function "contrast_logit_diff"');
    const key = await caught(() => parseMethodSpec("integrated_gradients:nStep=64"));
    expect(key.code).toBe("ERR_UNKNOWN_OPTION");
    expect(key.message).toMatch(/Unknown key "nStep" in the method spec "integrated_gradients:nStep=64"; did you mean "n_steps"\?/);
    const inList = await caught(() => parseMethodList("saliency,attention:nSteps=4"));
    expect(inList.message).toContain('the method spec "attention:nSteps=4"');
    for (const text of ["", "saliency+", "a+b+c", "saliency:nSteps"]) expect((await caught(() => parseMethodSpec(text))).code).toBe("ERR_INVALID_OPTION");
    expect((await caught(() => parseMethodList("saliency,,lime"))).message).toContain("--methods");
  });

  it("--method-spec: a whole MethodSpec as JSON, keys and ids checked", async () => {
    expect(parseMethodSpecJson('{"method": "lime", "methodArgs": {"nSamples": 200}, "label": "lime-200"}')).toEqual({
      method: "lime", methodArgs: { nSamples: 200 }, label: "lime-200",
    });
    expect(parseMethodSpecJson('{"method": "saliency", "attributedFn": "contrast_prob_diff", "attributedFnArgs": {"logprob": true}}')).toEqual({
      method: "saliency", attributedFn: "contrast_prob_diff", attributedFnArgs: { logprob: true },
    });
    expect((await caught(() => parseMethodSpecJson('{"method": "lime", "args": {}}'))).code).toBe("ERR_UNKNOWN_OPTION");
    expect((await caught(() => parseMethodSpecJson('{"method": "lime", "methodArgs": {"logprob": true}}'))).message).toContain('"logprob" in methodArgs');
    expect((await caught(() => parseMethodSpecJson('{"method": "occlude"}'))).message).toContain('"occlude"');
    expect((await caught(() => parseMethodSpecJson("[1]"))).message).toContain("--method-spec");
    expect((await caught(() => parseMethodSpecJson("{method"))).message).toContain("--method-spec");
  });
});

describe("evaluateOptionsFromFlags", () => {
  it("every flag maps to its option", () => {
    const options = evaluateOptionsFromFlags({
      methods: "integrated_gradients:nSteps=64;internalBatchSize=8,saliency+contrast_logits_diff",
      methodSpec: ['{"method": "lime", "label": "lime"}'],
      baselines: "random,oracle",
      replacement: "mean",
      k: "3,1,3",
      aopcMaxK: 4,
      faithfulness: true,
      verifiedOnly: true,
      limit: 10,
      randomization: true,
      randomizationItems: 8,
      completenessThreshold: 0.1,
      seed: 7,
      batchSize: 16,
      includeItems: true,
    });
    expect(options).toEqual({
      methods: [
        { method: "integrated_gradients", methodArgs: { nSteps: 64, internalBatchSize: 8 } },
        { method: "saliency", attributedFn: "contrast_logits_diff" },
        { method: "lime", label: "lime" },
      ],
      baselines: ["random", "oracle"],
      replacement: "mean",
      k: [1, 3],
      aopcMaxK: 4,
      verifiedOnly: true,
      limit: 10,
      randomization: { items: 8 },
      completenessThreshold: 0.1,
      seed: 7,
      batchSize: 16,
      includeItems: true,
    } satisfies EvaluateOptions);
  });

  it("flags not given are left to evaluate()'s defaults; the methods default to DEFAULT_CLI_METHODS", () => {
    expect(evaluateOptionsFromFlags({ faithfulness: true })).toEqual({ methods: parseMethodList(DEFAULT_CLI_METHODS) });
    expect(evaluateOptionsFromFlags({ methodSpec: ['{"method": "saliency"}'] })).toEqual({ methods: [{ method: "saliency" }] });
    expect(evaluateOptionsFromFlags({ methods: "none", baselines: "random" })).toEqual({ methods: [], baselines: ["random"] });
    expect(evaluateOptionsFromFlags({ faithfulness: false, randomization: true })).toMatchObject({ faithfulness: false, randomization: true });
    expect(evaluateOptionsFromFlags({ baselines: "none" }).baselines).toEqual([]);
  });

  it("bad values are refused naming the flag", async () => {
    const cases: [Parameters<typeof evaluateOptionsFromFlags>[0], RegExp][] = [
      [{ methods: "none", baselines: "none" }, /at least one method or baseline/],
      [{ baselines: "random,best" }, /--baselines but received "best"/],
      [{ replacement: "zero" }, /--replacement/],
      [{ k: "1,0" }, /--k/],
      [{ k: "1,x" }, /--k/],
      [{ aopcMaxK: 0 }, /--aopc-max-k/],
      [{ limit: -1 }, /--limit/],
      [{ randomizationItems: 4 }, /--randomization-items needs --randomization/],
      [{ randomization: true, randomizationItems: 0 }, /--randomization-items/],
      [{ completenessThreshold: 0 }, /--completeness-threshold/],
      [{ batchSize: 0 }, /--batch-size/],
      [{ methods: "integrated_gradient" }, /"integrated_gradient"/],
    ];
    for (const [flags, message] of cases) {
      const err = await caught(() => evaluateOptionsFromFlags(flags));
      expect(err.code, JSON.stringify(flags)).toBe("ERR_INVALID_OPTION");
      expect(err.message).toMatch(message);
    }
  });
});

describe("inseq evaluate", () => {
  it("--help documents every flag with its default", () => {
    const cmd = makeEvaluateCommand();
    const help = cmd.helpInformation();
    for (const flag of [
      "--model", "--set", "--methods", "--method-spec", "--baselines", "--replacement", "--k", "--aopc-max-k", "--no-faithfulness",
      "--verified-only", "--limit", "--randomization", "--randomization-items", "--completeness-threshold", "--seed", "--batch-size",
      "--include-items", "--json", "--html", "--from-json", "--color", "--no-color", "--width", "--device", "--offline",
    ]) {
      expect(help).toContain(flag);
    }
    const undocumented = cmd.options.filter((o) => o.defaultValue === undefined && !/default/.test(o.description)).map((o) => o.long);
    expect(undocumented).toEqual([]);
    expect(help).toContain('(default: "grammar")');
    expect(help).toContain('(default: "default")');
  });

  it("--from-json re-renders a saved report (table on stdout, --html and --json written) without loading a model", async () => {
    const saved = path.join(tmp, "saved.json");
    await saveEvaluationReport(sampleReport(), saved);
    const html = path.join(tmp, "out.html");
    const json = path.join(tmp, "copy.json");
    const { stdout } = await runCommand(makeEvaluateCommand, ["--from-json", saved, "--no-color", "--html", html, "--json", json]);
    expect(stdout).toBe(formatEvaluationTable(sampleReport(), { color: false }));
    expect(readFileSync(html, "utf8")).toBe(renderEvaluationHtml(sampleReport()));
    expect(await loadEvaluationReport(json)).toEqual(sampleReport());
    expect(vi.mocked(loadModel)).not.toHaveBeenCalled();

    const colored = await runCommand(makeEvaluateCommand, ["--from-json", saved, "--color", "--width", "80"]);
    expect(colored.stdout).toBe(formatEvaluationTable(sampleReport(), { color: true, width: 80 }));
    vi.stubEnv("NO_COLOR", "1");
    expect((await runCommand(makeEvaluateCommand, ["--from-json", saved])).stdout).toBe(stdout);
    expect((await runCommand(makeEvaluateCommand, ["--from-json", saved, "--quiet"])).stdout).toBe("");
  });

  it("--from-json refuses evaluation flags and bad files", async () => {
    const saved = path.join(tmp, "saved2.json");
    await saveEvaluationReport(sampleReport(), saved);
    const err = await caught(() => runCommand(makeEvaluateCommand, ["--from-json", saved, "--methods", "saliency", "--no-faithfulness"]));
    expect(err.code).toBe("ERR_INVALID_OPTION");
    expect(err.message).toContain("--methods, --no-faithfulness would configure a new evaluation");
    expect((await caught(() => runCommand(makeEvaluateCommand, ["--from-json", path.join(tmp, "nope.json")]))).code).toBe("ERR_NOT_FOUND");
  });

  it("a run: flags checked first, evaluate() called with them, table printed, files written, model disposed", async () => {
    const dispose = vi.fn(async () => {});
    const model = { info: { isEncoderDecoder: false }, dispose };
    vi.mocked(loadModel).mockResolvedValue(model as never);
    const set = { name: "grammar", description: "d", items: [] };
    vi.mocked(openEvalSet).mockResolvedValue(set);
    vi.mocked(evaluate).mockImplementation(async (_m, _s, options) => {
      options?.onProgress?.(1, 2, "saliency");
      options?.onProgress?.(2, 2, "saliency");
      return sampleReport();
    });
    const json = path.join(tmp, "run.json");
    const html = path.join(tmp, "run.html");
    const { stdout } = await runCommand(makeEvaluateCommand, [
      "-m", "some/model", "--set", "winomt-anti:wino.tsv", "--methods", "integrated_gradients:nSteps=8", "--baselines", "random,oracle",
      "--k", "1,2", "--no-faithfulness", "--limit", "6", "--seed", "3", "--no-color", "--json", json, "--html", html, "--device", "cpu",
    ]);
    expect(vi.mocked(loadModel)).toHaveBeenCalledWith("some/model", { device: "cpu", offline: undefined, trustRemoteCode: false });
    expect(vi.mocked(openEvalSet)).toHaveBeenCalledWith("winomt-anti:wino.tsv", { model });
    const [m, s, options] = vi.mocked(evaluate).mock.calls[0]!;
    expect(m).toBe(model);
    expect(s).toBe(set);
    const { onProgress, ...rest } = options!;
    expect(typeof onProgress).toBe("function");
    expect(rest).toEqual({
      methods: [{ method: "integrated_gradients", methodArgs: { nSteps: 8 } }],
      baselines: ["random", "oracle"], k: [1, 2], faithfulness: false, limit: 6, seed: 3,
    });
    expect(dispose).toHaveBeenCalledOnce();
    expect(stdout).toBe(formatEvaluationTable(sampleReport(), { color: false }));
    expect(await loadEvaluationReport(json)).toEqual(sampleReport());
    expect(existsSync(html)).toBe(true);
  });

  it("a bad method spec fails before the model loads; a failing evaluation still disposes the model", async () => {
    const err = await caught(() => runCommand(makeEvaluateCommand, ["--methods", "saliency,gradient_shapp"]));
    expect(err.message).toContain('"gradient_shapp"');
    expect(vi.mocked(loadModel)).not.toHaveBeenCalled();

    const dispose = vi.fn(async () => {});
    vi.mocked(loadModel).mockResolvedValue({ dispose } as never);
    vi.mocked(openEvalSet).mockResolvedValue({ name: "grammar", description: "", items: [] });
    vi.mocked(evaluate).mockRejectedValue(new InseqError("ERR_ABORTED", "stopped"));
    expect((await caught(() => runCommand(makeEvaluateCommand, ["--methods", "saliency"]))).code).toBe("ERR_ABORTED");
    expect(dispose).toHaveBeenCalledOnce();
  });
});

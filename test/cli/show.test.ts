/** `inseq show` and `inseq list`, driven through their commander commands (no model, no addon). */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { InseqError } from "../../lib/core/errors.js";
import { listFeatureAttributionMethods, listStepFunctions } from "../../lib/attribution/registry.js";
import { listAggregationFunctions } from "../../lib/aggregators/functions.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { makeShowCommand, openInBrowser } from "../../lib/cli/commands/show.js";
import { listAggregatorIds, makeListCommand } from "../../lib/cli/commands/list.js";
import { NATIVE_MODEL_TYPES } from "../../lib/models/model-types.js";
import { twoSequenceOutput } from "../fixtures/viz/outputs.js";
import { repoRoot, tempDir } from "../helpers.js";
import { runCommand } from "../helpers/cli.js";

const tmp = tempDir("cli-show");
const saved = path.join(tmp, "run.json");
const savedGz = path.join(tmp, "run.json.gz");
const bin = path.join(tmp, "bin");
const emptyBin = path.join(tmp, "empty-bin");
const opened = path.join(tmp, "opened.txt");

beforeAll(async () => {
  await twoSequenceOutput().save(saved);
  await twoSequenceOutput().save(savedGz, { compress: true });
  mkdirSync(bin);
  mkdirSync(emptyBin);
  // A fake opener that records its argument.
  writeFileSync(path.join(bin, "xdg-open"), `#!/bin/sh\nprintf '%s' "$1" > '${opened}'\n`);
  chmodSync(path.join(bin, "xdg-open"), 0o755);
  writeFileSync(path.join(bin, "failing-open"), "#!/bin/sh\nexit 3\n");
  chmodSync(path.join(bin, "failing-open"), 0o755);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
/** The saved output as loaded back (save sorts the step scores by name, as Python Inseq). */
const loaded = () => FeatureAttributionOutput.loadSync(saved);
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const run = runCommand;

describe("inseq show", () => {
  it("prints the terminal heatmaps of a saved file (plain and gzip)", async () => {
    vi.stubEnv("NO_COLOR", "1");
    const expected = loaded().show({ color: "none" });
    expect((await run(makeShowCommand, [saved])).stdout).toBe(expected);
    expect((await run(makeShowCommand, [savedGz])).stdout).toBe(expected);
    expect((await run(makeShowCommand, [saved, "--color", "truecolor", "--width", "40"])).stdout).toBe(
      loaded().show({ color: "truecolor", width: 40 }),
    );
  });

  it("--format html prints the page; --out *.html writes it", async () => {
    const { stdout } = await run(makeShowCommand, [saved, "--format", "html"]);
    expect(stdout.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(stdout).toContain("<title>inseq: run.json</title>");
    const page = path.join(tmp, "page.html");
    const r = await run(makeShowCommand, [saved, "--out", page]);
    expect(r.stdout).toBe(`${page}\n`);
    expect(readFileSync(page, "utf8")).toBe(stdout);
    const txt = path.join(tmp, "page.txt");
    await run(makeShowCommand, [saved, "--out", txt]);
    expect(readFileSync(txt, "utf8")).toBe(loaded().show({ color: "none" }));
  });

  it("--no-aggregate shows the stored scores", async () => {
    const { stdout } = await run(makeShowCommand, [saved, "--no-aggregate", "--color", "none"]);
    expect(stdout).toContain(" 0.60 ");
    expect(stdout).toBe(loaded().show({ color: "none", aggregate: false }));
  });

  it("--open writes a temporary page, prints its path and runs the opener", async () => {
    vi.stubEnv("PATH", `${bin}:/usr/bin:/bin`);
    vi.stubEnv("BROWSER", undefined);
    if (process.platform !== "linux") return;
    const { stdout, stderr } = await run(makeShowCommand, [saved, "--open"]);
    const file = stdout.trim();
    expect(path.isAbsolute(file)).toBe(true);
    expect(path.basename(file)).toBe("run.html");
    expect(readFileSync(file, "utf8").startsWith("<!DOCTYPE html>")).toBe(true);
    expect(stderr).toBe("");
    await vi.waitFor(() => expect(readFileSync(opened, "utf8")).toBe(file));
    rmSync(path.dirname(file), { recursive: true, force: true });
  });

  it("--open without any opener still succeeds and prints the path", async () => {
    vi.stubEnv("PATH", emptyBin);
    vi.stubEnv("BROWSER", undefined);
    const { stdout, stderr } = await run(makeShowCommand, [saved, "--open", "--out", path.join(tmp, "no-opener.html")]);
    expect(stdout).toBe(`${path.join(tmp, "no-opener.html")}\n`);
    expect(existsSync(path.join(tmp, "no-opener.html"))).toBe(true);
    if (process.platform === "linux") expect(stderr).toMatch(/could not open a browser \(xdg-open not found\); open .*no-opener\.html yourself/);
  });

  it("--open with --format terminal is refused; a missing file is ERR_NOT_FOUND", async () => {
    await expect(run(makeShowCommand, [saved, "--open", "--format", "terminal"])).rejects.toThrow(InseqError);
    await expect(run(makeShowCommand, [path.join(tmp, "missing.json")])).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
  });
});

describe("inseq show on an attribute-dataset output (.jsonl)", () => {
  /** Records of rows 3 and 7 (one sequence each), as attribute-dataset writes them. */
  const records = path.join(tmp, "run.jsonl");
  const single = (k: number) => {
    const out = twoSequenceOutput();
    return new FeatureAttributionOutput([out.sequenceAttributions[k]!], { ...out.info, input_texts: [(out.info.input_texts as string[])[k]] });
  };
  beforeAll(() => {
    writeFileSync(records, [3, 7].map((index, k) => JSON.stringify({ index, input_text: "x", generated_text: "y", attribution: single(k).toJSON() }) + "\n").join(""));
  });

  it("--index N shows the record of dataset row N", async () => {
    const r7 = await run(makeShowCommand, [records, "--index", "7", "--color", "none"]);
    expect(r7.stdout).toBe(single(1).show({ color: "none" }));
    const r3 = await run(makeShowCommand, [records, "--index", "3", "--format", "html"]);
    expect(r3.stdout).toContain("<title>inseq: run.jsonl</title>");
  });

  it("without --index (or with a row it does not hold) the error says what to do", async () => {
    const err = (await run(makeShowCommand, [records]).catch((e: unknown) => e)) as InseqError;
    expect(err).toBeInstanceOf(InseqError);
    expect(err.code).toBe("ERR_INVALID_OPTION");
    expect(err.message).toContain("--index");
    expect(err.message).toContain(`inseq merge ${records} -o`);
    const missing = (await run(makeShowCommand, [records, "--index", "4"]).catch((e: unknown) => e)) as InseqError;
    expect(missing.code).toBe("ERR_INVALID_OPTION");
    expect(missing.message).toMatch(/holds \(rows 3, 7\) for --index but received 4$/);
    // --index on a single Inseq JSON file is a mistake too.
    await expect(run(makeShowCommand, [saved, "--index", "0"])).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("--index") });
  });
});

describe("openInBrowser", () => {
  it("reports a missing opener, a failing opener, and honours $BROWSER", async () => {
    expect(await openInBrowser("/x.html", { platform: "linux", env: { PATH: emptyBin } })).toEqual({
      opened: false,
      command: "xdg-open /x.html",
      reason: "xdg-open not found",
    });
    const failing = await openInBrowser("/x.html", { platform: "linux", env: { PATH: bin, BROWSER: "failing-open" } });
    expect(failing).toMatchObject({ opened: false, command: "failing-open /x.html", reason: "failing-open exited with 3" });
    expect(await openInBrowser("/y.html", { platform: "linux", env: { PATH: bin } })).toEqual({ opened: true, command: "xdg-open /y.html" });
    await vi.waitFor(() => expect(readFileSync(opened, "utf8")).toBe("/y.html"));
    expect((await openInBrowser("/z.html", { platform: "darwin", env: { PATH: emptyBin } })).command).toBe("open /z.html");
  });
});

describe("inseq list", () => {
  it("lists one kind per line, or everything under headings", async () => {
    expect((await run(makeListCommand, ["methods"])).stdout).toBe(listFeatureAttributionMethods().join("\n") + "\n");
    expect((await run(makeListCommand, ["step-functions"])).stdout).toBe(listStepFunctions().join("\n") + "\n");
    const fns = (await run(makeListCommand, ["aggregation-functions"])).stdout.trim().split("\n");
    expect(fns).toEqual(expect.arrayContaining(listAggregationFunctions()));
    const aggs = (await run(makeListCommand, ["aggregators"])).stdout.trim().split("\n");
    expect(aggs).toContain("scores");
    const all = (await run(makeListCommand, [])).stdout;
    expect(all).toMatch(/^methods:\n {2}dummy\n {2}saliency\n/);
    for (const h of ["step-functions:", "aggregators:", "aggregation-functions:"]) expect(all).toContain(`\n\n${h}\n`);
    const long = (await run(makeListCommand, ["methods", "--long"])).stdout;
    expect(long).toMatch(/^dummy\s+No attributions; computes only step scores\.$/m);
    await expect(run(makeListCommand, ["widgets"])).rejects.toThrow(/widgets/);
  });

  it("models: the natively implemented model types of both kinds, the TorchScript route for the rest", async () => {
    const ids = [...NATIVE_MODEL_TYPES["decoder-only"], ...NATIVE_MODEL_TYPES["encoder-decoder"]];
    expect((await run(makeListCommand, ["models"])).stdout).toBe(ids.join("\n") + "\n");
    expect(ids).toEqual(expect.arrayContaining(["gpt2", "llama", "qwen2", "bart", "marian"]));
    const long = (await run(makeListCommand, ["models", "--long"])).stdout;
    expect(long).toMatch(/^llama\s+decoder-only, native$/m);
    expect(long).toMatch(/^bart\s+encoder-decoder, native$/m);
    expect(long).toMatch(/any other model_type: export it as a TorchScript bundle with tools\/export-torchscript/);
    expect(JSON.parse((await run(makeListCommand, ["models", "--json"])).stdout)).toEqual(ids);
    expect((await run(makeListCommand, [])).stdout).toContain("\n\nmodels:\n  gpt2\n");
  });

  it("--json", async () => {
    expect(JSON.parse((await run(makeListCommand, ["methods", "--json"])).stdout)).toEqual(listFeatureAttributionMethods());
    const all = JSON.parse((await run(makeListCommand, ["--json"])).stdout);
    expect(Object.keys(all)).toEqual(["methods", "step-functions", "aggregators", "aggregation-functions", "models"]);
  });

  it("aggregator ids come from the registry module when there is one, else from functions.ts", async () => {
    const notFound = Object.assign(new Error("Cannot find module 'registry.js'"), { code: "ERR_MODULE_NOT_FOUND" });
    expect(await listAggregatorIds(() => Promise.reject(notFound))).toEqual({
      aggregators: ["scores"],
      aggregationFunctions: listAggregationFunctions(),
    });
    expect(
      await listAggregatorIds(async () => ({ listAggregators: () => ["scores", "spans"], listAggregationFunctions: () => ["mean"] })),
    ).toEqual({ aggregators: ["scores", "spans"], aggregationFunctions: ["mean"] });
    await expect(listAggregatorIds(() => Promise.reject(new SyntaxError("Unexpected token")))).rejects.toThrow(SyntaxError);
    // The real loader works whether or not lib/aggregators/registry.ts exists, and uses it when it does.
    const real = await listAggregatorIds();
    expect(real.aggregators).toContain("scores");
    expect(real.aggregationFunctions).toContain("vnorm");
    if (existsSync(path.join(repoRoot, "lib/aggregators/registry.ts"))) {
      const spec = "../../lib/aggregators/registry.js";
      const registry = (await import(/* @vite-ignore */ spec)) as { listAggregators?: () => string[] };
      if (registry.listAggregators) expect(real.aggregators).toEqual(registry.listAggregators());
    }
  });
});

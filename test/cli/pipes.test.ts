/**
 * The built CLI (`dist/cli/index.js`; run `npm run build:ts` first) writing to a closed pipe: `inseq show big.json |
 * head -1` and friends end quietly with the command's own status, never an EPIPE stack. No model, no addon.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { wideOutput } from "../fixtures/viz/outputs.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { repoRoot, tempDir } from "../helpers.js";

const cli = path.join(repoRoot, "dist/cli/index.js");
const tmp = tempDir("cli-pipes");
const big = path.join(tmp, "big.json");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(async () => {
  // About 1 MB of terminal tables: far more than a pipe buffer holds.
  const seqs = Array.from({ length: 60 }, () => wideOutput(40).sequenceAttributions[0]!);
  await new FeatureAttributionOutput(seqs, { attribution_method: "saliency" }).save(big);
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `close` ("stdout" / "stderr") closed by the reader: after its first chunk, or at once. */
function runClosing(args: string[], close: "stdout" | "stderr"): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    const r: Run = { code: null, signal: null, stdout: "", stderr: "" };
    if (close === "stdout") {
      child.stdout.once("data", (d) => {
        r.stdout += d;
        child.stdout.destroy();
      });
      child.stderr.on("data", (d) => (r.stderr += d));
    } else {
      child.stderr.destroy();
      child.stdout.on("data", (d) => (r.stdout += d));
    }
    child.on("close", (code, signal) => resolve({ ...r, code, signal }));
  });
}

describe("closed pipes", () => {
  it("the CLI is built", () => {
    expect(existsSync(cli), "run `npm run build:ts` first").toBe(true);
  });

  it("`inseq show big.json | head -1`: status 0, nothing on stderr", async () => {
    for (const args of [[big], [big, "--color", "truecolor"], [big, "--format", "html"]]) {
      const r = await runClosing(["show", ...args], "stdout");
      expect(r, args.join(" ")).toMatchObject({ code: 0, signal: null, stderr: "" });
      expect(r.stdout.length).toBeGreaterThan(0);
    }
  });

  it("a closed stderr loses the messages, not the work: the command finishes with its own status", async () => {
    const out = path.join(tmp, "tables.txt");
    const ok = await runClosing(["show", big, "--out", out], "stderr");  // prints "wrote ..." to stderr
    expect(ok).toMatchObject({ code: 0, signal: null });
    expect(readFileSync(out, "utf8")).toBe(FeatureAttributionOutput.loadSync(big).show({ color: "none" }));
    const failed = await runClosing(["show", path.join(tmp, "missing.json")], "stderr");
    expect(failed).toMatchObject({ code: 1, signal: null });
  });
});

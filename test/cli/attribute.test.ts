// `inseq attribute` end to end on the bundled model, in-process: --color / --width as in `show`, -o refusing to
// replace a file without --overwrite, and Inseq's snake_case keyword arguments kept as written in the saved info.
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { makeAttributeCommand } from "../../lib/cli/commands/attribute.js";
import { tempDir, testDevice } from "../helpers.js";
import { runCommand } from "../helpers/cli.js";

const tmp = tempDir("cli-attribute-model");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
const base = ["-i", "the window beside the blue letters", "-g", "the window beside the blue letters was small .", "--device", testDevice];

describe("inseq attribute", () => {
  it("--color and --width shape the printed heatmap", async () => {
    const { stdout } = await runCommand(makeAttributeCommand, [...base, "--color", "256", "--width", "32"]);
    expect(stdout).toMatch(/\x1b\[48;5;\d+;38;5;\d+m/);
    expect(stdout).not.toMatch(/\x1b\[48;2;/);
    expect(stdout).toContain("(columns 0–");
    for (const line of stripAnsi(stdout).split("\n")) expect(line.length, line).toBeLessThanOrEqual(32);
    const plain = await runCommand(makeAttributeCommand, [...base, "--color", "none"]);
    expect(plain.stdout).not.toContain("\x1b");
  });

  it("--top-k, --page and --page-rows page the printed heatmap as in `show`", async () => {
    const top = (await runCommand(makeAttributeCommand, [...base, "--color", "none", "--top-k", "2"])).stdout;
    expect(top).toContain("top 2 of ");
    const rows = top.split("\n").filter((l) => /^│\s*\d+\s*│/.test(l));  // token rows start with their original index
    expect(rows.length).toBe(2);
    const page = (await runCommand(makeAttributeCommand, [...base, "--color", "none", "--page-rows", "3", "--page", "2"])).stdout;
    expect(page).toMatch(/\(page 2 of \d+: rows 3–5 of \d+/);
  });

  it("-o writes snake_case kwargs into info and refuses to replace the file without --overwrite", async () => {
    const out = path.join(tmp, "out.json");
    const args = [...base, "-a", "integrated_gradients", "--attribution-kwargs", '{"n_steps": 2, "internal_batch_size": 4}', "--hide", "-o", out];
    await runCommand(makeAttributeCommand, args);
    const info = JSON.parse(readFileSync(out, "utf8")).attributes.info;
    expect(info.attribution_args).toEqual({ n_steps: 2, internal_batch_size: 4 });
    await expect(runCommand(makeAttributeCommand, args)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("--overwrite") });
    await runCommand(makeAttributeCommand, [...args, "--overwrite"]);
    expect(JSON.parse(readFileSync(out, "utf8")).attributes.info.attribution_method).toBe("integrated_gradients");
  });
});

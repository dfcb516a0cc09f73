/** `inseq show --page/--page-rows/--top-k` on a saved long output (no model, no addon). */
import { rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeShowCommand } from "../../lib/cli/commands/show.js";
import { longOutput } from "../fixtures/viz/long-output.js";
import { tempDir } from "../helpers.js";
import { runCommand } from "../helpers/cli.js";

const tmp = tempDir("cli-show-long");
const saved = path.join(tmp, "long.json.gz");
beforeAll(async () => {
  await longOutput(1000).save(saved, { compress: true, scoresPrecision: "float16" });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("inseq show on a 1,000-token map", () => {
  it("pages by default, --page and --page-rows choose the block, --top-k 1 keeps the hot row (7)", async () => {
    const first = (await runCommand(makeShowCommand, [saved, "--no-aggregate", "--width", "90"])).stdout;
    expect(first).toMatch(/page 1 of \d+ \(25 row blocks x \d+ column groups\) shown/);
    const page = (await runCommand(makeShowCommand, [saved, "--no-aggregate", "--width", "90", "--page-rows", "10", "--page", "3"])).stdout;
    expect(page).toMatch(/\(page 3 of \d+: rows 0–9 of 1000, columns \d+–\d+ of 1000\)/);
    const top = (await runCommand(makeShowCommand, [saved, "--no-aggregate", "--width", "90", "--top-k", "1"])).stdout;
    expect(top).toContain("top 1 of 1000 rows by total |score|");
    const indices = top.split("\n").filter((l) => l.startsWith("│") && !l.includes("probability")).map((l) => l.split("│")[1]!.trim());
    expect(new Set(indices)).toEqual(new Set(["7"]));
  });
});

// What the docs say is supported matches the code's tables: every attribution method is documented, every native
// model type is named in README's Models section, and no "not supported yet" claim survives for what works.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { listFeatureAttributionMethods } from "../../lib/attribution/registry.js";
import { NATIVE_MODEL_TYPES } from "../../lib/models/model-types.js";
import { ErrorCode } from "../../lib/core/errors.js";
import { repoRoot } from "../helpers.js";

const attributionDoc = readFileSync(path.join(repoRoot, "docs/attribution.md"), "utf8");
const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");

/** The text of a `## title` section (up to the next heading of the same or a higher level). */
function section(md: string, title: string): string {
  const start = md.search(new RegExp(`^(#+) ${title}\\s*$`, "m"));
  expect(start, `section "${title}"`).toBeGreaterThanOrEqual(0);
  const level = /^#+/.exec(md.slice(start))![0].length;
  const rest = md.slice(start).split("\n").slice(1).join("\n");
  const end = rest.search(new RegExp(`^#{1,${level}} `, "m"));
  return end < 0 ? rest : rest.slice(0, end);
}

describe("support claims in the docs", () => {
  it("docs/attribution.md says nothing is 'not supported yet' (encoder-decoders, value zeroing and bundles work)", () => {
    expect(attributionDoc).not.toMatch(/not (yet )?supported( yet)?:/i);
    expect(attributionDoc).not.toMatch(/not supported yet/i);
    // the three named in the old claim are each documented where they work
    expect(section(attributionDoc, "Encoder-decoders")).toContain("Seq2SeqModel.attribute");
    expect(section(attributionDoc, "Methods")).toMatch(/^\| `value_zeroing` \|/m);
    expect(attributionDoc).toContain("TorchScript bundles");
    expect(attributionDoc).toContain("docs/torchscript.md");
  });

  it("every registered attribution method is a row of the methods table", () => {
    const table = section(attributionDoc, "Methods");
    for (const id of listFeatureAttributionMethods()) expect(table, id).toMatch(new RegExp(`^\\| [^|]*\`${id}\``, "m"));
  });

  it("README's Models section names every native model type of each kind", () => {
    const models = section(readme, "Models");
    for (const type of Object.values(NATIVE_MODEL_TYPES).flat()) expect(models, type).toContain(`\`${type}\``);
  });
});

describe("error codes", () => {
  it("every code the library can throw is a row of README's error table", () => {
    const lines = readme.split("\n");
    const start = lines.findIndex((l) => /^\| code \| when \|/.test(l));
    expect(start).toBeGreaterThan(-1);
    const end = lines.findIndex((l, i) => i > start && !l.startsWith("|"));
    const table = lines.slice(start + 2, end).join("\n");
    const documented = new Set([...table.matchAll(/^\|([^|]*)\|/gm)].flatMap((m) => [...m[1]!.matchAll(/`(ERR_\w+)`/g)].map((c) => c[1]!)));
    expect([...Object.values(ErrorCode)].filter((c) => !documented.has(c))).toEqual([]);
  });
});

/**
 * Python Inseq 0.7.1's own `inseq attribute` command lines (test/fixtures/cli-parity/cases.json, snake_case flags,
 * aggregators × selectors with normalize / rescale), run unchanged by our CLI on the tiny GPT-2 and BART fixtures: the saved
 * outputs equal the ones Python Inseq's CLI saved (scripts/reference/make_cli_parity.py).
 */
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { makeAttributeCommand } from "../../lib/cli/commands/attribute.js";
import { makeAttributeDatasetCommand } from "../../lib/cli/commands/attribute-dataset.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { nanAwareMaxDiff, referenceDir, repoRoot, tempDir } from "../helpers.js";
import { runCommand } from "../helpers/cli.js";

const dir = path.join(repoRoot, "test/fixtures/cli-parity");
const doc = JSON.parse(readFileSync(path.join(dir, "cases.json"), "utf8"));
const cases = doc.cases as Record<string, string[]>;
const datasetCases = doc.datasetCases as Record<string, string[]>;
const tmp = tempDir("cli-inseq-golden");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BART = path.join(repoRoot, "test/fixtures/reference-seq2seq/bart");
const load = (file: string) => FeatureAttributionOutput.fromJSON(JSON.parse(readFileSync(file, "utf8")));

describe("Inseq's command lines give Inseq's saved outputs", () => {
  const runs = [
    ...Object.entries(cases).map(([name, args]) => ({ name, args, make: makeAttributeCommand })),
    // attribute-dataset with --save_path x.json: one Inseq JSON document, as Inseq's.
    ...Object.entries(datasetCases).map(([name, args]) => ({ name, args, make: makeAttributeDatasetCommand })),
  ];
  for (const { name, args, make } of runs) {
    it(name, async () => {
      const out = path.join(tmp, `${name}.json`);
      const data = path.join(dir, "prompts.jsonl");
      await runCommand(make, args.map((a) => a.replace("{model}", referenceDir("gpt2")).replace("{bart}", BART).replace("{out}", out).replace("{data}", data)));
      const got = load(out);
      let want = load(path.join(dir, `${name}.json`));
      // Without aggregators Inseq saves the granular [target, generated, hidden] tensor; ours reduces the hidden axis on the
      // device, which equals Inseq's default aggregation of it (docs/attribution.md, Results): compare with that.
      const granularSaved = (o: FeatureAttributionOutput) => o.sequenceAttributions[0]!.targetAttributions?.shape.length === 3;
      if (granularSaved(want) && !granularSaved(got)) want = want.aggregate();
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) {
        const [g, w] = [got.sequenceAttributions[i]!, want.sequenceAttributions[i]!];
        expect(g.target.map((t) => t.token)).toEqual(w.target.map((t) => t.token));
        expect([g.attrPosStart, g.attrPosEnd]).toEqual([w.attrPosStart, w.attrPosEnd]);
        expect(g.source.map((t) => t.token)).toEqual(w.source.map((t) => t.token));
        for (const f of ["sourceAttributions", "targetAttributions"] as const) {
          expect(g[f]?.shape, f).toEqual(w[f]?.shape);
          if (w[f]) expect(nanAwareMaxDiff(g[f]!.data, w[f]!.data), f).toBeLessThan(1e-5);
        }
        expect(Object.keys(g.stepScores).sort()).toEqual(Object.keys(w.stepScores).sort());
        for (const k of Object.keys(w.stepScores)) expect(nanAwareMaxDiff(g.stepScores[k]!, w.stepScores[k]!), k).toBeLessThan(1e-5);
      }
      for (const key of ["attribution_method", "attribution_args", "step_scores", "attr_pos_start", "attr_pos_end"]) {
        expect(got.info[key], key).toEqual(want.info[key]);
      }
    });
  }
});

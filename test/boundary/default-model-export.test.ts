// The documented subpath export `inseq/default-model`: it resolves from an installed package through the exports
// map (code and types), works without the addon, and ships without the corpus tools; the addon no longer carries
// the trainer (tools/default-model/train/ builds a separate executable, inseq-train).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

import { analyzeSentence, evalSetPath, loadEvalSet } from "../../lib/default-model/index.js";
import { defaultModelDir } from "../../lib/index.js";
import { locateAddon, native } from "../../lib/native/load.js";
import { InseqError } from "../../lib/core/errors.js";
import { repoRoot, tempDir } from "../helpers.js";

/** Expects `fn` to throw an InseqError of `code` whose message mentions `mention`. */
function expectCode(fn: () => unknown, code: string, mention: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InseqError);
  expect((err as InseqError).code).toBe(code);
  expect((err as InseqError).message).toContain(mention);
}

/** A consumer app whose node_modules/inseq is this checkout (as an installed package is found). */
let app = "";

beforeAll(() => {
  app = tempDir("default-model-export");
  mkdirSync(path.join(app, "node_modules"));
  symlinkSync(repoRoot, path.join(app, "node_modules/inseq"), "dir");
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
});

const PROBE = `
  import { readFileSync } from "node:fs";
  import * as dm from "inseq/default-model";
  const evalSet = dm.loadEvalSet();
  // the parse of a sentence carries no verified marks: those are the shipped model's causal checks
  const unverified = (e) => ({ ...e, dependencies: e.dependencies.map(({ verified, ...d }) => d) });
  const roundTrips = evalSet.filter((e) => JSON.stringify(dm.analyzeSentence(e.text)) === JSON.stringify(unverified(e))).length;
  const marked = evalSet.filter((e) => e.dependencies.every((d) => typeof d.verified === "boolean")).length;
  const maps = readFileSync("/proc/self/maps", "utf8");
  console.log(JSON.stringify({
    resolved: import.meta.resolve("inseq/default-model"),
    exports: Object.keys(dm).sort(),
    check: dm.checkSentence("mary went to the park because she was tired ."),
    wrong: dm.checkSentence("mary went to the park because he was tired ."),
    size: evalSet.length, roundTrips, marked, evalSetPath: dm.evalSetPath(),
    nativeLoaded: /inseq\\.node|libtorch|tokenizers/.test(maps),
  }));`;

describe("inseq/default-model (subpath export)", () => {
  it("resolves from the installed package and checks sentences and loads the eval set, loading no native code", () => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", PROBE], { cwd: app, encoding: "utf8" });
    const r = JSON.parse(out.trim().split("\n").at(-1)!);
    expect(r.resolved).toBe(pathToFileURL(path.join(repoRoot, "dist/default-model/index.js")).href);
    for (const name of ["checkSentence", "analyzeSentence", "loadEvalSet", "evalSetPath", "generateExample", "mulberry32", "vocabulary", "lookupWord", "templateNames", "describeTemplates", "categoryEntries"]) {
      expect(r.exports).toContain(name);
    }
    // the corpus generator, the corpus writer and the tokenizer builder are tools, not package API
    for (const name of ["generateCorpus", "writeCorpusFiles", "buildTokenizerFiles", "evalSeed"]) expect(r.exports).not.toContain(name);
    expect(r.check).toEqual({ grammatical: true, template: "pronoun_name" });
    expect(r.wrong.grammatical).toBe(false);
    expect(r.size).toBe(1000);
    expect(r.roundTrips).toBe(1000);  // every example is its sentence's parse: the ground truth checks out
    expect(r.marked).toBe(1000);      // and each dependency says whether the model's causal check passed
    expect(r.evalSetPath).toBe(path.join(defaultModelDir(), "grammar/eval.jsonl"));
    expect(r.nativeLoaded).toBe(false);
  });

  it("types resolve through the exports map for a strict NodeNext consumer (no skipLibCheck, no node types)", () => {
    writeFileSync(path.join(app, "consumer.ts"), `
      import { checkSentence, loadEvalSet, type GrammarExample } from "inseq/default-model";
      const examples: GrammarExample[] = loadEvalSet();
      const ok: boolean = checkSentence(examples[0]!.text).grammatical;
      // @ts-expect-error the corpus generator is not exported
      import("inseq/default-model").then((m) => m.generateCorpus);
      export { ok };
    `);
    writeFileSync(path.join(app, "tsconfig.json"), JSON.stringify({
      compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, types: [], skipLibCheck: false },
      files: ["consumer.ts"],
    }));
    execFileSync(process.execPath, [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", app], { cwd: app, encoding: "utf8" });
  });

  it("the package ships the subpath's files and none of the corpus or training tools", () => {
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));
    const [pack] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: repoRoot, encoding: "utf8" }));
    const files: string[] = pack.files.map((f: { path: string }) => f.path);
    for (const f of ["index.js", "index.d.ts", "grammar.js", "eval-set.js"]) expect(files).toContain(`dist/default-model/${f}`);
    expect(files).toContain("models/default/grammar/eval.jsonl");
    expect(files.filter((f) => /corpus|^tools\/default-model\/|^native\/train\/|train_worker|^build\//.test(f))).toEqual([]);
    // the tokenizer builder's source left lib/ (a dist/ built before the move may still hold its output, which
    // prepack's clean build leaves out of a published tarball)
    expect(existsSync(path.join(repoRoot, "lib/default-model/tokenizer-json.ts"))).toBe(false);
    expect(manifest.scripts.prepack).toMatch(/^node -e "fs\.rmSync\('dist'/);
    expect(manifest.exports["./default-model"]).toEqual({ types: "./dist/default-model/index.d.ts", default: "./dist/default-model/index.js" });
  });

  it("loadEvalSet and evalSetPath name the file or option they reject", () => {
    expect(loadEvalSet().length).toBe(1000);
    const [first] = loadEvalSet();
    expect(first!.dependencies.map((d) => d.verified)).toEqual([true]); // the shipped model's causal check
    expect(analyzeSentence(first!.text)).toEqual({ ...first, dependencies: first!.dependencies.map(({ verified: _, ...d }) => d) });
    expectCode(() => loadEvalSet(app), "ERR_NOT_FOUND", path.join(app, "grammar/eval.jsonl"));
    expectCode(() => evalSetPath(""), "ERR_INVALID_OPTION", "modelDir");
    const bad = tempDir("bad-eval");
    mkdirSync(path.join(bad, "grammar"));
    writeFileSync(path.join(bad, "grammar/eval.jsonl"), `${readFileSync(evalSetPath(), "utf8").split("\n")[0]}\n{"text": 1}\n`);
    expectCode(() => loadEvalSet(bad), "ERR_BAD_DATASET", "line 2");
    writeFileSync(path.join(bad, "grammar/eval.jsonl"), "not json\n");
    expectCode(() => loadEvalSet(bad), "ERR_BAD_DATASET", "line 1");
  });
});

describe("the addon", () => {
  it("has no trainer: no trainCausalLM export and none of the trainer's code linked in", () => {
    const binding = native() as unknown as Record<string, unknown>;
    expect(typeof binding.loadModel).toBe("function");
    expect("trainCausalLM" in binding).toBe(false);
    const bytes = readFileSync(locateAddon().addon);
    for (const text of ["Every training sequence needs at least two tokens", "Training was aborted", "trainCausalLM"]) {
      expect(bytes.includes(text), text).toBe(false);
    }
  });
});

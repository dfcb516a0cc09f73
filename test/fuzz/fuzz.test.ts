// Issue 10 acceptance: a seeded corpus of mutated inputs (safetensors, config.json, tokenizer files, runtime ids
// and options, TorchScript bundles, encoder-decoder configs, sharded indexes), each run in its own child process
// (test/fuzz/run-case.mjs against dist/), with 0 crashes, 0 hangs, 0 silent acceptances of an invalid value, 0
// rejections of a valid one, and every rejection carrying a code from the README's error-code table (ERR_NATIVE
// never counts as documented) and, where the case names one, the expected code.
//
// Reproduce / extend:
//   INSEQ_FUZZ_SEED=<n>    corpus seed (default 10)
//   INSEQ_FUZZ_CASES=<n>   number of cases (default: one round over every template, at least 200; more cases
//                          start further rounds with fresh random offsets, tensors, positions and bases)
//   INSEQ_FUZZ_ONLY=<s>    only the cases whose id contains <s>
//   INSEQ_FUZZ_LOG=<file>  write every case with its child's result line and time (JSONL)
//   One case by hand: node test/fuzz/run-case.mjs '<case JSON printed in the failure report>'
// Needs dist/ (npm run build:ts).
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { repoRoot } from "../helpers.js";
import { CASE_TIMEOUT_MS, classify, documentedCodes, type Run } from "./classify.js";
import { buildCorpus, templateCount, type FuzzCase } from "./corpus.js";

const SEED = Number(process.env.INSEQ_FUZZ_SEED ?? 10);
const COUNT = Number(process.env.INSEQ_FUZZ_CASES ?? Math.max(200, templateCount()));
const ONLY = process.env.INSEQ_FUZZ_ONLY;
const CONCURRENCY = 2;
const runner = path.join(repoRoot, "test/fuzz/run-case.mjs");

function runCase(c: FuzzCase): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [runner, JSON.stringify(c)], {
      env: { ...process.env, OMP_NUM_THREADS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, CASE_TIMEOUT_MS);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, timedOut, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

async function pool<T, R>(items: T[], n: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await f(items[i]!);
      }
    }),
  );
  return results;
}

describe("fuzz corpus (issue 10 acceptance)", () => {
  it("the README error-code table parses", () => {
    const codes = documentedCodes(readFileSync(path.join(repoRoot, "README.md"), "utf8"));
    expect(codes.has("ERR_INVALID_OPTION")).toBe(true);
    expect(codes.has("ERR_UNKNOWN_OPTION")).toBe(true);
    expect(codes.has("ERR_TORCH")).toBe(true);
    expect(codes.has("ERR_NATIVE")).toBe(false);
  });

  it("the classifier tells crashes, hangs, silent acceptances and codes apart", () => {
    const documented = new Set(["ERR_INVALID_OPTION", "ERR_BAD_CHECKPOINT"]);
    const bad: FuzzCase = { id: "x", category: "config", base: "b", mutations: [], action: { kind: "smoke" }, invalid: true, expectCodes: ["ERR_BAD_CHECKPOINT"], mention: ["rope_theta"] };
    const good: FuzzCase = { ...bad, invalid: false, expectCodes: undefined, mention: undefined };
    const run = (over: Partial<Run>): Run => ({ status: 0, signal: null, timedOut: false, stdout: "", stderr: "", ms: 1, ...over });
    const line = (r: object) => `${JSON.stringify(r)}\n`;
    const kinds = (c: FuzzCase, r: Run) => classify(c, r, documented).map((f) => f.failure);
    expect(kinds(bad, run({ status: null, signal: "SIGFPE" }))).toEqual(["crash"]);
    expect(kinds(bad, run({ status: 1, stderr: "TypeError: x\n    at f (file:///a.js:1:2)\n" }))).toEqual(["crash"]);
    expect(kinds(bad, run({ timedOut: true, status: null, signal: "SIGKILL" }))).toEqual(["hang"]);
    expect(kinds(bad, run({ status: 3 }))).toEqual(["harness error"]);
    expect(kinds(bad, run({ stdout: line({ outcome: "ok" }) }))).toEqual(["silent acceptance"]);
    expect(kinds(good, run({ stdout: line({ outcome: "ok" }) }))).toEqual([]);
    expect(kinds(good, run({ stdout: line({ outcome: "rejected", code: "ERR_INVALID_OPTION", message: "m" }) }))).toEqual(["valid input rejected"]);
    expect(kinds(bad, run({ stdout: line({ outcome: "rejected", code: "ERR_NATIVE", message: "m" }) }))).toEqual(["undocumented code"]);
    expect(kinds(bad, run({ stdout: line({ outcome: "rejected", code: null, name: "TypeError", message: "m" }) }))).toEqual(["undocumented code"]);
    expect(kinds(bad, run({ stdout: line({ outcome: "rejected", code: "ERR_INVALID_OPTION", message: "rope_theta" }) }))).toEqual(["unexpected code"]);
    expect(kinds(bad, run({ stdout: line({ outcome: "rejected", code: "ERR_BAD_CHECKPOINT", message: "sizes must be positive" }) }))).toEqual(["message lacks name"]);
    expect(kinds(bad, run({ stdout: line({ outcome: "rejected", code: "ERR_BAD_CHECKPOINT", message: "rope_theta must be positive" }) }))).toEqual([]);
    // A warning on stderr is not a stack.
    expect(kinds(good, run({ stdout: line({ outcome: "ok" }), stderr: "(node:12) [INSEQ_W] Warning: x\n" }))).toEqual([]);
  });

  it("the corpus is seeded, labelled both ways and covers every category", () => {
    const a = buildCorpus(SEED, COUNT);
    expect(a.length).toBeGreaterThanOrEqual(200);
    expect(JSON.stringify(buildCorpus(SEED, COUNT))).toBe(JSON.stringify(a));
    expect(JSON.stringify(buildCorpus(SEED + 1, COUNT))).not.toBe(JSON.stringify(a));
    for (const cat of ["safetensors", "config", "encdec-config", "tokenizer", "ids", "options", "bundle", "sharded"]) {
      const of = a.filter((c) => c.category === cat);
      expect(of.some((c) => c.invalid), `${cat} has invalid cases`).toBe(true);
      expect(of.some((c) => !c.invalid), `${cat} has valid cases`).toBe(true);
    }
  });

  it(`${COUNT} mutated inputs, one child process each: no crash, hang, silent acceptance or undocumented code`, async () => {
    expect(existsSync(path.join(repoRoot, "dist/index.js")), "run `npm run build:ts` first").toBe(true);
    const documented = documentedCodes(readFileSync(path.join(repoRoot, "README.md"), "utf8"));
    const cases = buildCorpus(SEED, COUNT).filter((c) => !ONLY || c.id.includes(ONLY));
    const t0 = Date.now();
    const runs = await pool(cases, CONCURRENCY, runCase);
    if (process.env.INSEQ_FUZZ_LOG) {
      const log = cases.map((c, i) => JSON.stringify({ id: c.id, invalid: c.invalid, ms: runs[i]!.ms, status: runs[i]!.status ?? runs[i]!.signal, result: runs[i]!.stdout.trim().split("\n").pop() }));
      writeFileSync(process.env.INSEQ_FUZZ_LOG, `${log.join("\n")}\n`);
    }
    const failures = cases.flatMap((c, i) => classify(c, runs[i]!, documented).map((f) => ({ ...f, c })));
    const byKind = new Map<string, typeof failures>();
    for (const f of failures) byKind.set(f.failure, [...(byKind.get(f.failure) ?? []), f]);
    const report = [
      `${cases.length} cases (seed ${SEED}) in ${((Date.now() - t0) / 1000).toFixed(0)} s; ` +
        `${cases.filter((c) => c.invalid).length} invalid, ${cases.filter((c) => !c.invalid).length} valid; ${failures.length} failures`,
      ...[...byKind].map(([kind, fs]) =>
        [
          `${kind}: ${fs.length}`,
          ...fs.map((f) => `  [${f.c.category}] ${f.c.id}\n      ${f.detail.replace(/\n/g, "\n      ")}`),
          `  reproduce the first: node test/fuzz/run-case.mjs '${JSON.stringify(fs[0]!.c).replace(/'/g, "'\\''")}'`,
        ].join("\n"),
      ),
    ].join("\n");
    if (failures.length) console.log(report);
    expect(failures.map((f) => `${f.failure}: ${f.c.id}`), report).toEqual([]);
  }, 900_000);
});

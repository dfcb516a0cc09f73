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
//   One case by hand: node test/fuzz/run-case.mjs '<case JSON printed in the failure report>'
// Needs dist/ (npm run build:ts).
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { repoRoot } from "../helpers.js";
import { buildCorpus, templateCount, type FuzzCase } from "./corpus.js";

const SEED = Number(process.env.INSEQ_FUZZ_SEED ?? 10);
const COUNT = Number(process.env.INSEQ_FUZZ_CASES ?? Math.max(200, templateCount()));
const ONLY = process.env.INSEQ_FUZZ_ONLY;
const CONCURRENCY = 2;
/** A case takes about a second; anything near this is a hang. */
const CASE_TIMEOUT_MS = 30_000;
const runner = path.join(repoRoot, "test/fuzz/run-case.mjs");

/** The codes of the README's error-code table ("| `ERR_X` / `ERR_Y` | when |" rows), less ERR_NATIVE. */
function documentedCodes(readme: string): Set<string> {
  const codes = new Set<string>();
  for (const line of readme.split("\n")) {
    const cell = /^\|([^|]*`ERR_[A-Z_]+`[^|]*)\|/.exec(line);
    if (cell) for (const m of cell[1]!.matchAll(/`(ERR_[A-Z_]+)`/g)) codes.add(m[1]!);
  }
  codes.delete("ERR_NATIVE");
  return codes;
}

type Failure = "crash" | "hang" | "silent acceptance" | "valid input rejected" | "undocumented code" | "unexpected code" | "message lacks name" | "harness error";

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

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

/** The failures of one case (empty when it behaved). */
function classify(c: FuzzCase, run: Run, documented: Set<string>): { failure: Failure; detail: string }[] {
  const tail = (s: string) => s.trim().split("\n").slice(-6).join("\n");
  if (run.timedOut) return [{ failure: "hang", detail: `no answer after ${CASE_TIMEOUT_MS} ms` }];
  if (run.status === 3) return [{ failure: "harness error", detail: tail(run.stderr) }];
  const line = run.stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (run.signal || run.status !== 0 || !line) {
    return [{ failure: "crash", detail: `exit ${run.status ?? run.signal}${line ? "" : ", no result line"}: ${tail(run.stderr)}` }];
  }
  const out: { failure: Failure; detail: string }[] = [];
  // An uncaught stack on stderr (warnings print "(node:pid) [CODE] ..." lines, not stack frames).
  if (/^\s+at .+:\d+:\d+\)?$/m.test(run.stderr)) out.push({ failure: "crash", detail: `stack on stderr: ${tail(run.stderr)}` });
  const result = JSON.parse(line) as { outcome: "ok" | "rejected"; code?: string | null; name?: string; message?: string };
  const said = `${result.code ?? result.name}: ${result.message?.split("\n")[0]}`;
  if (result.outcome === "ok") {
    if (c.invalid) out.push({ failure: "silent acceptance", detail: "resolved" });
    return out;
  }
  if (!c.invalid) {
    out.push({ failure: "valid input rejected", detail: said });
    return out;
  }
  if (!result.code || !documented.has(result.code)) out.push({ failure: "undocumented code", detail: said });
  else if (c.expectCodes && !c.expectCodes.includes(result.code)) out.push({ failure: "unexpected code", detail: `expected ${c.expectCodes.join(" or ")}, got ${said}` });
  else if (c.mention && !c.mention.some((m) => result.message?.includes(m))) {
    out.push({ failure: "message lacks name", detail: `expected a mention of ${c.mention.join(" or ")}: ${said}` });
  }
  return out;
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

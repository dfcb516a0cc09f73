/** Classification of one fuzz case's child process: crash, hang, silent acceptance, wrong or undocumented code. */
import type { FuzzCase } from "./corpus.js";

/** A case longer than this is a hang (a case takes about a second). */
export const CASE_TIMEOUT_MS = 30_000;

/** The codes of the README's error-code table ("| `ERR_X` / `ERR_Y` | when |" rows), less ERR_NATIVE. */
export function documentedCodes(readme: string): Set<string> {
  const codes = new Set<string>();
  for (const line of readme.split("\n")) {
    const cell = /^\|([^|]*`ERR_[A-Z_]+`[^|]*)\|/.exec(line);
    if (cell) for (const m of cell[1]!.matchAll(/`(ERR_[A-Z_]+)`/g)) codes.add(m[1]!);
  }
  codes.delete("ERR_NATIVE");
  return codes;
}

export type Failure = "crash" | "hang" | "silent acceptance" | "valid input rejected" | "undocumented code" | "unexpected code" | "message lacks name" | "harness error";

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The failures of one case (empty when it behaved). */
export function classify(c: FuzzCase, run: Run, documented: Set<string>): { failure: Failure; detail: string }[] {
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

/** `inseq serve`'s token sources: --token-file's first line, else INSEQ_SERVE_TOKEN; none means no auth. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { makeServeCommand, readToken } from "../../lib/cli/commands/serve.js";

const dir = mkdtempSync(path.join(tmpdir(), "inseq-serve-args-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("inseq serve: token", () => {
  it("reads the first line of --token-file, which wins over INSEQ_SERVE_TOKEN", () => {
    const file = path.join(dir, "t");
    writeFileSync(file, "  abc123  \nsecond line\n");
    expect(readToken(file, { INSEQ_SERVE_TOKEN: "env" })).toBe("abc123");
    expect(readToken(undefined, { INSEQ_SERVE_TOKEN: "env" })).toBe("env");
    expect(readToken(undefined, { INSEQ_SERVE_TOKEN: "" })).toBeUndefined();
    expect(readToken(undefined, {})).toBeUndefined();
  });

  it("refuses a missing or empty token file", () => {
    expect(() => readToken(path.join(dir, "none"), {})).toThrow(expect.objectContaining({ code: "ERR_NOT_FOUND" }));
    const empty = path.join(dir, "empty");
    writeFileSync(empty, "\n");
    expect(() => readToken(empty, {})).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
  });

  it("has no flag that takes the token itself", () => {
    const flags = makeServeCommand().options.map((o) => o.long);
    expect(flags).toContain("--token-file");
    expect(flags).not.toContain("--token");
    expect(flags).toEqual(expect.arrayContaining(["--host", "--port", "--model", "--allow", "--cors", "--queue-size", "--concurrency",
      "--max-input-tokens", "--max-new-tokens", "--max-n-steps", "--max-batch", "--request-timeout", "--log-level"]));
  });
});

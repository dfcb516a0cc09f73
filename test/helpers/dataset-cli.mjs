#!/usr/bin/env node
// Test-only entry: a commander program with the attribute-dataset and merge commands from dist/, with the same
// error handling as dist/cli/index.js. INSEQ_TEST_WRITE_DELAY_MS slows every file write down (so that a test
// can kill the process mid-run). INSEQ_TEST_WRITE_FAIL="ENOSPC@3" makes the 3rd and later file writes fail with
// that errno (a full disk without filling one).
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { Command } from "commander";

const delay = Number(process.env.INSEQ_TEST_WRITE_DELAY_MS ?? 0);
const [failCode, failFrom] = (process.env.INSEQ_TEST_WRITE_FAIL ?? "").split("@");
if (delay > 0 || failCode) {
  const writeSync = fs.writeSync;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let calls = 0;
  fs.writeSync = (...args) => {
    if (failCode && ++calls >= Number(failFrom)) {
      throw Object.assign(new Error(`${failCode}: simulated failure, write`), { code: failCode, syscall: "write" });
    }
    if (delay > 0) Atomics.wait(pause, 0, 0, delay);
    return writeSync(...args);
  };
  syncBuiltinESMExports();
}

const { InseqError } = await import("../../dist/core/errors.js");
const { makeAttributeDatasetCommand } = await import("../../dist/cli/commands/attribute-dataset.js");
const { makeMergeCommand } = await import("../../dist/cli/commands/merge.js");

new Command("inseq")
  .showHelpAfterError()
  .addCommand(makeAttributeDatasetCommand())
  .addCommand(makeMergeCommand())
  .parseAsync(process.argv)
  .catch((err) => {
    if (err instanceof InseqError) process.stderr.write(`inseq: ${err.message} [${err.code}]\n`);
    else process.stderr.write(`inseq: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });

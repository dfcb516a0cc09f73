/** Runs one commander command in-process, as `inseq <command> ...args` would, capturing stdout and stderr. */
import type { Command } from "commander";
import { expect, vi } from "vitest";

import { InseqError } from "../../lib/core/errors.js";

export async function runCommand(make: () => Command, args: string[]): Promise<{ stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    await make().exitOverride().parseAsync(args, { from: "user" });
  } finally {
    vi.mocked(process.stdout.write).mockRestore();
    vi.mocked(process.stderr.write).mockRestore();
  }
  return { stdout, stderr };
}

/** The InseqError a command run rejects with (a run that succeeds fails the test). */
export async function failure(make: () => Command, args: string[]): Promise<InseqError> {
  const err = await runCommand(make, args).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InseqError);
  return err as InseqError;
}

/** Shared test helpers: fixture locations and small file utilities. */
import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, vi } from "vitest";

import { InseqError } from "../lib/core/errors.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** ../shared/fixtures next to the clone (CI always has it). */
export const sharedFixtures = path.resolve(repoRoot, "../shared/fixtures");
export const stories260K = path.join(sharedFixtures, "hf-stories260K");
export const referenceDir = (name: string) => path.join(repoRoot, "test/fixtures/reference", name);
/** Device the model tests run on: INSEQ_TEST_DEVICE ("cuda" under scripts/gpu-check), default "cpu". */
export const testDevice = (process.env.INSEQ_TEST_DEVICE ?? "cpu") as "cpu" | "cuda" | `cuda:${number}`;

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `inseq-${prefix}-`));
}

/** A writable copy of a model directory. */
export function copyModel(dir: string, prefix = "model"): string {
  const dest = tempDir(prefix);
  cpSync(dir, dest, { recursive: true });
  return dest;
}

export function readJson<T = any>(file: string): T {
  return JSON.parse(readFileSync(file, "utf8")) as T;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** max |a - b| over the cells, requiring NaN at the same cells (NaN cells do not count). */
export function nanAwareMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    expect(Number.isNaN(a[i]!), `NaN layout at cell ${i}`).toBe(Number.isNaN(b[i]!));
    if (!Number.isNaN(a[i]!)) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  }
  return m;
}

/** Awaits `p`, expecting a rejection with an InseqError of `code` whose message mentions `mention`. */
/** The InseqError `p` rejects with (a resolved promise fails the test). */
export async function rejection(p: Promise<unknown>): Promise<InseqError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InseqError);
  return err as InseqError;
}

export async function expectCode(p: Promise<unknown>, code: string, mention: string): Promise<void> {
  const err = await rejection(p);
  expect(err.code).toBe(code);
  expect(err.message).toContain(mention);
}

/** The process warnings emitted while `run` runs, as [message, code] (emitWarning is mocked meanwhile). */
export async function warningsOf<T>(run: () => Promise<T>): Promise<{ result: T; warnings: Array<[string, string | undefined]> }> {
  const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
  try {
    const result = await run();
    return { result, warnings: spy.mock.calls.map(([w, o]) => [String(w), (o as { code?: string } | undefined)?.code]) };
  } finally {
    spy.mockRestore();
  }
}

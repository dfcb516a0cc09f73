/** attribute-context goldens (Python Inseq 0.7.1's `AttributeContextOutput.to_dict()`): options and comparison. */
import { expect } from "vitest";

import type { AttributeContextOutput } from "../../lib/context/output.js";
import type { AttributeContextOptions } from "../../lib/context/types.js";

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** The Python keyword arguments of a case as attributeContext() options. */
export function toOptions(args: Record<string, any>): AttributeContextOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (k === "generation_kwargs") out.generationArgs = Object.fromEntries(Object.entries(v as object).map(([a, b]) => [camel(a), b]));
    else out[camel(k)] = v;
  }
  return out as unknown as AttributeContextOptions;
}

/** max |a - b| / max(|b|) over the list, with a 5e-7 absolute floor. */
export function expectScoresClose(ours: readonly number[] | null, golden: readonly number[] | null, label: string): void {
  if (golden === null) {
    expect(ours, label).toBeNull();
    return;
  }
  expect(ours, label).not.toBeNull();
  expect(ours!.length, `${label} length`).toBe(golden.length);
  const scale = Math.max(...golden.map(Math.abs), 1e-30);
  const worst = Math.max(0, ...golden.map((g, i) => Math.abs(ours![i]! - g)));
  if (worst > 5e-7) expect(worst / scale, `${label}: max diff ${worst} (scale ${scale})`).toBeLessThan(1e-4);
}

/**
 * Where our context scores are deliberately one row later than Inseq's: Inseq slices rows that include a leading
 * BOS (Llama-style prompts) / decoder start token (encoder-decoder targets), we skip it (docs/attribute-context.md).
 * There ours[i] must equal golden[i + 1], and our last score is the one Inseq leaves out.
 */
export type ShiftedScores = ReadonlyArray<"input" | "output">;

function expectShiftedClose(ours: readonly number[] | null, golden: readonly number[] | null, label: string): void {
  expect(ours, label).not.toBeNull();
  expect(ours!.length, `${label} length`).toBe(golden!.length);
  expectScoresClose(ours!.slice(0, -1), golden!.slice(1), `${label} (shifted by the skipped special row)`);
  expect(Number.isFinite(ours!.at(-1)), `${label} last`).toBe(true);
}

export function compareWithGolden(ours: AttributeContextOutput, golden: AttributeContextOutput, label: string, shifted: ShiftedScores = []): void {
  expect(ours.inputContext).toBe(golden.inputContext);
  expect(ours.inputContextTokens).toEqual(golden.inputContextTokens);
  expect(ours.outputContext).toBe(golden.outputContext);
  expect(ours.outputContextTokens).toEqual(golden.outputContextTokens);
  expect(ours.outputCurrent).toBe(golden.outputCurrent);
  expect(ours.outputCurrentTokens).toEqual(golden.outputCurrentTokens);
  expectScoresClose(ours.ctiScores, golden.ctiScores, `${label} CTI`);
  expect(ours.cciScores.map((c) => [c.ctiIdx, c.ctiToken]), `${label} selected tokens`).toEqual(golden.cciScores.map((c) => [c.ctiIdx, c.ctiToken]));
  golden.cciScores.forEach((g, i) => {
    const c = ours.cciScores[i]!;
    expect(c.ctiScore).toBeCloseTo(g.ctiScore, 4);
    expect(c.contextualOutput).toBe(g.contextualOutput);
    expect(c.contrastToken).toBe(g.contrastToken);
    expect(c.contextlessOutput).toBe(g.contextlessOutput);
    (shifted.includes("input") ? expectShiftedClose : expectScoresClose)(c.inputContextScores, g.inputContextScores, `${label} CCI[${i}] input context`);
    (shifted.includes("output") ? expectShiftedClose : expectScoresClose)(c.outputContextScores, g.outputContextScores, `${label} CCI[${i}] output context`);
  });
}


/**
 * The result of attributeContext: Python Inseq's `AttributeContextOutput` / `CCIOutput`, with the same JSON form
 * (`toDict()` / `fromDict()` use Inseq's snake_case keys, so files move between the two tools), the score
 * statistics, and an atomic save / load.
 */
import { readFile } from "node:fs/promises";

import { writeFileAtomic } from "../core/atomic-write.js";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { unbiasedStd } from "./cti.js";
import type { AttributeContextData, CCIOutput } from "./data.js";
import { renderContextHtml, renderContextTerminal, type ContextTerminalOptions } from "./views.js";

export type { AttributeContextData, CCIOutput } from "./data.js";

const CCI_KEYS = {
  ctiIdx: "cti_idx", ctiToken: "cti_token", ctiScore: "cti_score", contextualOutput: "contextual_output",
  contrastToken: "contrast_token", contextlessOutput: "contextless_output", inputContextScores: "input_context_scores",
  outputContextScores: "output_context_scores",
} as const;
const OUTPUT_KEYS = {
  inputContext: "input_context", inputContextTokens: "input_context_tokens", outputContext: "output_context",
  outputContextTokens: "output_context_tokens", outputCurrent: "output_current", outputCurrentTokens: "output_current_tokens",
  ctiScores: "cti_scores",
} as const;

function cciMinMax(c: CCIOutput, pick: (a: number, b: number) => number): number {
  return [...(c.inputContextScores ?? []), ...(c.outputContextScores ?? [])].reduce((a, b) => pick(a, b), 0);
}

export class AttributeContextOutput implements AttributeContextData {
  inputContext: string | null;
  inputContextTokens: string[] | null;
  outputContext: string | null;
  outputContextTokens: string[] | null;
  outputCurrent: string | null;
  outputCurrentTokens: string[] | null;
  ctiScores: number[] | null;
  cciScores: CCIOutput[];
  info: Record<string, unknown> | null;

  constructor(data: Partial<AttributeContextData> = {}) {
    this.inputContext = data.inputContext ?? null;
    this.inputContextTokens = data.inputContextTokens ?? null;
    this.outputContext = data.outputContext ?? null;
    this.outputContextTokens = data.outputContextTokens ?? null;
    this.outputCurrent = data.outputCurrent ?? null;
    this.outputCurrentTokens = data.outputCurrentTokens ?? null;
    this.ctiScores = data.ctiScores ?? null;
    this.cciScores = data.cciScores ?? [];
    this.info = data.info ?? null;
  }

  /** Smallest CTI score (−1 without scores, as Inseq). */
  get minCti(): number {
    return this.ctiScores?.length ? Math.min(...this.ctiScores) : -1;
  }
  get maxCti(): number {
    return this.ctiScores?.length ? Math.max(...this.ctiScores) : -1;
  }
  get meanCti(): number {
    return this.ctiScores?.length ? this.ctiScores.reduce((a, b) => a + b, 0) / this.ctiScores.length : 0;
  }
  /** Unbiased standard deviation of the CTI scores (NaN for one score, as torch). */
  get stdCti(): number {
    return this.ctiScores?.length ? unbiasedStd(this.ctiScores) : 0;
  }
  /** Every CCI score, input context then output context, token after token. */
  get cciAllScores(): number[] {
    return this.cciScores.flatMap((c) => [...(c.inputContextScores ?? []), ...(c.outputContextScores ?? [])]);
  }
  /** Smallest CCI score, counting 0 in (as Inseq's `CCIOutput.minimum`); −1 without CCI. */
  get minCci(): number {
    return this.cciScores.length ? Math.min(...this.cciScores.map((c) => cciMinMax(c, Math.min))) : -1;
  }
  get maxCci(): number {
    return this.cciScores.length ? Math.max(...this.cciScores.map((c) => cciMinMax(c, Math.max))) : -1;
  }
  get meanCci(): number {
    const all = this.cciAllScores;
    return all.length ? all.reduce((a, b) => a + b, 0) / all.length : 0;
  }
  get stdCci(): number {
    const all = this.cciAllScores;
    return all.length ? unbiasedStd(all) : 0;
  }
  /** min / max / mean / std of CTI and CCI scores. */
  get stats(): { minCti: number; maxCti: number; meanCti: number; stdCti: number; minCci: number; maxCci: number; meanCci: number; stdCci: number } {
    return {
      minCti: this.minCti, maxCti: this.maxCti, meanCti: this.meanCti, stdCti: this.stdCti,
      minCci: this.minCci, maxCci: this.maxCci, meanCci: this.meanCci, stdCci: this.stdCci,
    };
  }
  /** The input context scores of every CCI (null when there is no input context). */
  get inputContextScores(): number[][] | null {
    if (!this.cciScores.length || this.cciScores[0]!.inputContextScores === null) return null;
    return this.cciScores.map((c) => c.inputContextScores ?? []);
  }
  get outputContextScores(): number[][] | null {
    if (!this.cciScores.length || this.cciScores[0]!.outputContextScores === null) return null;
    return this.cciScores.map((c) => c.outputContextScores ?? []);
  }

  /** Inseq's `AttributeContextOutput.to_dict()`: snake_case keys, `info` only when present. */
  toDict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, key] of Object.entries(OUTPUT_KEYS)) out[key] = this[k as keyof typeof OUTPUT_KEYS];
    out.cci_scores = this.cciScores.map((c) => Object.fromEntries(Object.entries(CCI_KEYS).map(([k, key]) => [key, c[k as keyof CCIOutput]])));
    if (this.info) out.info = this.info;
    return out;
  }

  /** Inseq's `AttributeContextOutput.from_dict()`. */
  static fromDict(dict: unknown): AttributeContextOutput {
    if (dict === null || typeof dict !== "object" || Array.isArray(dict)) throw invalidOption("attribute-context output", "an object", dict);
    const d = dict as Record<string, unknown>;
    if (!Array.isArray(d.cci_scores)) throw invalidOption("cci_scores", "a list of CCI outputs", d.cci_scores);
    const data: Partial<AttributeContextData> = {};
    for (const [k, key] of Object.entries(OUTPUT_KEYS)) (data as Record<string, unknown>)[k] = d[key] ?? null;
    data.cciScores = d.cci_scores.map((c: unknown, i: number) => {
      if (c === null || typeof c !== "object") throw invalidOption(`cci_scores[${i}]`, "an object", c);
      const r = c as Record<string, unknown>;
      if (!Number.isInteger(r.cti_idx) || typeof r.cti_token !== "string" || typeof r.cti_score !== "number") {
        throw invalidOption(`cci_scores[${i}]`, "cti_idx, cti_token and cti_score", c);
      }
      return Object.fromEntries(Object.entries(CCI_KEYS).map(([k, key]) => [k, r[key] ?? null])) as unknown as CCIOutput;
    });
    data.info = d.info && typeof d.info === "object" ? (d.info as Record<string, unknown>) : null;
    return new AttributeContextOutput(data);
  }

  /**
   * The terminal view (default) or, with `format: "html"`, the self-contained HTML page (see views.ts): the
   * context-sensitive tokens of the current output and the contextual cues of each.
   */
  show(options: ContextTerminalOptions & { format?: "terminal" | "html"; title?: string } = {}): string {
    const { format, title, ...rest } = options;
    return format === "html" ? renderContextHtml(this, { ...rest, ...(title !== undefined ? { title } : {}) }) : renderContextTerminal(this, rest);
  }

  /** JSON of `toDict()` (4-space indent, as Inseq's CLI), written atomically. */
  async save(path: string): Promise<void> {
    await writeFileAtomic(path, JSON.stringify(this.toDict(), null, 4) + "\n");
  }

  /** Reads a file written by `save()` or by Inseq's `--save_path` (NaN / Infinity allowed, as Python writes them). */
  static async load(path: string): Promise<AttributeContextOutput> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      throw new InseqError(ErrorCode.NOT_FOUND, `Cannot read the attribute-context output ${path}: ${(err as Error).message}`, { cause: err });
    }
    return AttributeContextOutput.fromDict(parsePythonJson(text));
  }
}

/** JSON.parse that also reads Python's NaN / Infinity / -Infinity literals (as null / ±Infinity). */
function parsePythonJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const fixed = text.replace(/("(?:[^"\\]|\\.)*")|\bNaN\b|-?\bInfinity\b/g, (m, str: string | undefined) =>
      str !== undefined ? str : m === "NaN" ? "null" : m.startsWith("-") ? "-1e999" : "1e999");
    return JSON.parse(fixed);
  }
}

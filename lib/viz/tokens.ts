/**
 * `showTokens()`: for every generated token, the attributed tokens coloured by their score (Inseq's treescope
 * `show_tokens`, whose foldable nodes become `<details>` elements in HTML and indented blocks in a terminal).
 * Takes 2-D scores: the caller aggregates first.
 */
import { invalidOption } from "../core/errors.js";
import type { ScoreTensor } from "../results/tensor.js";
import type { SequenceOutput } from "../results/types.js";
import { colorScale, formatScore, heatmapPanels, ordinal, scalePosition, type ColorScaleOptions } from "./heatmap.js";
import { escapeHtml } from "./html-escape.js";
import { htmlPage } from "./html-page.js";
import { cellBackground } from "./html.js";
import { cellStyle, detectTerminalColor, printableToken, type TerminalColor } from "./terminal.js";

/** `showTokens()` options (rendering only; the aggregation options are the caller's). */
export interface TokensRenderOptions extends ColorScaleOptions {
  /** Default "terminal". */
  format?: "terminal" | "html";
  /** Terminal colour mode; "auto" (default) detects stdout's. */
  color?: TerminalColor | "auto";
  /** Inseq's `replace_char`: `{ from: to }` replacements applied to every token shown (e.g. `{ "▁": " " }`). */
  replaceChar?: Record<string, string>;
  /**
   * Inseq's `wrap_after`: a line break after every `n` attributed tokens (a number), or after each token equal to
   * one of the given strings (compared before `replaceChar`). Default: no break.
   */
  wrapAfter?: number | string | readonly string[];
  /** Id of a step score that colours the generated tokens (e.g. "probability"), on its own scale. */
  stepScoreHighlight?: string;
  /** Decimals of the scores. Default 2 (terminal) / 3 (HTML title attributes). */
  decimals?: number;
}

function cleanToken(token: string, replaceChar: Record<string, string> | undefined): string {
  if (!replaceChar) return token;
  let s = token;
  for (const [from, to] of Object.entries(replaceChar)) s = s.split(from).join(to);
  return s;
}

function wrapPredicate(wrapAfter: TokensRenderOptions["wrapAfter"]): (token: string, position: number) => boolean {
  if (wrapAfter === undefined) return () => false;
  if (typeof wrapAfter === "number") {
    if (!Number.isInteger(wrapAfter) || wrapAfter < 1) throw invalidOption("wrapAfter", "a positive integer, a token or a list of tokens", wrapAfter);
    return (_, position) => (position + 1) % wrapAfter === 0;
  }
  const set = new Set(typeof wrapAfter === "string" ? [wrapAfter] : wrapAfter);
  if (![...set].every((t) => typeof t === "string")) throw invalidOption("wrapAfter", "a positive integer, a token or a list of tokens", wrapAfter);
  return (token) => set.has(token);
}

/** The attributed tokens of one line (source or target prefix) for generated column `j`: [token, score] pairs. */
function column(t: ScoreTensor | null, tokens: SequenceOutput["source"], j: number): Array<[string, number]> {
  if (!t) return [];
  if (t.shape.length !== 2) throw invalidOption("attributions", "2-D [attributed, generated] scores (aggregate first)", t.shape);
  const [rows, cols] = t.shape as [number, number];
  const out: Array<[string, number]> = [];
  for (let r = 0; r < rows; r++) {
    const v = t.data[r * cols + j]!;
    if (Number.isNaN(v)) continue;
    out.push([tokens[r]?.token ?? "", v]);
  }
  return out;
}

function stepScale(seq: SequenceOutput, id: string | undefined): [number, number] | null {
  if (id === undefined) return null;
  const values = Object.hasOwn(seq.stepScores, id) ? seq.stepScores[id] : undefined;
  if (!values) {
    const available = Object.keys(seq.stepScores);
    throw invalidOption("stepScoreHighlight", available.length ? `one of ${available.join(", ")}` : "a step score of the output (it has none)", id);
  }
  let m = 0;
  for (const v of values) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return [-m, m];
}

/** Renders the token view of `sequences` (2-D scores) as `showTokens` does. */
export function renderTokens(sequences: readonly SequenceOutput[], options: TokensRenderOptions = {}): string {
  const { format = "terminal", replaceChar, wrapAfter, stepScoreHighlight, minVal, maxVal } = options;
  if (format !== "terminal" && format !== "html") throw invalidOption("format", '"terminal" or "html"', format);
  if (replaceChar !== undefined && (replaceChar === null || typeof replaceChar !== "object")) {
    throw invalidOption("replaceChar", "an object { from: to }", replaceChar);
  }
  const breaks = wrapPredicate(wrapAfter);
  const scale = colorScale(heatmapPanels([...sequences]), { minVal, maxVal });
  const html = format === "html";
  const mode: TerminalColor = html ? "none" : options.color === undefined || options.color === "auto" ? detectTerminalColor() : options.color;
  const decimals = options.decimals ?? (html ? 3 : 2);
  const reset = mode === "none" ? "" : "\x1b[0m";
  const paint = (text: string, value: number, sc: [number, number]): string => {
    const t = scalePosition(value, sc);
    if (html) {
      const bg = t === null ? "" : ` style="background:${cellBackground(t)}"`;
      return `<span class="inseq-tok"${bg} title="${escapeHtml(formatScore(value, decimals))}">${escapeHtml(text)}</span>`;
    }
    const style = t === null ? "" : cellStyle(t, mode);
    return `${style}${printableToken(text)}${style ? reset : ""}`;
  };
  const line = (pairs: Array<[string, number]>): string => {
    let s = "";
    pairs.forEach(([token, v], k) => {
      const shown = cleanToken(token, replaceChar);
      if (k > 0) s += breaks(pairs[k - 1]![0], k - 1) ? (html ? "<br/>" : "\n      ") : " ";
      s += html ? paint(shown, v, scale) : `${paint(shown, v, scale)}(${formatScore(v, decimals)})`;
    });
    return s;
  };
  const parts: string[] = [];
  sequences.forEach((seq, i) => {
    const sc = stepScale(seq, stepScoreHighlight);
    const steps = stepScoreHighlight !== undefined ? seq.stepScores[stepScoreHighlight]! : null;
    const items: string[] = [];
    for (let j = 0; j < seq.nSteps; j++) {
      const gen = cleanToken(seq.target[seq.attrPosStart + j]!.token, replaceChar);
      const genShown = steps && sc ? paint(gen, steps[j]!, sc) : html ? escapeHtml(gen) : printableToken(gen);
      const note = steps ? ` ${stepScoreHighlight}: ${formatScore(steps[j]!, decimals)}` : "";
      const src = line(column(seq.sourceAttributions, seq.source, j));
      const tgt = line(column(seq.targetAttributions, seq.target, j));
      if (html) {
        items.push(
          `<details class="inseq-step"><summary>${j} ${genShown}${escapeHtml(note)}</summary>` +
            (src ? `<div><b>Source:</b> ${src}</div>` : "") +
            (tgt ? `<div><b>Target:</b> ${tgt}</div>` : "") +
            `</details>`,
        );
      } else {
        items.push([`  ${j} ${genShown}${note}`, ...(src ? [`    source: ${src}`] : []), ...(tgt ? [`    target: ${tgt}`] : [])].join("\n"));
      }
    }
    parts.push(html ? `<div class="inseq-tokens"><b>${ordinal(i)} instance:</b>${items.join("")}</div>` : `${ordinal(i)} instance:\n${items.join("\n")}`);
  });
  if (!html) return parts.join("\n\n") + "\n";
  return htmlPage("Inseq token attributions", ".inseq-tok{padding:0 2px;margin:0 1px;border-radius:3px}.inseq-step{margin:2px 0 2px 1em}", [parts.join("<br/>")]);
}

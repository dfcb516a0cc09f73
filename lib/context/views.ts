/**
 * Views of an attributeContext() result (pure functions: output -> string): the terminal summary (Inseq's rich
 * console view) and a self-contained HTML page (Inseq's treescope view): the current output with its
 * context-sensitive tokens (CTI) highlighted in green, each expandable into its contextual cues (CCI) over the
 * input / output context, highlighted in blue.
 */
import { escapeHtml } from "../viz/html-escape.js";
import { htmlPage } from "../viz/html-page.js";
import { printableToken, type TerminalColor } from "../viz/terminal.js";
import { filterRankTokens, scoresThreshold } from "./cti.js";
import type { AttributeContextData, CCIOutput } from "./data.js";

export interface ContextViewOptions {
  /** CTI threshold (default: mean + λ·std of the CTI scores with λ = info.context_sensitivity_std_threshold, else 1). */
  ctiThreshold?: number;
  /** λ and top-k of the cue highlights (default: info.attribution_std_threshold / attribution_topk, else 1 / none). */
  attributionStdThreshold?: number | null;
  attributionTopk?: number | null;
}

export interface ContextTerminalOptions extends ContextViewOptions {
  /** Colour mode (default "none": CTI tokens as [token](score), cues as {token}(score)). */
  color?: TerminalColor;
}

/** A token as text: the byte-level / SentencePiece space markers as spaces, Ċ as a newline. */
export function tokenText(token: string): string {
  return token.replace(/[ĠĊ▁]/g, (c) => (c === "Ċ" ? "\n" : " "));
}

/**
 * The tokens as they read in `text`: each token's core found in order in the text, with the whitespace before it
 * (word-level vocabularies have no space markers); a token not found where expected falls back to `tokenText`.
 */
export function displayTokens(tokens: readonly string[], text: string | null): string[] {
  if (text === null) return tokens.map(tokenText);
  let pos = 0;
  return tokens.map((t) => {
    const shown = tokenText(t);
    const core = shown.trim();
    if (!core) {
      // a whitespace token: the whitespace of the text at this point
      const ws = /^\s+/.exec(text.slice(pos))?.[0];
      if (ws === undefined) return shown;
      pos += ws.length;
      return ws;
    }
    const at = text.indexOf(core, pos);
    if (at < 0 || text.slice(pos, at).trim() !== "") return shown;
    const out = text.slice(pos, at) + core;
    pos = at + core.length;
    return out;
  });
}

interface Resolved {
  ctiThreshold: number;
  lambda: number | null;
  topk: number | null;
}

function resolve(out: AttributeContextData, o: ContextViewOptions): Resolved {
  const info = out.info ?? {};
  const num = (v: unknown, d: number | null) => (typeof v === "number" ? v : v === null ? null : d);
  const ctiLambda = num(info.context_sensitivity_std_threshold, 1);
  return {
    ctiThreshold: o.ctiThreshold ?? scoresThreshold(out.ctiScores ?? [], ctiLambda),
    lambda: o.attributionStdThreshold !== undefined ? o.attributionStdThreshold : num(info.attribution_std_threshold, 1),
    topk: o.attributionTopk !== undefined ? o.attributionTopk : (num(info.attribution_topk, null) || null),
  };
}

/** The cue indices of one CCI (Inseq: ranked over input + output context scores together), with the threshold. */
export function cueSelection(cci: CCIOutput, lambda: number | null, topk: number | null): { input: Set<number>; output: Set<number>; threshold: number } {
  const inp = cci.inputContextScores ?? [];
  const outp = cci.outputContextScores ?? [];
  const all = [...inp, ...outp];
  const { ranked, threshold } = filterRankTokens(all.map(String), all, lambda, topk);
  const input = new Set<number>();
  const output = new Set<number>();
  for (const [i] of ranked) (i < inp.length ? input : output).add(i < inp.length ? i : i - inp.length);
  return { input, output, threshold };
}

/** 3 decimals, or 3 significant digits for scores below 0.001 (CCI scores of tiny models are often ~1e-5). */
export const formatContextScore = (x: number): string => (x === 0 || Math.abs(x) >= 0.001 || !Number.isFinite(x) ? x.toFixed(3) : x.toPrecision(3));
const fmt = formatContextScore;

function paint(text: string, kind: "cti" | "cue", mode: TerminalColor): string {
  if (mode === "none") return kind === "cti" ? `[${text}]` : `{${text}}`;
  const color = kind === "cti" ? (mode === "16" ? "32" : mode === "256" ? "38;5;34" : "38;2;0;160;60") : mode === "16" ? "34" : mode === "256" ? "38;5;33" : "38;2;30;144;255";
  return `\x1b[1;${color}m${text}\x1b[0m`;
}

function joinTokens(tokens: readonly string[], marked: ReadonlyMap<number, number>, kind: "cti" | "cue", mode: TerminalColor): string {
  return tokens.map((t, i) => {
    const text = printableToken(t);
    const s = marked.get(i);
    return s === undefined ? text : paint(`${text}(${fmt(s)})`, kind, mode);
  }).join("");
}

/** The terminal view: the parameters, then one block per context-sensitive token with its cues. */
export function renderContextTerminal(out: AttributeContextData, options: ContextTerminalOptions = {}): string {
  const r = resolve(out, options);
  const mode = options.color ?? "none";
  const info = out.info ?? {};
  const lines: string[] = [];
  const tokens = displayTokens(out.outputCurrentTokens ?? [], out.outputCurrent);
  const inputTokens = out.inputContextTokens ? displayTokens(out.inputContextTokens, out.inputContext) : null;
  const outputTokens = out.outputContextTokens ? displayTokens(out.outputContextTokens, out.outputContext) : null;
  const scores = out.ctiScores ?? [];
  lines.push(
    `Context-sensitive tokens ${paint("CTI", "cti", mode)} (metric ${String(info.context_sensitivity_metric ?? "?")}, CTI > ${fmt(r.ctiThreshold)}) ` +
    `and their contextual cues ${paint("CCI", "cue", mode)} (${String(info.attribution_method ?? "?")} w/ ${String(info.attributed_fn ?? "probability")}, ` +
    `${r.lambda !== null ? `λ=${r.lambda.toFixed(2)}` : "all"}${r.topk ? `, top ${r.topk}` : ""})`,
  );
  if (out.inputContext !== null) lines.push(`Input context:  ${printableToken(out.inputContext)}`);
  if (typeof info.input_current_text === "string") lines.push(`Input current:  ${printableToken(info.input_current_text)}`);
  if (out.outputContext !== null) lines.push(`Output context: ${printableToken(out.outputContext)}`);
  const allMarks = new Map(out.cciScores.map((c) => [c.ctiIdx, c.ctiScore]));
  lines.push(`Output current: ${joinTokens(tokens, allMarks, "cti", mode)}`);
  if (out.cciScores.length === 0) lines.push("", `No token reaches the CTI threshold (scores: ${scores.map(fmt).join(", ")}).`);
  out.cciScores.forEach((c, k) => {
    const cues = cueSelection(c, r.lambda, r.topk);
    lines.push("", `#${k + 1}. ${paint(`${printableToken(tokenText(c.ctiToken))}(${fmt(c.ctiScore)})`, "cti", mode)} at position ${c.ctiIdx}` +
      (c.contrastToken !== null ? `, contextless alternative "${printableToken(tokenText(c.contrastToken))}"` : "") + ` (CCI > ${fmt(cues.threshold)})`);
    lines.push(`  Generated output: ${joinTokens(tokens, new Map([[c.ctiIdx, c.ctiScore]]), "cti", mode)}`);
    if (c.inputContextScores && inputTokens) {
      const marks = new Map([...cues.input].map((i) => [i, c.inputContextScores![i]!]));
      lines.push(`  Input context:    ${joinTokens(inputTokens, marks, "cue", mode)}`);
    }
    if (c.outputContextScores && outputTokens) {
      const marks = new Map([...cues.output].map((i) => [i, c.outputContextScores![i]!]));
      lines.push(`  Output context:   ${joinTokens(outputTokens, marks, "cue", mode)}`);
    }
  });
  return lines.join("\n");
}

const STYLE = `
body { font-family: sans-serif; margin: 15px; }
.inseq-context { max-width: 1100px; }
.inseq-title { margin: 5px 0; font-weight: bold; font-size: 18px; }
.inseq-params { font-size: 13px; color: #333; margin: 5px 0 12px 0; }
.inseq-params td { padding: 1px 8px 1px 0; vertical-align: top; }
.inseq-line { margin: 8px 0; font-size: 15px; line-height: 2.1; }
.inseq-line-label { display: inline-block; width: 120px; font-size: 12px; font-weight: bold; color: #555; }
.inseq-tok { white-space: pre-wrap; border-radius: 3px; }
.inseq-tok[style] { padding: 2px 1px; }
.inseq-cti { cursor: pointer; border-bottom: 2px solid rgb(0,150,60); text-decoration: none; color: inherit; }
.inseq-cci { border: 1px solid #888; border-radius: 4px; margin: 8px 0; padding: 4px 10px; }
.inseq-cci summary { cursor: pointer; font-size: 14px; }
.inseq-cci[open] summary { margin-bottom: 4px; }
.inseq-legend { font-size: 12px; color: #555; }
`;

const green = (a: number) => `rgba(0, 170, 70, ${Math.min(1, Math.max(0, a)).toFixed(3)})`;
const blue = (a: number) => `rgba(30, 144, 255, ${Math.min(1, Math.max(0, a)).toFixed(3)})`;

function htmlTokens(tokens: readonly string[], scores: ReadonlyArray<number | undefined>, color: (a: number) => string, max: number, link?: (i: number) => string | undefined): string {
  return tokens.map((t, i) => {
    const text = escapeHtml(t);
    const s = scores[i];
    if (s === undefined) return `<span class="inseq-tok">${text}</span>`;
    const style = `background:${color(max > 0 ? Math.abs(s) / max : 0)}`;
    const href = link?.(i);
    const title = `score ${fmt(s)}`;
    return href
      ? `<a class="inseq-tok inseq-cti" href="#${href}" style="${style}" title="${title}">${text}</a>`
      : `<span class="inseq-tok" style="${style}" title="${title}">${text}</span>`;
  }).join("");
}

const SCRIPT = `<script>
document.querySelectorAll(".inseq-cti").forEach(function (a) {
  a.addEventListener("click", function () { var d = document.getElementById(a.getAttribute("href").slice(1)); if (d) d.open = true; });
});
</script>`;

/** The self-contained HTML page (or only its `<div>` with `fragment: true`). */
export function renderContextHtml(out: AttributeContextData, options: ContextViewOptions & { title?: string; fragment?: boolean } = {}): string {
  const r = resolve(out, options);
  const info = out.info ?? {};
  const tokens = displayTokens(out.outputCurrentTokens ?? [], out.outputCurrent);
  const inputTokens = out.inputContextTokens ? displayTokens(out.inputContextTokens, out.inputContext) : null;
  const outputTokens = out.outputContextTokens ? displayTokens(out.outputContextTokens, out.outputContext) : null;
  const ctiScores = out.ctiScores ?? [];
  const ctiMax = Math.max(0, ...ctiScores.map(Math.abs));
  const selected = new Map(out.cciScores.map((c, k) => [c.ctiIdx, k]));
  const params: Array<[string, unknown]> = [
    ["CTI metric", info.context_sensitivity_metric], ["CTI threshold", fmt(r.ctiThreshold)], ["CCI method", info.attribution_method],
    ["CCI attributed fn", info.attributed_fn ?? "probability"], ["Cue λ / top-k", `${r.lambda ?? "all"} / ${r.topk ?? "none"}`],
    ["Input context", out.inputContext], ["Input current", info.input_current_text], ["Output context", out.outputContext],
  ];
  const body: string[] = ['<div class="inseq-context">', '<div class="inseq-title">Context attribution (PECoRe)</div>'];
  body.push('<details class="inseq-params"><summary>Parameters</summary><table>');
  for (const [k, v] of params) if (v !== null && v !== undefined) body.push(`<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(String(v))}</td></tr>`);
  body.push("</table></details>");
  const ctiShown = tokens.map((_, i) => (selected.has(i) ? ctiScores[i] : undefined));
  body.push(`<div class="inseq-line"><span class="inseq-line-label">Output current</span>${htmlTokens(tokens, ctiShown, green, ctiMax, (i) => (selected.has(i) ? `inseq-cci-${selected.get(i)}` : undefined))}</div>`);
  body.push('<div class="inseq-legend">Green: context-sensitive tokens (CTI), darker = larger |score|; click one to open its contextual cues. Blue: contextual cues (CCI).</div>');
  if (out.cciScores.length === 0) body.push(`<p>No token reaches the CTI threshold ${fmt(r.ctiThreshold)}.</p>`);
  out.cciScores.forEach((c, k) => {
    const cues = cueSelection(c, r.lambda, r.topk);
    const all = [...(c.inputContextScores ?? []), ...(c.outputContextScores ?? [])];
    const max = Math.max(0, ...all.map(Math.abs));
    body.push(`<details class="inseq-cci" id="inseq-cci-${k}"${k === 0 ? " open" : ""}><summary>#${k + 1}. <b>${escapeHtml(tokenText(c.ctiToken))}</b> ` +
      `(CTI ${fmt(c.ctiScore)}, position ${c.ctiIdx})${c.contrastToken !== null ? ` — contrastive alternative <b>${escapeHtml(tokenText(c.contrastToken))}</b>` : ""}</summary>`);
    if (c.inputContextScores && inputTokens) {
      const shown = inputTokens.map((_, i) => (cues.input.has(i) ? c.inputContextScores![i] : undefined));
      body.push(`<div class="inseq-line"><span class="inseq-line-label">Input context</span>${htmlTokens(inputTokens, shown, blue, max)}</div>`);
    }
    if (c.outputContextScores && outputTokens) {
      const shown = outputTokens.map((_, i) => (cues.output.has(i) ? c.outputContextScores![i] : undefined));
      body.push(`<div class="inseq-line"><span class="inseq-line-label">Output context</span>${htmlTokens(outputTokens, shown, blue, max)}</div>`);
    }
    body.push(`<div class="inseq-line"><span class="inseq-line-label">Contextual output</span>${escapeHtml(c.contextualOutput)}</div>`);
    if (c.contextlessOutput !== null) body.push(`<div class="inseq-line"><span class="inseq-line-label">Contextless output</span>${escapeHtml(c.contextlessOutput)}</div>`);
    body.push(`<div class="inseq-legend">Cues: CCI > ${fmt(cues.threshold)}</div></details>`);
  });
  body.push(SCRIPT, "</div>");
  if (options.fragment) return [`<style>${STYLE}</style>`, ...body].join("\n");
  return htmlPage(options.title ?? "Inseq context attribution", STYLE, body);
}

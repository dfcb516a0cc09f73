/**
 * Terminal heatmaps, laid out like Inseq's rich console tables: generated tokens across, attributed tokens down,
 * scores with 2 decimals (empty for NaN), then one row per step score. Cells get a diverging background
 * (blue = negative, red = positive, Inseq's blue→beige→red map) in truecolor, 256 colours or the 16 ANSI
 * colours (monotonic ramps; near-zero cells get coloured text, not a glaring white background; `cellStyle`),
 * or no escape codes at all with `color: "none"`. Tables wider than `width` are paged into column
 * groups; long maps are paged into blocks of rows x columns (`page`, `pageRows`; automatic past
 * `MAX_UNPAGED_CELLS`) and `topK` keeps the most attributed tokens. Pure: returns a string; whether colour is wanted is the caller's decision (`detectTerminalColor`, or
 * `color: "auto"` which asks it about process.stdout).
 */
import { invalidOption } from "../core/errors.js";
import { PALETTES } from "./palette.js";
import {
  colorScale,
  formatScore,
  heatmapPanels,
  HEATMAP_CAPTION,
  ordinal,
  scalePosition,
  panelRows,
  topKRows,
  type ColorScaleOptions,
  type HeatmapPanel,
  type RenderInput,
} from "./heatmap.js";

export type TerminalColor = "truecolor" | "256" | "16" | "none";

export interface TerminalRenderOptions extends ColorScaleOptions {
  /** Colour mode; default "none" (plain text). "auto": `detectTerminalColor(process.stdout, process.env)`. */
  color?: TerminalColor | "auto";
  /** Maximum line width; wider tables are split into column groups. Default: no limit. */
  width?: number;
  /** Longest token label in columns; longer labels are cut with "…". Default 16. */
  maxTokenWidth?: number;
  /**
   * Keep only the k attributed tokens (rows) with the largest total |score| over the generated steps, in their
   * original order and with their original indices. Default: every row.
   */
  topK?: number;
  /**
   * Render only page N (1-based) of each heatmap. A page is a block of `pageRows` rows by the columns that fit
   * in `width` (120 when not given); pages go across the columns first, then down the rows. Heatmaps of more
   * than `MAX_UNPAGED_CELLS` cells are paged even without this option (page 1, with a line saying how to see
   * the others). Default: the whole heatmap.
   */
  page?: number;
  /** Rows per page when paging. Default 40. */
  pageRows?: number;
}

/** Heatmaps with more cells than this are paged even when no page is asked for (a 500 x 500 map is not). */
export const MAX_UNPAGED_CELLS = 250_000;
/** Rows per page when paging and `pageRows` is not given. */
export const DEFAULT_PAGE_ROWS = 40;
/** Line width when paging and `width` is not given. */
export const DEFAULT_PAGE_WIDTH = 120;

type Rgb = [number, number, number];

const BLUE: Rgb = [...PALETTES.inseq.negative];
const BEIGE: Rgb = [247, 252, 253];
const RED: Rgb = [...PALETTES.inseq.positive];

/** Inseq's blue → beige → red diverging map at position t in [0, 1]. */
export function divergingColor(t: number): Rgb {
  const lerp = (a: Rgb, b: Rgb, u: number): Rgb => [0, 1, 2].map((k) => Math.round(a[k]! + (b[k]! - a[k]!) * u)) as Rgb;
  return t < 0.5 ? lerp(BLUE, BEIGE, t * 2) : lerp(BEIGE, RED, (t - 0.5) * 2);
}

const CUBE_LEVELS = [0, 95, 135, 175, 215, 255];

const RESET = "\x1b[0m";
const BOLD = "\x1b[1m";

/**
 * Below this share of the scale (|score| < 20% of the largest) a cell gets no background: Inseq's map is nearly
 * white there, which glares on dark themes. Its text is coloured instead (blue or red), as rich colours text.
 */
export const NEAR_ZERO = 0.2;

/**
 * 256-colour ramps, lightest first: one hue each (xterm cube colours), strictly darker as |score| grows, so that
 * no step turns lilac, grey or cyan as the nearest cube colour of Inseq's map does. Cells from NEAR_ZERO to the
 * full scale use these five steps in equal bins.
 */
export const RAMP_256 = Object.freeze({
  negative: Object.freeze([153, 110, 68, 32, 25]),  // (175,215,255) (135,175,215) (95,135,215) (0,135,215) (0,95,175)
  positive: Object.freeze([224, 217, 174, 167, 124]), // (255,215,215) (255,175,175) (215,135,135) (215,95,95) (175,0,0)
});
/** Text colours of near-zero cells (256 colours): the ramps' second step, readable on dark and light themes. */
const NEAR_ZERO_256 = { negative: 110, positive: 174 };

/**
 * The 16-colour ANSI style for scale position t: bright blue/red text near 0, bright blue/red backgrounds
 * (104/101, black text) up to 60% of the scale, blue/red (44/41, bright white text) beyond; no style at 0.
 */
export function ansi16Style(t: number): string {
  const m = Math.abs(t - 0.5) * 2;
  if (m === 0) return "";
  const negative = t < 0.5;
  if (m < NEAR_ZERO) return `\x1b[${negative ? 94 : 91}m`;
  if (m < 0.6) return `\x1b[${negative ? 104 : 101};30m`;
  return `\x1b[${negative ? 44 : 41};97m`;
}

/**
 * The escape sequence that starts a score cell at scale position t (0 = full blue, 0.5 = zero, 1 = full red), in
 * a colour mode. Every mode follows one ramp: nothing at exactly 0, coloured text near 0 (|score| < NEAR_ZERO of
 * the scale), then backgrounds that darken monotonically with |score| (white or black text, whichever reads).
 */
export function cellStyle(t: number, mode: TerminalColor): string {
  if (mode === "none") return "";
  if (mode === "16") return ansi16Style(t);
  const m = Math.abs(t - 0.5) * 2;
  if (m === 0) return "";
  const side = t < 0.5 ? "negative" : "positive";
  if (mode === "truecolor") {
    if (m < NEAR_ZERO) {
      const [r, g, b] = divergingColor(t < 0.5 ? 0.2 : 0.8);  // the map at 60% of the scale: readable on any theme
      return `\x1b[38;2;${r};${g};${b}m`;
    }
    const rgb = divergingColor(t);
    const fg = luminance(rgb) < 140 ? "38;2;255;255;255" : "38;2;0;0;0";
    return `\x1b[48;2;${rgb[0]};${rgb[1]};${rgb[2]};${fg}m`;
  }
  if (m < NEAR_ZERO) return `\x1b[38;5;${NEAR_ZERO_256[side]}m`;
  const ramp = RAMP_256[side];
  const bg = ramp[Math.min(ramp.length - 1, Math.floor(((m - NEAR_ZERO) / (1 - NEAR_ZERO)) * ramp.length))]!;
  return `\x1b[48;5;${bg};38;5;${luminance(xterm256Rgb(bg)) < 140 ? 231 : 16}m`;
}

const luminance = ([r, g, b]: Rgb) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

/** RGB of an xterm-256 colour-cube index (16..231). */
function xterm256Rgb(index: number): Rgb {
  const c = index - 16;
  return [CUBE_LEVELS[Math.floor(c / 36)]!, CUBE_LEVELS[Math.floor(c / 6) % 6]!, CUBE_LEVELS[c % 6]!];
}

/** TERM values of terminals known to do 24-bit colour. */
const TRUECOLOR_TERMS = /(^|-)(direct|truecolor|24bit)$|^xterm-(kitty|ghostty)$|^(alacritty|foot|wezterm|contour)(-|$)/i;
/** TERM values of terminals known to do at least the 16 ANSI colours (Node's `getColorDepth` list). */
const ANSI_TERMS = /ansi|color|linux|cygwin|^con\d+x\d+|^rxvt|^screen|^tmux|^xterm|^vt1\d\d|^vt2\d\d|^putty|^konsole|^gnome|^eterm|^kterm|^mlterm|^st(-|$)/i;

/**
 * Colour mode for a stream, in this order:
 * 1. `NO_COLOR` (non-empty) → "none";
 * 2. `FORCE_COLOR`: "0"/"false" → "none", "2" → "256", "3" → "truecolor", anything else ("", "1", "true") → "16",
 *    even without a TTY;
 * 3. not a TTY, or `TERM=dumb` → "none";
 * 4. `COLORTERM=truecolor|24bit`, Windows Terminal (`WT_SESSION`), `TERM_PROGRAM` iTerm.app / WezTerm / vscode /
 *    ghostty, or a TERM such as `xterm-direct`, `xterm-kitty`, `alacritty` → "truecolor";
 * 5. a TERM containing "256" (`xterm-256color`, `screen-256color`), `TERM_PROGRAM=Apple_Terminal` → "256";
 * 6. another colour TERM (`xterm`, `screen`, `linux`, `vt100`, `rxvt`, `cygwin`, `*color*`, `ansi`, ...) or any
 *    `COLORTERM` → "16";
 * 7. no TERM: "truecolor" on Windows (ConPTY), else "none".
 */
export function detectTerminalColor(
  stream: { isTTY?: boolean } = process.stdout,
  env: Record<string, string | undefined> = process.env,
  platform: string = process.platform,
): TerminalColor {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return "none";
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    const f = force.trim().toLowerCase();
    if (f === "0" || f === "false") return "none";
    if (f === "2") return "256";
    if (f === "3") return "truecolor";
    return "16";
  }
  if (!stream.isTTY) return "none";
  const term = env.TERM ?? "";
  if (term === "dumb") return "none";
  const program = env.TERM_PROGRAM ?? "";
  if (
    /^(truecolor|24bit)$/i.test(env.COLORTERM ?? "") ||
    (env.WT_SESSION !== undefined && env.WT_SESSION !== "") ||
    /^(iTerm\.app|WezTerm|vscode|ghostty|Hyper)$/i.test(program) ||
    TRUECOLOR_TERMS.test(term)
  ) {
    return "truecolor";
  }
  if (/256/.test(term) || program === "Apple_Terminal") return "256";
  if (ANSI_TERMS.test(term) || (env.COLORTERM !== undefined && env.COLORTERM !== "")) return "16";
  if (term === "") return platform === "win32" ? "truecolor" : "none";
  return "16";
}

/** Display width of a string in terminal cells (wide East Asian / emoji = 2, combining marks = 0). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if ((c >= 0x300 && c <= 0x36f) || (c >= 0x200b && c <= 0x200f) || (c >= 0xfe00 && c <= 0xfe0f) || c === 0x20e3) continue;
    const wide =
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0xa4cf && c !== 0x303f) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      (c >= 0x1f300 && c <= 0x1faff) ||
      (c >= 0x20000 && c <= 0x3fffd);
    w += wide ? 2 : 1;
  }
  return w;
}

/** Makes a token printable: control characters as escapes (`\n`, `\t`, `\x1b`, ...), cut to `max` cells. */
export function printableToken(token: string, max = Infinity): string {
  let s = "";
  for (const ch of token) {
    const c = ch.codePointAt(0)!;
    if (ch === "\n") s += "\\n";
    else if (ch === "\r") s += "\\r";
    else if (ch === "\t") s += "\\t";
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) s += `\\x${c.toString(16).padStart(2, "0")}`;
    else s += ch;
  }
  if (displayWidth(s) <= max) return s;
  let out = "";
  let w = 0;
  for (const ch of s) {
    const cw = displayWidth(ch);
    if (w + cw > max - 1) break;
    out += ch;
    w += cw;
  }
  return out + "…";
}

function pad(text: string, width: number, align: "left" | "right" | "center"): string {
  const gap = Math.max(0, width - displayWidth(text));
  if (align === "right") return " ".repeat(gap) + text;
  if (align === "left") return text + " ".repeat(gap);
  const left = Math.floor(gap / 2);
  return " ".repeat(left) + text + " ".repeat(gap - left);
}

interface Cell {
  text: string;
  style?: string;
  bold?: boolean;
}

function renderPanelTable(
  panel: HeatmapPanel,
  columns: number[],
  scale: [number, number],
  mode: TerminalColor,
  maxTokenWidth: number,
  titleSuffix: string,
  maxWidth: number,
): string[] {
  const colored = mode !== "none";
  const header1: Cell[] = [{ text: "" }, { text: "" }, ...columns.map((c) => ({ text: String(c) }))];
  const header2: Cell[] = [
    { text: "" },
    { text: "" },
    ...columns.map((c) => ({ text: printableToken(panel.columnLabels[c] ?? "", maxTokenWidth) })),
  ];
  const body: Cell[][] = [];
  const scores = panel.scores;
  if (scores) {
    const nCols = scores.shape[1]!;
    for (let r = 0; r < scores.shape[0]!; r++) {
      const row: Cell[] = [
        { text: String(panel.rowIndices?.[r] ?? r), bold: true },
        { text: printableToken(panel.rowLabels[r] ?? "", maxTokenWidth), bold: true },
      ];
      for (const c of columns) {
        const v = c < nCols ? scores.data[r * nCols + c]! : NaN;
        const pos = scalePosition(v, scale);
        row.push({ text: formatScore(v, 2), style: pos === null ? undefined : cellStyle(pos, mode) || undefined });
      }
      body.push(row);
    }
  }
  const stepRows: Cell[][] = panel.stepScores.map(([name, values]) => [
    { text: "" },
    { text: printableToken(name, maxTokenWidth), bold: true },
    ...columns.map((c) => {
      const v = c < values.length ? values[c]! : NaN;
      return { text: formatScore(v, 2), bold: Math.abs(v) >= 0.5 };
    }),
  ]);
  const all = [header1, header2, ...body, ...stepRows];
  const widths = header1.map((_, k) => Math.max(1, ...all.map((row) => displayWidth(row[k]?.text ?? ""))));
  const align = (k: number): "left" | "right" | "center" => (k < 2 ? "right" : "center");
  const fmt = (cell: Cell, k: number) => {
    const content = ` ${pad(cell.text, widths[k]!, align(k))} `;
    if (!colored) return content;
    if (cell.style) return `${cell.style}${content}${RESET}`;
    if (cell.bold && cell.text) return `${BOLD}${content}${RESET}`;
    return content;
  };
  const line = (l: string, m: string, r: string, h: string) => l + widths.map((w) => h.repeat(w + 2)).join(m) + r;
  const row = (cells: Cell[], v: string) => v + cells.map((c, k) => fmt(c, k)).join(v) + v;
  const total = widths.reduce((a, w) => a + w + 3, 1);
  // Title and caption are centred over the table, wrapped at word boundaries when wider than the page.
  const centered = (phrases: string[]) => {
    const text = phrases.join(" ");
    return wrapPhrases(phrases, Math.max(total, Math.min(displayWidth(text), maxWidth))).map((l) =>
      pad(l, Math.max(total, displayWidth(l)), "center").replace(/\s+$/, ""),
    );
  };
  const title = [`${panel.label} Saliency Heatmap`, ...(titleSuffix ? [titleSuffix] : [])];
  const out: string[] = centered(title).map((l) => (colored ? `${BOLD}${l}${RESET}` : l));
  out.push(line("┏", "┳", "┓", "━"));
  out.push(row(header1, "┃"), row(header2, "┃"));
  out.push(line("┡", "╇", "┩", "━"));
  for (const r of body) out.push(row(r, "│"));
  if (stepRows.length > 0) {
    if (body.length > 0) out.push(line("├", "┼", "┤", "─"));
    for (const r of stepRows) out.push(row(r, "│"));
  }
  out.push(line("└", "┴", "┘", "─"));
  out.push(...centered(HEATMAP_CAPTION.split(/(?<=,) /)));
  return out;
}

/**
 * Joins phrases with spaces into lines of at most `width` cells, breaking between phrases first and inside a
 * phrase (at spaces) only when the phrase alone is too wide; a word wider than `width` gets a line of its own.
 */
function wrapPhrases(phrases: string[], width: number): string[] {
  const lines: string[] = [];
  let cur = "";
  const push = (piece: string) => {
    const next = cur ? `${cur} ${piece}` : piece;
    if (cur && displayWidth(next) > width) {
      lines.push(cur);
      cur = piece;
    } else cur = next;
  };
  for (const phrase of phrases) {
    if (displayWidth(phrase) <= width) push(phrase);
    else for (const word of phrase.split(" ")) push(word);
  }
  if (cur) lines.push(cur);
  return lines;
}

/**
 * Widest formatted score of each column, from the column's extremes (a formatted score only gets longer as |v|
 * grows on each side of 0): one pass over the scores and two `formatScore` calls per column, for large maps.
 */
function scoreColumnWidths(scores: HeatmapPanel["scores"], n: number): Int32Array {
  const widths = new Int32Array(n);
  if (!scores) return widths;
  const [rows, cols] = [scores.shape[0]!, scores.shape[1]!];
  const lo = new Float64Array(n).fill(Infinity);
  const hi = new Float64Array(n).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < Math.min(n, cols); c++) {
      const v = scores.data[r * cols + c]!;
      if (Number.isNaN(v)) continue;
      if (v === Infinity) widths[c] = Math.max(widths[c]!, 3);
      else if (v === -Infinity) widths[c] = Math.max(widths[c]!, 4);
      else {
        if (v < lo[c]!) lo[c] = v;
        if (v > hi[c]!) hi[c] = v;
      }
    }
  }
  for (let c = 0; c < n; c++) {
    if (lo[c]! <= hi[c]!) widths[c] = Math.max(widths[c]!, formatScore(lo[c]!, 2).length, formatScore(hi[c]!, 2).length);
  }
  return widths;
}

/**
 * Splits column indices into groups whose table fits in `width` (at least one column per group). `fast` sizes
 * score columns from their extremes (`scoreColumnWidths`) instead of formatting every cell.
 */
function columnGroups(panel: HeatmapPanel, width: number | undefined, maxTokenWidth: number, fast = false): number[][] {
  const n = panel.columnLabels.length;
  const all = Array.from({ length: n }, (_, i) => i);
  if (width === undefined || !Number.isFinite(width)) return [all];
  const scoreWidths = fast ? scoreColumnWidths(panel.scores, n) : null;
  // Column widths as the table would size them (content + 2 padding + 1 border).
  const valueWidth = (c: number) => {
    let w = Math.max(displayWidth(String(c)), displayWidth(printableToken(panel.columnLabels[c] ?? "", maxTokenWidth)));
    if (scoreWidths) w = Math.max(w, scoreWidths[c]!);
    else if (panel.scores) {
      const nCols = panel.scores.shape[1]!;
      for (let r = 0; r < panel.scores.shape[0]!; r++) w = Math.max(w, formatScore(panel.scores.data[r * nCols + c]!, 2).length);
    }
    for (const [, v] of panel.stepScores) w = Math.max(w, formatScore(v[c] ?? NaN, 2).length);
    return w + 3;
  };
  const labels = [...panel.rowLabels, ...panel.stepScores.map(([n]) => n)];
  const labelWidth = Math.max(1, ...labels.map((t) => displayWidth(printableToken(t, maxTokenWidth))));
  const lastIndex = panel.rowIndices ? panel.rowIndices.reduce((a, b) => Math.max(a, b), 0) : Math.max(0, panel.rowLabels.length - 1);
  const fixed = 1 + (String(lastIndex).length + 3) + (labelWidth + 3);
  const groups: number[][] = [];
  let cur: number[] = [];
  let used = fixed;
  for (const c of all) {
    const w = valueWidth(c);
    if (cur.length > 0 && used + w > width) {
      groups.push(cur);
      cur = [];
      used = fixed;
    }
    cur.push(c);
    used += w;
  }
  if (cur.length > 0 || groups.length === 0) groups.push(cur);
  return groups;
}

interface Paging {
  topK?: number;
  page?: number;
  pageRows?: number;
}

function checkPaging(options: TerminalRenderOptions): Paging {
  const positiveInt = (name: "topK" | "page" | "pageRows") => {
    const v = options[name];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw invalidOption(name, "a positive integer", v);
    return v;
  };
  return { topK: positiveInt("topK"), page: positiveInt("page"), pageRows: positiveInt("pageRows") };
}

/** How many pages `renderTerminal` splits a heatmap into (rows blocks x column groups). */
function pageLayout(panel: HeatmapPanel, paging: Paging, width: number, maxTokenWidth: number) {
  const pageRows = paging.pageRows ?? DEFAULT_PAGE_ROWS;
  const groups = columnGroups(panel, width, maxTokenWidth, true);
  const rowBlocks = Math.max(1, Math.ceil(panel.rowLabels.length / pageRows));
  return { pageRows, groups, rowBlocks, pages: rowBlocks * groups.length };
}

/**
 * One page of a heatmap: rows `[b * pageRows, (b + 1) * pageRows)` by one column group, titled with its place in
 * the whole; a page number past the last is ERR_INVALID_OPTION naming the number of pages. Without an explicit
 * page (a heatmap over MAX_UNPAGED_CELLS), page 1 and a line on how to see the others.
 */
function renderPage(
  panel: HeatmapPanel,
  paging: Paging,
  rowsNote: string,
  scale: [number, number],
  mode: TerminalColor,
  maxTokenWidth: number,
  width: number,
): string {
  const { pageRows, groups, rowBlocks, pages } = pageLayout(panel, paging, width, maxTokenWidth);
  const page = paging.page ?? 1;
  if (page > pages) throw invalidOption("page", `a page from 1 to ${pages} (the ${panel.label} heatmap's pages)`, page);
  const block = Math.floor((page - 1) / groups.length);
  const cols = groups[(page - 1) % groups.length]!;
  const nRows = panel.rowLabels.length;
  const rows = Array.from({ length: Math.min(nRows, (block + 1) * pageRows) - block * pageRows }, (_, i) => block * pageRows + i);
  const shown = panelRows(panel, rows);
  const index = (i: number) => shown.rowIndices![i]!;
  const rowText = rows.length > 0 ? `rows ${index(0)}–${index(rows.length - 1)}` : "no rows";
  const colText = cols.length > 0 ? `columns ${cols[0]}–${cols[cols.length - 1]} of ${panel.columnLabels.length}` : "no columns";
  const suffix = `(page ${page} of ${pages}: ${[rowsNote, `${rowText}${rowsNote ? "" : ` of ${nRows}`}`, colText].filter(Boolean).join(", ")})`;
  const lines = renderPanelTable(shown, cols, scale, mode, maxTokenWidth, suffix, width);
  if (paging.page === undefined) {
    lines.push(
      `${nRows} x ${panel.columnLabels.length} scores: page 1 of ${pages} (${rowBlocks} row blocks x ${groups.length} column groups) shown; ` +
        "choose another with page / --page N, or keep the most attributed tokens with topK / --top-k K",
    );
  }
  return lines.join("\n");
}

/**
 * Renders every heatmap of the output as text tables. The input must already be aggregated to 2-D
 * (`FeatureAttributionOutput.show()` does that).
 */
export function renderTerminal(output: RenderInput, options: TerminalRenderOptions = {}): string {
  const requested = options.color ?? "none";
  if (requested !== "truecolor" && requested !== "256" && requested !== "16" && requested !== "none" && requested !== "auto") {
    throw invalidOption("color", '"truecolor", "256", "16", "none" or "auto"', requested);
  }
  const mode: TerminalColor = requested === "auto" ? detectTerminalColor() : requested;
  if (options.width !== undefined && !(typeof options.width === "number" && options.width > 0)) {
    throw invalidOption("width", "a positive number", options.width);
  }
  const maxTokenWidth = options.maxTokenWidth ?? 16;
  if (!(typeof maxTokenWidth === "number" && maxTokenWidth >= 2)) throw invalidOption("maxTokenWidth", "a number >= 2", maxTokenWidth);
  const paging = checkPaging(options);
  const panels = heatmapPanels(output);
  const scale = colorScale(panels, options); // over every row, so that top-k and pages keep the colours
  const blocks: string[] = [];
  let lastSeq = -1;
  for (const full of panels) {
    if (full.sequenceIndex !== lastSeq) {
      const heading = `${ordinal(full.sequenceIndex)} instance:`;
      blocks.push(mode === "none" ? heading : `${BOLD}${heading}${RESET}`);
      lastSeq = full.sequenceIndex;
    }
    const top = paging.topK !== undefined && full.scores !== null && paging.topK < full.rowLabels.length;
    const panel = top ? panelRows(full, topKRows(full.scores!, paging.topK!)) : full;
    const rowsNote = top ? `top ${panel.rowLabels.length} of ${full.rowLabels.length} rows by total |score|` : "";
    const cells = panel.rowLabels.length * panel.columnLabels.length;
    if (paging.page === undefined && paging.pageRows === undefined && cells <= MAX_UNPAGED_CELLS) {
      const groups = columnGroups(panel, options.width, maxTokenWidth);
      for (const cols of groups) {
        const colsNote =
          groups.length > 1 && cols.length > 0 ? `columns ${cols[0]}–${cols[cols.length - 1]} of ${panel.columnLabels.length}` : "";
        const notes = [rowsNote, colsNote].filter(Boolean).join(", ");
        blocks.push(renderPanelTable(panel, cols, scale, mode, maxTokenWidth, notes ? `(${notes})` : "", options.width ?? Infinity).join("\n"));
      }
      continue;
    }
    blocks.push(renderPage(panel, paging, rowsNote, scale, mode, maxTokenWidth, options.width ?? DEFAULT_PAGE_WIDTH));
  }
  return blocks.join("\n\n") + (blocks.length > 0 ? "\n" : "");
}

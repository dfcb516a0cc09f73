/**
 * One attribution result drawn in the page: per sequence a token view and the heatmaps (generated tokens
 * across, attributed tokens down, as `lib/viz/html.ts` lays them out; NaN cells blank; one row per step score),
 * from the library's panels, scale and score format. Cells keep their scale position (`data-pos`) so a palette
 * change recolours them without redrawing. Keyboard: each heatmap is one tab stop (roving tabindex); arrow keys,
 * Home/End and PageUp/PageDown move between cells; focusing or hovering a cell shows its step in the token view.
 */
import { colorScale, formatScore, heatmapPanels, HEATMAP_CAPTION, ordinal, scalePosition, type HeatmapPanel } from "../viz/heatmap.js";
import { paletteColor, paletteGradient, type Palette } from "../viz/palette.js";
import type { OutputData, SequenceOutputData } from "../results/types.js";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Whether every attribution tensor of the output is 2-D (what the heatmaps draw). */
export function is2d(data: OutputData): boolean {
  return data.sequenceAttributions.every((s) => [s.sourceAttributions, s.targetAttributions].every((t) => !t || t.shape.length === 2));
}

/** The token view of one sequence: its tokens, coloured by the scores of the step in focus. */
function tokenView(seq: SequenceOutputData, panels: HeatmapPanel[]): { root: HTMLElement; show(step: number | null, row?: { field: string; index: number }): void } {
  const root = el("div", { class: "token-view" });
  const lines: Array<{ field: string; spans: HTMLElement[]; panel: HeatmapPanel | undefined }> = [];
  for (const [field, tokens] of [["source", seq.source], ["target", seq.target]] as const) {
    const panel = panels.find((p) => p.label.toLowerCase() === field);
    if (field === "source" && !panel) continue;
    const line = el("div", { class: "token-line", "data-field": field });
    line.append(el("span", { class: "line-label" }, field === "source" ? "Source" : "Target"));
    const spans = tokens.map((t, r) => {
      const gen = r >= seq.attrPosStart && r < seq.attrPosEnd;
      const s = el("span", { class: gen ? "tok gen" : "tok", "data-row": String(r) }, t.token);
      if (gen) s.addEventListener("mouseenter", () => show(r - seq.attrPosStart));
      line.append(s);
      return s;
    });
    lines.push({ field, spans, panel });
    root.append(line);
  }
  const info = el("div", { class: "step-info", "aria-live": "polite" });
  root.append(info);
  const stepNames = Object.keys(seq.stepScores);
  function show(step: number | null, row?: { field: string; index: number }) {
    for (const { field, spans, panel } of lines) {
      const scores = panel?.scores;
      spans.forEach((s, r) => {
        s.classList.toggle("active", step !== null && r === seq.attrPosStart + step);
        s.classList.toggle("focus-row", !!row && row.field === field && row.index === r);
        const v = step !== null && scores && r < scores.shape[0]! ? scores.data[r * scores.shape[1]! + step]! : NaN;
        if (Number.isNaN(v) || !panel) {
          s.removeAttribute("data-pos");
          s.removeAttribute("title");
        } else {
          s.dataset.pos = String(scalePosition(v, scaleOf(root)));
          s.title = formatScore(v, 3);
        }
      });
    }
    recolor(root);
    if (step === null) {
      info.textContent = "";
      return;
    }
    const token = seq.target[seq.attrPosStart + step]?.token ?? "";
    const parts = [`step ${step} (${JSON.stringify(token)})`];
    if (row) {
      const panel = lines.find((l) => l.field === row.field)?.panel;
      const t = panel?.scores;
      const v = t ? t.data[row.index * t.shape[1]! + step]! : NaN;
      parts.push(`${row.field} token ${row.index} ${JSON.stringify(panel?.rowLabels[row.index] ?? "")}: ${Number.isNaN(v) ? "n/a" : formatScore(v, 3)}`);
    }
    for (const k of stepNames) parts.push(`${k}: ${formatScore(seq.stepScores[k]![step] ?? NaN, 3)}`);
    info.textContent = parts.join(" · ");
  }
  return { root, show };
}

/** The scale [min, max] stored on the result element. */
function scaleOf(node: Element): [number, number] {
  const r = node.closest("[data-min]") as HTMLElement | null;
  return r ? [Number(r.dataset.min), Number(r.dataset.max)] : [-1, 1];
}

/** Colours every element with a scale position under `root` with the palette stored on the page. */
export function recolor(root: Element, palette?: Palette): void {
  const p = palette ?? currentPalette;
  for (const e of root.querySelectorAll<HTMLElement>("[data-pos]")) e.style.background = paletteColor(Number(e.dataset.pos), p);
  for (const e of root.querySelectorAll<HTMLElement>("[data-pos-none]")) e.style.background = "";
  for (const e of root.querySelectorAll<HTMLElement>(".tok:not([data-pos])")) e.style.background = "";
  for (const e of root.querySelectorAll<HTMLElement>(".legend-bar")) e.style.background = paletteGradient(p);
}

let currentPalette: Palette;

/** Sets the palette of every result under `root` (and of results drawn later). */
export function setPalette(root: Element, palette: Palette): void {
  currentPalette = palette;
  recolor(root, palette);
}

function heatmapTable(panel: HeatmapPanel, scale: [number, number], onCell: (c: number, r: number | null) => void): HTMLTableElement {
  const table = el("table", { class: "heatmap", "data-field": panel.label.toLowerCase() });
  table.append(el("caption", {}, `${panel.label} attributions, ${ordinal(panel.sequenceIndex)} instance (${HEATMAP_CAPTION})`));
  const head = el("thead");
  const hr = el("tr");
  hr.append(el("th", { scope: "col" }), el("th", { scope: "col" }));
  panel.columnLabels.forEach((t, c) => hr.append(el("th", { scope: "col", class: "tok-head", title: `step ${c}` }, t)));
  head.append(hr);
  table.append(head);
  const body = el("tbody");
  const scores = panel.scores;
  const cols = panel.columnLabels.length;
  if (scores) {
    for (let r = 0; r < scores.shape[0]!; r++) {
      const tr = el("tr");
      tr.append(el("th", { scope: "row", class: "idx" }, String(r)), el("th", { scope: "row", class: "tok-head" }, panel.rowLabels[r] ?? ""));
      for (let c = 0; c < cols; c++) {
        const v = scores.data[r * scores.shape[1]! + c]!;
        const pos = scalePosition(v, scale);
        const td = el("td", { class: pos === null ? "cell nan" : "cell", "data-r": String(r), "data-c": String(c), tabindex: "-1" }, formatScore(v, 3));
        if (pos !== null) td.dataset.pos = String(pos);
        td.dataset.value = Number.isNaN(v) ? "NaN" : String(v);
        tr.append(td);
      }
      body.append(tr);
    }
  }
  for (const [name, values] of panel.stepScores) {
    const tr = el("tr", { class: "step-score" });
    tr.append(el("th", { scope: "row" }), el("th", { scope: "row" }, name));
    for (let c = 0; c < cols; c++) {
      const v = c < values.length ? values[c]! : NaN;
      tr.append(el("td", { class: Math.abs(v) >= 0.5 ? "step strong" : "step" }, formatScore(v, 3)));
    }
    body.append(tr);
  }
  table.append(body);
  const cells = Array.from(table.querySelectorAll<HTMLElement>("td.cell"));
  if (cells[0]) cells[0].tabIndex = 0;
  const rows = scores ? scores.shape[0]! : 0;
  const at = (r: number, c: number) => cells[r * cols + c];
  table.addEventListener("keydown", (ev) => {
    const cur = ev.target as HTMLElement;
    if (!cur.matches("td.cell")) return;
    let r = Number(cur.dataset.r);
    let c = Number(cur.dataset.c);
    switch (ev.key) {
      case "ArrowRight": c = Math.min(cols - 1, c + 1); break;
      case "ArrowLeft": c = Math.max(0, c - 1); break;
      case "ArrowDown": r = Math.min(rows - 1, r + 1); break;
      case "ArrowUp": r = Math.max(0, r - 1); break;
      case "Home": c = 0; if (ev.ctrlKey) r = 0; break;
      case "End": c = cols - 1; if (ev.ctrlKey) r = rows - 1; break;
      case "PageDown": r = Math.min(rows - 1, r + 10); break;
      case "PageUp": r = Math.max(0, r - 10); break;
      default: return;
    }
    ev.preventDefault();
    const next = at(r, c);
    if (!next || next === cur) return;
    cur.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  });
  const cellOf = (e: Event) => (e.target as HTMLElement).closest?.("td.cell") as HTMLElement | null;
  table.addEventListener("focusin", (e) => {
    const cell = cellOf(e);
    if (!cell) return;
    for (const x of cells) if (x !== cell) x.tabIndex = -1;
    cell.tabIndex = 0;
    onCell(Number(cell.dataset.c), Number(cell.dataset.r));
  });
  table.addEventListener("mouseover", (e) => {
    const cell = cellOf(e);
    if (cell) onCell(Number(cell.dataset.c), Number(cell.dataset.r));
  });
  return table;
}

/**
 * The element showing `data` (2-D attributions): a heading, the colour legend, then per sequence its token view
 * and heatmaps. `label` names it (e.g. the method), `id` prefixes element ids.
 */
export function renderResult(data: OutputData, label: string, id: string): HTMLElement {
  const panels = heatmapPanels(data.sequenceAttributions);
  const scale = colorScale(panels);
  const root = el("section", { class: "result", id, "aria-label": label, "data-min": String(scale[0]), "data-max": String(scale[1]) });
  root.append(el("h2", {}, label));
  const legend = el("div", { class: "legend" });
  legend.append(el("span", {}, formatScore(scale[0], 3)), el("span", { class: "legend-bar", role: "img", "aria-label": "colour scale from negative to positive" }), el("span", {}, formatScore(scale[1], 3)));
  root.append(legend);
  data.sequenceAttributions.forEach((seq, i) => {
    const own = panels.filter((p) => p.sequenceIndex === i);
    const box = el("div", { class: "instance", "data-sequence": String(i) });
    box.append(el("h3", {}, `${ordinal(i)} instance`));
    const view = tokenView(seq, own);
    box.append(view.root);
    for (const p of own) {
      const wrap = el("div", { class: "heatmap-wrap" });
      wrap.append(heatmapTable(p, scale, (c, r) => view.show(c, r === null ? undefined : { field: p.label.toLowerCase(), index: r })));
      box.append(wrap);
    }
    box.addEventListener("mouseleave", () => view.show(null));
    root.append(box);
  });
  recolor(root);
  return root;
}

/**
 * Virtualised heatmaps for the HTML page: a heatmap of more than `VIRTUAL_CELLS` cells is not written as a
 * `<table>` (a 4,000-token map would be 16M DOM cells) but as its data, a base64 float32 blob (4 bytes per cell
 * as little-endian float32, base64: about 5.3 bytes per cell in the file) plus token labels, in a scrollable
 * viewport. The page script (`GRID_SCRIPT`) draws only the cells in view, with the row and column headers
 * pinned, and redraws on scroll: the DOM holds O(visible cells), the file O(cells) as data.
 *
 * Cells look like the static table's: 3 decimals (`formatScore`), Inseq's red-transparent-blue backgrounds,
 * step scores bold when |value| >= 0.5, and carry `data-r` / `data-c` (row, column) for tools and tests. The
 * token view of a virtualised sequence reads its scores from the same blob (`{"grid": <heatmap id>}`).
 */
import { escapeHtml } from "./html-escape.js";
import { HEATMAP_CAPTION, type HeatmapPanel } from "./heatmap.js";
import { PALETTES } from "./palette.js";

/** Heatmaps with more cells than this are virtualised (when `virtualize` is "auto"). */
export const VIRTUAL_CELLS = 40_000;

/** Pixel geometry of the grid, shared by the markup and the script. */
export const GRID_GEOMETRY = Object.freeze({ rowHeight: 24, cellWidth: 64, indexWidth: 56, labelWidth: 160, headerHeight: 48, maxHeight: 600 });

/** Base64 of the little-endian float32 bytes of `data` (NaN kept: the script shows an empty cell). */
function float32Base64(data: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64");
  const bytes = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) bytes.writeFloatLE(data[i]!, 4 * i);
  return bytes.toString("base64");
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** JSON safe inside `<script>`: `<` escaped so no `</script>` or `<!--` can appear. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** The virtualised heatmap of `panel` (id and classes as the static table's, plus `inseq-virtual`). */
export function renderVirtualPanel(panel: HeatmapPanel, scale: [number, number], id: string): string {
  const rows = panel.scores ? panel.scores.shape[0]! : 0;
  const cols = panel.columnLabels.length;
  const g = GRID_GEOMETRY;
  const height = Math.min(g.maxHeight, g.headerHeight + (rows + panel.stepScores.length) * g.rowHeight + 20);
  const data = {
    rows: panel.rowLabels,
    cols: panel.columnLabels,
    steps: Object.fromEntries(panel.stepScores.map(([k, v]) => [k, Array.from({ length: cols }, (_, c) => (c < v.length && Number.isFinite(v[c]!) ? v[c]! : null))])),
    scores: panel.scores ? float32Base64(panel.scores.data) : "", // [rows, cols] f32 LE
  };
  return [
    `<div class="inseq-heatmap inseq-virtual" id="${id}" data-field="${panel.label.toLowerCase()}" data-min="${scale[0]}" data-max="${scale[1]}">`,
    `<div class="inseq-title"><span class="inseq-label">${panel.label} Saliency Heatmap</span><br>${escapeHtml(HEATMAP_CAPTION)}</div>`,
    `<div class="inseq-grid-note">${rows} × ${cols} scores: drawn as you scroll (needs JavaScript).</div>`,
    `<div class="inseq-grid" tabindex="0" style="height:${height}px"><div class="inseq-grid-sizer"><div class="inseq-grid-layer"></div></div></div>`,
    `<script type="application/json" class="inseq-grid-data">${scriptJson(data)}</script>`,
    "</div>",
  ].join("\n");
}

export const GRID_STYLE = `
.inseq-grid { position: relative; overflow: auto; border: 1px solid #888; max-width: 100%; }
.inseq-grid-sizer { position: relative; }
.inseq-grid-layer { position: absolute; left: 0; top: 0; }
.inseq-grid-layer > div { position: absolute; box-sizing: border-box; overflow: hidden; white-space: pre; text-align: center;
  font-size: 13px; line-height: ${GRID_GEOMETRY.rowHeight}px; height: ${GRID_GEOMETRY.rowHeight}px; width: ${GRID_GEOMETRY.cellWidth}px; }
.inseq-grid-layer > .inseq-vhead { background: #fff; font-weight: bold; line-height: 20px; height: ${GRID_GEOMETRY.headerHeight}px; z-index: 1; }
.inseq-grid-layer > .inseq-vindex, .inseq-grid-layer > .inseq-vlabel { background: #fff; font-weight: bold; z-index: 1; }
.inseq-grid-layer > .inseq-vindex { width: ${GRID_GEOMETRY.indexWidth}px; text-align: right; padding-right: 6px; }
.inseq-grid-layer > .inseq-vlabel { width: ${GRID_GEOMETRY.labelWidth}px; text-align: right; padding-right: 6px; }
.inseq-grid-layer > .inseq-vcorner { background: #fff; z-index: 2; height: ${GRID_GEOMETRY.headerHeight}px; width: ${GRID_GEOMETRY.indexWidth + GRID_GEOMETRY.labelWidth}px; }
.inseq-grid-layer > .inseq-vstep { outline: thin solid; }
.inseq-grid-note { font-size: 12px; color: #555; margin: 0 5px 5px 5px; }
`;

/**
 * Draws every `.inseq-virtual` heatmap of its root (the element holding the script), on load, scroll, resize
 * and selector changes; decodes each blob once. `root.__inseqCell(m, r, step)` reads a token-view matrix, nested
 * arrays or `{grid: id}`.
 */
export const GRID_SCRIPT = `
(function () {
  var root = document.currentScript && document.currentScript.parentElement;
  if (!root || root.getAttribute("data-inseq-grid-ready")) return;
  root.setAttribute("data-inseq-grid-ready", "1");
  var G = ${JSON.stringify(GRID_GEOMETRY)};
  var cache = {};
  function grid(el) {
    if (cache[el.id]) return cache[el.id];
    var d = JSON.parse(el.querySelector(".inseq-grid-data").textContent);
    var s = atob(d.scores), bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    d.values = new Float32Array(bytes.buffer);
    d.scores = null;
    d.stepNames = Object.keys(d.steps);
    cache[el.id] = d;
    return d;
  }
  root.__inseqCell = function (m, r, step) {
    if (m.grid !== undefined) {
      var el = document.getElementById(m.grid);
      if (!el) return null;
      var g = grid(el), C = g.cols.length;
      if (r >= g.rows.length || step >= C) return null;
      var v = g.values[r * C + step];
      return isFinite(v) ? v : null;
    }
    return m[r] ? m[r][step] : null;
  };
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; });
  }
  function fmt(v) {
    if (v === null || v === undefined || isNaN(v)) return "";
    if (!isFinite(v)) return v > 0 ? "inf" : "-inf";
    var s = v.toFixed(3);
    return /^-0\\.?0*$/.test(s) ? s.slice(1) : s;
  }
  function background(v, min, max) {
    if (v === null || v === undefined || isNaN(v)) return "";
    var t = max > min ? Math.min(1, Math.max(0, (v - min) / (max - min))) : 0.5;
    return t < 0.5 ? "rgba(${PALETTES.inseq.negative.join(", ")}, " + ((0.5 - t) * 2).toFixed(3) + ")" : "rgba(${PALETTES.inseq.positive.join(", ")}, " + ((t - 0.5) * 2).toFixed(3) + ")";
  }
  function box(cls, x, y, text, extra) {
    return '<div class="' + cls + '" style="left:' + x + "px;top:" + y + "px" + (extra || "") + '">' + text + "</div>";
  }
  var X0 = G.indexWidth + G.labelWidth;
  function draw(el) {
    var vp = el.querySelector(".inseq-grid"), d = grid(el);
    var R = d.rows.length, C = d.cols.length, S = d.stepNames, N = R + S.length;
    var min = parseFloat(el.getAttribute("data-min")), max = parseFloat(el.getAttribute("data-max"));
    var sizer = el.querySelector(".inseq-grid-sizer");
    sizer.style.width = X0 + C * G.cellWidth + "px";
    sizer.style.height = G.headerHeight + N * G.rowHeight + "px";
    var h = vp.clientHeight || G.maxHeight, w = vp.clientWidth || 1000, top = vp.scrollTop, left = vp.scrollLeft;
    var r0 = Math.max(0, Math.floor(top / G.rowHeight)), r1 = Math.min(N, Math.ceil((top + h) / G.rowHeight) + 1);
    var c0 = Math.max(0, Math.floor(left / G.cellWidth)), c1 = Math.min(C, Math.ceil((left + w) / G.cellWidth) + 1);
    var out = [];
    for (var r = r0; r < r1; r++) {
      var y = G.headerHeight + r * G.rowHeight, step = r >= R ? d.steps[S[r - R]] : null;
      for (var c = c0; c < c1; c++) {
        var x = X0 + c * G.cellWidth, attrs = ' data-r="' + r + '" data-c="' + c + '"';
        if (step) {
          var s = step[c], t = fmt(s);
          out.push(box("inseq-vstep", x, y, s !== null && Math.abs(s) >= 0.5 ? "<b>" + t + "</b>" : t).replace("<div ", "<div" + attrs + " "));
        } else {
          var v = d.values[r * C + c], bg = background(v, min, max);
          out.push(box("inseq-vcell", x, y, fmt(v), bg ? ";background:" + bg : "").replace("<div ", "<div" + attrs + " "));
        }
      }
      out.push(box("inseq-vindex", left, y, r < R ? String(r) : ""));
      out.push(box("inseq-vlabel", left + G.indexWidth, y, esc(r < R ? d.rows[r] : S[r - R])));
    }
    for (var c2 = c0; c2 < c1; c2++) out.push(box("inseq-vhead", X0 + c2 * G.cellWidth, top, c2 + "<br>" + esc(d.cols[c2])));
    out.push(box("inseq-vcorner", left, top, ""));
    el.querySelector(".inseq-grid-layer").innerHTML = out.join("");
  }
  var grids = Array.prototype.slice.call(root.querySelectorAll(".inseq-virtual"));
  function drawAll() { grids.forEach(draw); }
  grids.forEach(function (el) {
    var pending = false;
    el.querySelector(".inseq-grid-note").hidden = true;
    el.querySelector(".inseq-grid").addEventListener("scroll", function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; draw(el); });
    });
  });
  root.addEventListener("change", function () { setTimeout(drawAll, 0); });
  window.addEventListener("resize", drawAll);
  drawAll();
})();
`;

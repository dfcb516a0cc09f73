/**
 * The two result panes, A and B, side by side: what each shows (the decoded result, its server id or its JSON
 * text, the request that produced it) and its download.
 */
import type { OutputData } from "../results/types.js";
import { downloadResult } from "./api.js";
import { $, showError } from "./dom.js";
import { is2d, renderResult } from "./heatmap-view.js";

/** What a pane shows: the decoded result, its server id (live) or its JSON text (static), and its label. */
export interface Pane {
  data: OutputData;
  label: string;
  /** Server result id (live mode). */
  id: string | null;
  /** The document as JSON text, for a download without the server. */
  text: string | null;
  /** The request that produced it (live mode), reused by the comparison run. */
  request: Record<string, unknown> | null;
}

export const panes: Array<Pane | null> = [null, null];
const listeners: Array<() => void> = [];

/** Calls `fn` after every pane change. */
export function onPaneChange(fn: () => void): void {
  listeners.push(fn);
}

/** Shows `pane` in slot `k` (A = 0, B = 1). */
export function showPane(k: number, pane: Pane | null): void {
  panes[k] = pane;
  const slot = $(`pane-${k}`);
  slot.replaceChildren();
  if (pane) {
    if (is2d(pane.data)) {
      const result = renderResult(pane.data, pane.label, `result-${k}`);
      if (pane.id) result.dataset.resultId = pane.id;
      slot.append(result);
    } else {
      const note = document.createElement("p");
      note.className = "result";
      const how = pane.id ? 'aggregate them here (e.g. aggregator "scores" with function "mean")' : "aggregate them before saving (out.aggregate(), or open the result through inseq serve)";
      note.textContent = `${pane.label}: attributions with more than two dimensions; ${how} to draw the heatmap.`;
      slot.append(note);
    }
  }
  $("tools").hidden = !panes[0] && !panes[1];
  $("download-0").hidden = !panes[0];
  $("download-1").hidden = !panes[1];
  for (const fn of listeners) fn();
}

/** "method · model · contrast …" for a pane's heading. */
export function methodLabel(data: OutputData, fallback: string, contrast?: unknown): string {
  const info = data.info;
  const parts = [String(info.attribution_method ?? fallback)];
  if (info.model_name) parts.push(String(info.model_name));
  if (contrast) parts.push(`contrast ${JSON.stringify(contrast)}`);
  return parts.join(" · ");
}

/** Saves `blob` as `name` through a temporary link. */
function saveBlob(blob: Blob, name: string): void {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** Downloads pane `k`'s result: the server's stored document (live), or the loaded file's JSON (static). */
export async function download(k: number): Promise<void> {
  const pane = panes[k];
  if (!pane) return;
  showError(null);
  try {
    if (pane.id) saveBlob(await downloadResult(pane.id), `inseq-${pane.id}.json`);
    else saveBlob(new Blob([pane.text ?? ""], { type: "application/json" }), "inseq-attributions.json");
  } catch (err) {
    showError(err);
  }
}

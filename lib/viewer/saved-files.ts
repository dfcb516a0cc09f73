/**
 * Static mode: a saved Inseq attribution file (file picker, or dropped anywhere on the page) opened into pane A
 * or B, read by `open-file.ts` and decoded by the library's reader.
 */
import { parseOutputDocument } from "../results/inseq-json-read.js";
import { $, showError } from "./dom.js";
import { fileText } from "./open-file.js";
import { methodLabel, showPane } from "./panes.js";

async function openFile(file: File): Promise<void> {
  showError(null);
  try {
    const text = await fileText(file);
    const data = parseOutputDocument(text, file.name);
    const k = Number($<HTMLSelectElement>("open-into").value);
    showPane(k, { data, label: `${file.name} — ${methodLabel(data, "attributions")}`, id: null, text, request: null });
  } catch (err) {
    showError(err);
  }
}

export function initOpen(): void {
  const input = $<HTMLInputElement>("file");
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    input.value = ""; // the same file chosen again still fires "change" (e.g. into the other pane)
    if (file) void openFile(file);
  });
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    document.body.classList.remove("dragging");
    const f = e.dataTransfer?.files?.[0];
    if (f) void openFile(f);
  });
}

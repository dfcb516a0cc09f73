/**
 * The page: static mode (open a saved Inseq JSON from a file, no server) everywhere, and live mode when the page
 * is served by `inseq serve` (its API answers): pick and load a model, run an attribution with live progress and
 * cancel, a second run (another method or contrast target) beside the first on the same input and output,
 * aggregation on the server, download. The palette is remembered in localStorage.
 */
import { decodeOutputDocument, parseOutputDocument } from "../results/inseq-json-read.js";
import type { OutputData } from "../results/types.js";
import { PALETTES, type PaletteId } from "../viz/palette.js";
import { aggregateResult, ApiError, attribute, downloadResult, listMethods, listModels, loadModel, setToken, type MethodEntry, type MethodsReply } from "./api.js";
import { is2d, renderResult, setPalette } from "./heatmap-view.js";
import { readMethodArgs, renderMethodArgs } from "./method-args.js";
import { fileText } from "./open-file.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const PALETTE_KEY = "inseq-viewer-palette";

/** What a pane shows: the decoded result, its server id (live) or its JSON text (static), and its label. */
interface Pane {
  data: OutputData;
  label: string;
  /** Server result id (live mode). */
  id: string | null;
  /** The document as JSON text, for a download without the server. */
  text: string | null;
  /** The request that produced it (live mode), reused by the comparison run. */
  request: Record<string, unknown> | null;
}

const panes: Array<Pane | null> = [null, null];
let methods: MethodEntry[] = [];
let running: AbortController | null = null;

function showError(err: unknown): void {
  const e = err as { code?: string; message?: string };
  $("error").textContent = err ? `${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}` : "";
}

function storedPalette(): PaletteId {
  try {
    const v = localStorage.getItem(PALETTE_KEY);
    if (v && v in PALETTES) return v as PaletteId;
  } catch {
    // storage disabled (some file:// setups): the default palette
  }
  return "inseq";
}

function initPalette(): void {
  const select = $<HTMLSelectElement>("palette");
  for (const p of Object.values(PALETTES)) select.append(new Option(p.label, p.id));
  select.value = storedPalette();
  setPalette(document.body, PALETTES[select.value as PaletteId]);
  select.addEventListener("change", () => {
    const id = select.value as PaletteId;
    try {
      localStorage.setItem(PALETTE_KEY, id);
    } catch {
      // not remembered, still applied
    }
    setPalette(document.body, PALETTES[id]);
  });
}

/** Shows `pane` in slot `k` (A = 0, B = 1). */
function showPane(k: number, pane: Pane | null): void {
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
  $("download-1").hidden = !panes[1];
  $("download-0").hidden = !panes[0];
  const live = document.body.dataset.mode === "live";
  $<HTMLButtonElement>("aggregate").disabled = !live || !panes.some((p) => p?.id);
  $<HTMLButtonElement>("run-1").disabled = !live || !panes[0]?.request || running !== null;
}

function methodLabel(data: OutputData, fallback: string, contrast?: unknown): string {
  const info = data.info;
  const parts = [String(info.attribution_method ?? fallback)];
  if (info.model_name) parts.push(String(info.model_name));
  if (contrast) parts.push(`contrast ${JSON.stringify(contrast)}`);
  return parts.join(" · ");
}

// ---------------------------------------------------------------------------------------------------------------
// Static mode: saved files
// ---------------------------------------------------------------------------------------------------------------

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

function initOpen(): void {
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
async function download(k: number): Promise<void> {
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

// ---------------------------------------------------------------------------------------------------------------
// Live mode: the server's API
// ---------------------------------------------------------------------------------------------------------------

const idOf = (x: string | { id: string }) => (typeof x === "string" ? x : x.id);

function fillSelect(select: HTMLSelectElement, values: string[], first?: [string, string]): void {
  select.replaceChildren();
  if (first) select.append(new Option(first[1], first[0]));
  for (const v of values) select.append(new Option(v, v));
}

function initMethods(reply: MethodsReply): void {
  methods = reply.methods;
  for (const k of [0, 1]) {
    const select = $<HTMLSelectElement>(`method-${k}`);
    fillSelect(select, methods.map((m) => m.id));
    select.value = methods.some((m) => m.id === "saliency") ? (k === 0 ? "saliency" : methods.some((m) => m.id === "input_x_gradient") ? "input_x_gradient" : "saliency") : methods[0]?.id ?? "";
    const render = () => renderMethodArgs($(`args-${k}`), methods.find((m) => m.id === select.value), `arg-${k}`);
    select.addEventListener("change", render);
    render();
  }
  const steps = reply.stepFunctions.map(idOf);
  fillSelect($<HTMLSelectElement>("attributed-fn"), steps, ["", "(method default)"]);
  const box = $("step-scores");
  box.replaceChildren();
  for (const s of steps) {
    const label = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.value = s;
    cb.checked = s === "probability";
    label.append(cb, ` ${s}`);
    box.append(label);
  }
  fillSelect($<HTMLSelectElement>("aggregator"), reply.aggregators.map(idOf));
  fillSelect($<HTMLSelectElement>("aggregate-fn"), reply.aggregationFunctions.map(idOf), ["", "(default)"]);
}

async function initModels(): Promise<void> {
  const reply = await listModels();
  const select = $<HTMLSelectElement>("model");
  const ids = [...reply.models.map((m) => m.id), ...(reply.allowed ?? []).filter((a) => !reply.models.some((m) => m.id === a))];
  select.replaceChildren();
  for (const id of ids) {
    const m = reply.models.find((x) => x.id === id);
    select.append(new Option(m?.loaded ? `${id} (loaded)` : id, id));
  }
  const loaded = reply.models.find((m) => m.loaded);
  if (loaded) select.value = loaded.id;
  const status = $("model-status");
  select.addEventListener("change", async () => {
    status.textContent = `loading ${select.value}…`;
    try {
      const m = await loadModel(select.value);
      status.textContent = `${m.id} loaded${m.kind ? ` (${m.kind})` : ""}`;
      const option = select.selectedOptions[0];
      if (option) option.text = `${option.value} (loaded)`;
    } catch (err) {
      status.textContent = "";
      showError(err);
    }
  });
}

function setProgress(done: number, total: number): void {
  const bar = $("progress");
  bar.setAttribute("aria-valuemax", String(Math.max(total, 1)));
  bar.setAttribute("aria-valuenow", String(done));
  bar.setAttribute("aria-valuetext", total > 0 ? `${done} of ${total}` : "starting");
  (bar.firstElementChild as HTMLElement).style.width = `${total > 0 ? (100 * done) / total : 0}%`;
}

/** The request of run `k`: the shared fields plus that run's method, arguments and contrast target. */
function buildRequest(k: number): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const attributedFn = $<HTMLSelectElement>("attributed-fn").value;
  const contrast = $<HTMLInputElement>(`contrast-${k}`).value;
  if (attributedFn) options.attributedFn = attributedFn;
  else if (contrast) options.attributedFn = "contrast_prob_diff";
  if (contrast) options.contrastTargets = contrast;
  const stepScores = Array.from($("step-scores").querySelectorAll<HTMLInputElement>("input:checked"), (c) => c.value);
  if (stepScores.length) options.stepScores = stepScores;
  const methodArgs = readMethodArgs($(`args-${k}`));
  if (Object.keys(methodArgs).length) options.methodArgs = methodArgs;
  const target = $<HTMLInputElement>("target").value;
  if (target) options.generatedTexts = target;
  const maxNew = $<HTMLInputElement>("max-new-tokens").value;
  if (maxNew) options.generationArgs = { maxNewTokens: Number(maxNew) };
  return { model: $<HTMLSelectElement>("model").value, inputs: $<HTMLTextAreaElement>("prompt").value, method: $<HTMLSelectElement>(`method-${k}`).value, options };
}

async function run(k: number): Promise<void> {
  if (running) return;
  showError(null);
  let request = buildRequest(k);
  if (k === 1) {
    // Same input and output as run A: its prompt, and its generated text as the forced target.
    const a = panes[0]?.request;
    const generated = panes[0]?.data.info.generated_texts;
    if (!a) return;
    const options = { ...(request.options as Record<string, unknown>) };
    if (Array.isArray(generated) && typeof generated[0] === "string") options.generatedTexts = generated[0];
    delete options.generationArgs;
    request = { ...request, model: a.model, inputs: a.inputs, options };
  }
  running = new AbortController();
  const status = $("status");
  $<HTMLButtonElement>("cancel").disabled = false;
  for (const b of [0, 1]) $<HTMLButtonElement>(`run-${b}`).disabled = true;
  setProgress(0, 1);
  status.textContent = "sending…";
  try {
    const reply = await attribute(
      request,
      {
        onQueued: (position) => (status.textContent = position > 0 ? `queued (${position} ahead)` : "queued"),
        onStarted: () => (status.textContent = "running…"),
        onProgress: (done, total) => {
          setProgress(done, total);
          status.textContent = `${done} / ${total}`;
        },
      },
      running.signal,
    );
    const data = decodeOutputDocument(reply.output, "result");
    status.textContent = "done";
    const contrast = (request.options as Record<string, unknown>).contrastTargets;
    showPane(k, { data, label: `${k === 0 ? "A" : "B"}: ${methodLabel(data, String(request.method), contrast)}`, id: reply.id, text: null, request });
    if (k === 0) showPane(1, panes[1]);
  } catch (err) {
    if ((err as Error).name === "AbortError") status.textContent = "cancelled";
    else {
      status.textContent = "failed";
      showError(err);
    }
  } finally {
    running = null;
    $<HTMLButtonElement>("cancel").disabled = true;
    $<HTMLButtonElement>("run-0").disabled = false;
    $<HTMLButtonElement>("run-1").disabled = !panes[0]?.request;
  }
}

async function aggregate(): Promise<void> {
  showError(null);
  const aggregator = $<HTMLSelectElement>("aggregator").value;
  const fn = $<HTMLSelectElement>("aggregate-fn").value;
  const optionsText = $<HTMLInputElement>("aggregate-options").value.trim();
  let options: unknown = null;
  if (optionsText) {
    try {
      options = JSON.parse(optionsText);
    } catch {
      options = undefined;
    }
    if (options === null || typeof options !== "object" || Array.isArray(options)) {
      showError({ code: "ERR_INVALID_OPTION", message: `Expected a JSON object for the aggregator options but received ${JSON.stringify(optionsText)}` });
      return;
    }
  }
  const step = options ? { aggregator, aggregateFn: fn || null, options } : fn ? [aggregator, fn] : aggregator;
  const status = $("tools-status");
  status.textContent = "aggregating…";
  try {
    for (const k of [0, 1]) {
      const pane = panes[k];
      if (!pane?.id) continue;
      const reply = await aggregateResult(pane.id, [step]);
      showPane(k, { ...pane, data: decodeOutputDocument(reply.output, "result"), id: reply.id, label: `${pane.label} · ${fn ? `${aggregator}(${fn})` : aggregator}` });
    }
    status.textContent = "aggregated";
  } catch (err) {
    status.textContent = "";
    showError(err);
  }
}

const TOKEN_KEY = "inseq-viewer-token";

/** The token kept for this tab (null when none, or when storage is disabled). */
function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Asks for the server's token (a server started with one answers the API with 401 without it). */
function askToken(wrong: boolean): void {
  const form = $("token-form");
  form.hidden = false;
  $("token-status").textContent = wrong ? "That token was refused." : "";
  $("token").focus();
}

/** Live mode when the page is served by `inseq serve` and its API answers; otherwise the page stays static. */
async function connect(): Promise<void> {
  if (!/^https?:$/.test(location.protocol)) return;
  let reply: MethodsReply;
  try {
    [reply] = await Promise.all([listMethods(), initModels()]);
  } catch (err) {
    if (err instanceof ApiError && err.code === "ERR_UNAUTHORIZED") askToken(storedToken() !== null);
    return; // not served by `inseq serve`: static mode
  }
  $("token-form").hidden = true;
  initMethods(reply);
  document.body.dataset.mode = "live";
  $("mode").textContent = "live";
  $("run-form").hidden = false;
}

function initLive(): void {
  $("run-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void run(0);
  });
  $("run-1").addEventListener("click", () => void run(1));
  $("cancel").addEventListener("click", () => running?.abort());
  $("aggregate").addEventListener("click", () => void aggregate());
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $<HTMLInputElement>("token").value.trim();
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch {
      // kept in memory only
    }
    setToken(value || null);
    void connect();
  });
  const saved = storedToken();
  if (saved) setToken(saved);
  void connect();
}

document.body.dataset.mode = "static";
initPalette();
initOpen();
$("download-0").addEventListener("click", () => void download(0));
$("download-1").addEventListener("click", () => void download(1));
initLive();

/**
 * Live mode, when the page is served by `inseq serve` and its API answers: the model picker (loaded on choice),
 * the method pickers with their argument fields, runs A and B (B: run A's input and output with another method
 * or contrast target) with progress and cancel, aggregation of both results on the server, and the token form
 * of a server that has a token.
 */
import { decodeOutputDocument } from "../results/inseq-json-read.js";
import { aggregateResult, ApiError, attribute, listMethods, listModels, loadModel, setToken, type MethodEntry, type MethodsReply } from "./api.js";
import { $, showError } from "./dom.js";
import { readMethodArgs, renderMethodArgs } from "./method-args.js";
import { methodLabel, onPaneChange, panes, showPane } from "./panes.js";

let methods: MethodEntry[] = [];
let running: AbortController | null = null;

/** Run, compare and aggregate are enabled when they can act. */
function updateButtons(): void {
  const live = document.body.dataset.mode === "live";
  $<HTMLButtonElement>("run-0").disabled = running !== null;
  $<HTMLButtonElement>("run-1").disabled = !live || running !== null || !panes[0]?.request;
  $<HTMLButtonElement>("aggregate").disabled = !live || running !== null || !panes.some((p) => p?.id);
}

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
  updateButtons();
  setProgress(0, 1);
  status.textContent = "sending…";
  try {
    const reply = await attribute(
      request,
      {
        onQueued: (position) => (status.textContent = position > 0 ? `queued: place ${position} in line` : "queued"),
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
  } catch (err) {
    if ((err as Error).name === "AbortError") status.textContent = "cancelled";
    else {
      status.textContent = "failed";
      showError(err);
    }
  } finally {
    running = null;
    $<HTMLButtonElement>("cancel").disabled = true;
    updateButtons();
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
  updateButtons();
}

export function initLive(): void {
  $("run-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void run(0);
  });
  $("run-1").addEventListener("click", () => void run(1));
  onPaneChange(updateButtons);
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

/**
 * The `inseq serve` HTTP routes the viewer uses, same origin only (relative URLs: the page is served at `/`).
 * Errors come back as `{error: {code, message}}`; they are thrown as `ApiError` with that code. A server with a
 * token gets it as `Authorization: Bearer` on every call (`setToken`).
 */
import { readSse } from "./sse.js";

export interface ModelEntry {
  id: string;
  loaded: boolean;
  kind: string | null;
}

/** One method argument as `/v1/methods` lists it (a bare name, or an object with type and default). */
/** A method argument as /v1/methods lists it (lib/attribution/method-arg-forms.ts: type, bounds, choices). */
export type MethodArg = string | { name: string; type?: string; default?: unknown; description?: string; choices?: unknown[]; minimum?: number; maximum?: number };

export interface MethodEntry {
  id: string;
  kind?: string;
  description?: string;
  defaultAttributedFn?: string;
  args?: MethodArg[];
  /** Older form: option names and numeric defaults. */
  options?: string[];
  defaults?: Record<string, unknown>;
}

export interface MethodsReply {
  methods: MethodEntry[];
  stepFunctions: Array<string | { id: string }>;
  aggregators: Array<string | { id: string }>;
  aggregationFunctions: Array<string | { id: string }>;
}

/** An attribution result: its id on the server and the Inseq JSON document. */
export interface ResultReply {
  id: string;
  output: unknown;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

let token: string | null = null;

/** The bearer token sent with every request from now on (null: none). */
export function setToken(value: string | null): void {
  token = value;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

const get = (path: string) => fetch(path, { headers: headers({ accept: "application/json" }) });

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(`Expected JSON from the server but received ${res.status} ${text.slice(0, 200)}`, "ERR_BAD_REPLY");
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(err?.message ?? `HTTP ${res.status}`, err?.code ?? `HTTP_${res.status}`);
  }
  return body as T;
}

const post = (path: string, body: unknown, signal?: AbortSignal) =>
  fetch(path, { method: "POST", headers: headers({ "content-type": "application/json", accept: "application/json" }), body: JSON.stringify(body), signal });

export const listModels = async () => json<{ models: ModelEntry[]; allowed?: string[] }>(await get("v1/models"));
export const listMethods = async () => json<MethodsReply>(await get("v1/methods"));
export const loadModel = async (model: string) => json<ModelEntry>(await post("v1/models/load", { model }));
export const aggregateResult = async (id: string, aggregate: unknown[]) => json<ResultReply>(await post("v1/aggregate", { id, aggregate }));

/** The stored result `id` as a file (`GET /v1/results/:id?download=1`, with the token when there is one). */
export async function downloadResult(id: string): Promise<Blob> {
  const res = await fetch(`v1/results/${encodeURIComponent(id)}?download=1`, { headers: headers() });
  if (!res.ok) await json(res);
  return res.blob();
}

export interface AttributeEvents {
  onQueued?(position: number): void;
  onStarted?(): void;
  onProgress?(done: number, total: number): void;
}

/**
 * POST /v1/attribute with `Accept: text/event-stream`: reports queue position, start and progress as they come,
 * resolves with the result. Aborting `signal` closes the stream (the server cancels the job).
 */
export async function attribute(body: Record<string, unknown>, events: AttributeEvents, signal: AbortSignal): Promise<ResultReply> {
  const res = await fetch("v1/attribute", {
    method: "POST",
    headers: headers({ "content-type": "application/json", accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    const reply = await json<ResultReply>(res); // an error reply, or a server answering plain JSON
    return reply;
  }
  if (!res.body) throw new ApiError("Expected an event stream but the reply has no body", "ERR_BAD_REPLY");
  for await (const e of readSse(res.body)) {
    const data = e.data ? (JSON.parse(e.data) as Record<string, unknown>) : {};
    if (e.event === "queued") events.onQueued?.(Number(data.position ?? 0));
    else if (e.event === "started") events.onStarted?.();
    else if (e.event === "progress") events.onProgress?.(Number(data.done ?? 0), Number(data.total ?? 0));
    else if (e.event === "result") return data as unknown as ResultReply;
    else if (e.event === "error") throw new ApiError(String(data.message ?? "attribution failed"), String(data.code ?? "ERR_UNKNOWN"));
  }
  throw new ApiError("Expected a result event but the stream ended without one", "ERR_BAD_REPLY");
}

/**
 * Finding one wheel file on "simple" package indexes (PEP 503 HTML, PEP 691 JSON), in pip's index order:
 * `PIP_INDEX_URL` (default https://pypi.org/simple), then each of `PIP_EXTRA_INDEX_URL`.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import { httpFetch } from "../core/http.js";
import type { PinnedWheel } from "./pin.js";

export const DEFAULT_INDEX_URL = "https://pypi.org/simple";

const ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";

/** One file listed on a project page. */
export interface IndexFile {
  filename: string;
  /** Absolute download URL (the `#sha256=` fragment removed). */
  url: string;
  sha256?: string;
  size?: number;
}

/** Where a pinned wheel is downloaded from. */
export interface WheelLocation {
  url: string;
  /** The index's sha256 for the file, when it gives one (always equal to the pinned one). */
  sha256?: string;
  /** The project page that listed it. */
  page: string;
}

export interface IndexOptions {
  /** Replaces PIP_INDEX_URL. */
  indexUrl?: string;
  /** Replaces PIP_EXTRA_INDEX_URL. */
  extraIndexUrls?: string[];
  /** Read for PIP_INDEX_URL, PIP_EXTRA_INDEX_URL and the proxy variables. Default process.env. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** PEP 503 name normalization: `Nvidia_CUDA.runtime` -> `nvidia-cuda-runtime`. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

/** The index URLs searched, in order: the main index, then the extra ones. */
export function indexUrls(options: IndexOptions = {}): string[] {
  const env = options.env ?? process.env;
  const main = options.indexUrl ?? (env.PIP_INDEX_URL?.trim() || DEFAULT_INDEX_URL);
  const extra = options.extraIndexUrls ?? (env.PIP_EXTRA_INDEX_URL ?? "").split(/\s+/).filter(Boolean);
  return [main, ...extra];
}

/** `<index>/<normalized name>/`. */
export function projectPageUrl(index: string, name: string): string {
  return `${index.replace(/\/+$/, "")}/${normalizeProjectName(name)}/`;
}

/** The files of a PEP 691 JSON project page, URLs resolved against `pageUrl`. */
export function parseJsonPage(text: string, pageUrl: string): IndexFile[] {
  const page = JSON.parse(text) as { files?: Array<{ filename?: string; url?: string; hashes?: Record<string, string>; size?: number }> };
  return (page.files ?? []).flatMap((f) => {
    if (typeof f.filename !== "string" || typeof f.url !== "string") return [];
    const url = new URL(f.url, pageUrl);
    url.hash = "";
    return [{ filename: f.filename, url: url.href, sha256: f.hashes?.sha256?.toLowerCase(), size: typeof f.size === "number" ? f.size : undefined }];
  });
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) => {
    if (e[0] === "#") return String.fromCodePoint(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/** The files of a PEP 503 HTML project page: its anchors, the sha256 from a `#sha256=` fragment. */
export function parseHtmlPage(text: string, pageUrl: string): IndexFile[] {
  const files: IndexFile[] = [];
  for (const m of text.matchAll(/<a\s([^>]*)>([\s\S]*?)<\/a\s*>/gi)) {
    const href = /\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(m[1]!);
    if (!href) continue;
    const url = new URL(decodeEntities(href[1] ?? href[2] ?? href[3]!), pageUrl);
    const sha256 = /^#sha256=([0-9a-f]{64})$/i.exec(url.hash)?.[1]?.toLowerCase();
    url.hash = "";
    const text = decodeEntities(m[2]!.replace(/<[^>]*>/g, "")).trim();
    const filename = text || decodeURIComponent(url.pathname.split("/").pop() ?? "");
    files.push({ filename, url: url.href, sha256 });
  }
  return files;
}

function networkError(message: string, cause?: unknown): InseqError {
  const reason = cause instanceof Error ? `: ${(cause.cause as Error | undefined)?.message ?? cause.message}` : "";
  return new InseqError(ErrorCode.NETWORK, message + reason, { cause });
}

/** The files listed on one project page; null when the index has no such project (404 / 410). */
export async function listProjectFiles(pageUrl: string, options: IndexOptions = {}): Promise<IndexFile[] | null> {
  let res: Response;
  let text: string;
  try {
    res = await httpFetch(pageUrl, { headers: { Accept: ACCEPT }, signal: options.signal }, options.env);
    text = await res.text();
  } catch (err) {
    if (options.signal?.aborted) throw new InseqError(ErrorCode.ABORTED, `Aborted while reading ${pageUrl}`, { cause: err });
    throw networkError(`Cannot read the package index page ${pageUrl}`, err);
  }
  if (res.status === 404 || res.status === 410) return null;
  if (!res.ok) throw networkError(`The package index page ${pageUrl} answered HTTP ${res.status} ${res.statusText}`.trimEnd());
  const base = res.url || pageUrl;
  const json = /json/i.test(res.headers.get("content-type") ?? "") || /^\s*\{/.test(text);
  try {
    return json ? parseJsonPage(text, base) : parseHtmlPage(text, base);
  } catch (err) {
    throw networkError(`Cannot parse the package index page ${pageUrl}`, err);
  }
}

/**
 * Where to download `wheel.file`: the first index, in order, whose project page lists it. An index that gives a
 * sha256 other than the pinned one is refused (ERR_INTEGRITY); a file on no index is ERR_NETWORK.
 */
export async function findWheel(wheel: Pick<PinnedWheel, "name" | "file" | "sha256">, options: IndexOptions = {}): Promise<WheelLocation> {
  const tried: string[] = [];
  for (const index of indexUrls(options)) {
    const page = projectPageUrl(index, wheel.name);
    const files = await listProjectFiles(page, options);
    tried.push(files ? page : `${page} (HTTP 404)`);
    const hit = files?.find((f) => f.filename === wheel.file);
    if (!hit) continue;
    if (hit.sha256 && hit.sha256 !== wheel.sha256.toLowerCase()) {
      throw new InseqError(
        ErrorCode.INTEGRITY,
        `${page} lists ${wheel.file} with sha256 ${hit.sha256}, but inseq pins sha256 ${wheel.sha256}; refusing to download it`,
      );
    }
    return { url: hit.url, sha256: hit.sha256, page };
  }
  throw new InseqError(ErrorCode.NETWORK, `${wheel.file} is not listed on any package index; looked on ${tried.join(", ")}`);
}

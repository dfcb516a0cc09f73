/**
 * Hugging Face Hub datasets, read from the Hub's automatic Parquet conversion (the `refs/convert/parquet`
 * branch, one folder per config and split: `<config>/<split>/0000.parquet`, ...; `<config>/partial-<split>/`
 * for splits converted only partially). Files land in the standard `huggingface_hub` cache layout,
 * `<cache>/datasets--org--name/{blobs,refs,snapshots}`, shared with Python.
 *
 * Requests (online):
 * 1. `GET {endpoint}/api/datasets/{id}/revision/{revision}` -> `{ sha }`: pins the commit of the branch.
 * 2. `GET {endpoint}/api/datasets/{id}/tree/{sha}/{config}/{split}` (the tree API; `Link: rel="next"` pages
 *    followed) -> the split's files with their size and LFS sha256.
 * 3. `GET {endpoint}/datasets/{id}/resolve/{sha}/{path}` for each file not yet in the snapshot (redirects
 *    followed; the body is checked against the tree's size and sha256), stored as `blobs/<sha256>` with a
 *    `snapshots/<sha>/<path>` symlink; `refs/<revision>` records the commit.
 * Offline (`HF_HUB_OFFLINE=1` or the offline option) no request is made: the snapshot that `refs/<revision>`
 * points to must hold the split's files. When the Hub cannot be reached at all, a cached snapshot is used too.
 */
import { copyFile, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";

import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { fetchFromOrigin, httpFetch, UnreachableError } from "../core/http.js";
import { hubCacheDir, hubOffline, isBlobName, isHubId, streamToBlob, type HubOptions } from "../hub/hub.js";

export const PARQUET_REVISION = "refs/convert/parquet";
const COMMIT_RE = /^[0-9a-f]{40}$/;
const NAME_RE = /^[\w.-]+$/;

export interface DatasetHubOptions extends HubOptions {
  /** Config (subset) name. Default "default". */
  config?: string;
  /** Split name, e.g. "train". */
  split: string;
}

interface TreeEntry {
  type: string;
  path: string;
  size?: number;
  oid?: string;
  lfs?: { oid?: string; sha256?: string; size?: number };
}

interface Ctx {
  id: string;
  repoDir: string;
  endpoint: string;
  token: string | undefined;
  fetch: typeof fetch;
  opts: DatasetHubOptions;
}

/** Local paths of the Parquet files of one split of a Hub dataset (downloaded into the cache when needed). */
export async function resolveDatasetParquetFiles(id: string, opts: DatasetHubOptions): Promise<string[]> {
  if (!isHubId(id)) throw invalidOption("--dataset", 'a local file or a Hugging Face dataset id such as "org/name"', id);
  const config = opts.config ?? "default";
  if (!NAME_RE.test(config)) throw invalidOption("--dataset-config", "a config name", config);
  if (!NAME_RE.test(opts.split)) throw invalidOption("--dataset-split", "a split name", opts.split);
  const revision = opts.revision ?? PARQUET_REVISION;
  if (!/^[\w.\-/]+$/.test(revision) || revision.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw invalidOption("--dataset-revision", "a branch, tag or commit hash", revision);
  }
  const repoDir = path.join(hubCacheDir(opts), `datasets--${id.replaceAll("/", "--")}`);
  const ctx: Ctx = {
    id, repoDir, opts,
    endpoint: (opts.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, ""),
    token: opts.token ?? process.env.HF_TOKEN,
    fetch: opts.fetch ?? httpFetch,
  };

  if (hubOffline(opts)) {
    const cached = await cachedFiles(ctx, revision, config, opts.split);
    if (cached) return cached;
    throw new InseqError(
      ErrorCode.OFFLINE,
      `Cannot find split ${JSON.stringify(opts.split)} (config ${JSON.stringify(config)}) of dataset ${id} in the Hugging Face cache ` +
        `at ${repoDir}, and offline mode is on (HF_HUB_OFFLINE / --offline), so it was not downloaded`,
    );
  }

  let sha: string;
  try {
    sha = COMMIT_RE.test(revision) ? revision : await resolveRevision(ctx, revision);
  } catch (err) {
    // Unreachable Hub: fall back to the cache, as huggingface_hub does.
    if (err instanceof UnreachableError) {
      const cached = await cachedFiles(ctx, revision, config, opts.split);
      if (cached) return cached;
    }
    throw err;
  }
  const entries = await listSplit(ctx, sha, config, opts.split);
  const files: string[] = [];
  for (const e of entries) files.push(await ensureFile(ctx, sha, e));
  if (revision !== sha) {
    const ref = path.join(repoDir, "refs", revision);
    await mkdir(path.dirname(ref), { recursive: true });
    await writeFile(ref, sha);
  }
  return files;
}

/** The split's Parquet files in the cached snapshot of `revision`, or null. */
async function cachedFiles(ctx: Ctx, revision: string, config: string, split: string): Promise<string[] | null> {
  let sha: string | null = COMMIT_RE.test(revision) ? revision : null;
  if (!sha) {
    try {
      const c = (await readFile(path.join(ctx.repoDir, "refs", revision), "utf8")).trim();
      sha = COMMIT_RE.test(c) ? c : null;
    } catch {
      sha = null;
    }
  }
  if (!sha) return null;
  for (const dir of [split, `partial-${split}`]) {
    const folder = path.join(ctx.repoDir, "snapshots", sha, config, dir);
    try {
      const names = (await readdir(folder)).filter((n) => n.endsWith(".parquet")).sort();
      const present: string[] = [];
      for (const n of names) if (await exists(path.join(folder, n))) present.push(path.join(folder, n));
      if (present.length > 0) return present;
    } catch {
      /* not cached */
    }
  }
  return null;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * GET with manual redirects; the token goes to the endpoint's origin only, whatever the URL (a pagination link
 * or a redirect may name any origin).
 */
async function get(ctx: Ctx, url: string, what: string): Promise<Response> {
  const res = await fetchFromOrigin(url, { tokenOrigin: ctx.endpoint, token: ctx.token, fetch: ctx.fetch, what });
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new InseqError(
      ErrorCode.NETWORK,
      `Access denied (HTTP ${res.status}) to ${what}: the dataset may not exist, or be private or gated. ` +
        `Set HF_TOKEN to a token with access, and accept the dataset's terms on the Hub if it is gated`,
    );
  }
  return res;
}

async function getJson(ctx: Ctx, url: string, what: string): Promise<{ json: unknown; res: Response } | null> {
  const res = await get(ctx, url, what);
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new InseqError(ErrorCode.NETWORK, `Request for ${what} failed: HTTP ${res.status} ${res.statusText}`);
  }
  try {
    return { json: await res.json(), res };
  } catch (err) {
    throw new InseqError(ErrorCode.NETWORK, `Malformed answer for ${what}: ${(err as Error).message}; is the endpoint a Hugging Face Hub?`);
  }
}

async function resolveRevision(ctx: Ctx, revision: string): Promise<string> {
  const what = `dataset ${ctx.id} (revision ${revision})`;
  const r = await getJson(ctx, `${ctx.endpoint}/api/datasets/${ctx.id}/revision/${encodeURIComponent(revision)}`, what);
  if (!r) {
    throw new InseqError(
      ErrorCode.NOT_FOUND,
      `Dataset ${ctx.id} is not a local file, and was not found on the Hugging Face Hub (${ctx.endpoint}) with a revision ${revision}` +
        (revision === PARQUET_REVISION ? " (the Hub's Parquet conversion)" : ""),
    );
  }
  const sha = (r.json as { sha?: unknown } | null)?.sha;
  if (typeof sha !== "string" || !COMMIT_RE.test(sha)) throw new InseqError(ErrorCode.NETWORK, `No commit hash in the answer for ${what}`);
  return sha;
}

/** Tree API listing of one folder (all pages), or null when the folder does not exist. */
async function listTree(ctx: Ctx, sha: string, folder: string): Promise<TreeEntry[] | null> {
  const what = `the file list of ${ctx.id}/${folder}`;
  const suffix = folder ? `/${folder.split("/").map(encodeURIComponent).join("/")}` : "";
  let url: string | null = `${ctx.endpoint}/api/datasets/${ctx.id}/tree/${sha}${suffix}`;
  const out: TreeEntry[] = [];
  for (let page = 0; url; page++) {
    const r = await getJson(ctx, url, what);
    if (!r) return page === 0 ? null : out;
    if (!Array.isArray(r.json)) throw new InseqError(ErrorCode.NETWORK, `Expected a JSON array for ${what}`);
    out.push(...(r.json as TreeEntry[]));
    const next = /<([^>]+)>;\s*rel="next"/.exec(r.res.headers.get("link") ?? "");
    url = next ? new URL(next[1]!, url).href : null;
  }
  return out;
}

async function listSplit(ctx: Ctx, sha: string, config: string, split: string): Promise<TreeEntry[]> {
  for (const dir of [split, `partial-${split}`]) {
    const entries = await listTree(ctx, sha, `${config}/${dir}`);
    if (!entries) continue;
    const files = entries
      .filter((e) => e && e.type === "file" && typeof e.path === "string" && e.path.endsWith(".parquet"))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const f of files) {
      if (!f.path.startsWith(`${config}/${dir}/`) || f.path.split("/").some((p) => p === "" || p === "." || p === "..")) {
        throw new InseqError(ErrorCode.NETWORK, `Unexpected file path ${JSON.stringify(f.path)} in the file list of ${ctx.id}`);
      }
    }
    if (files.length > 0) return files;
  }
  // Name what exists, to help fix the options.
  const splits = await listTree(ctx, sha, config);
  if (splits) {
    const names = splits.filter((e) => e.type === "directory").map((e) => path.posix.basename(e.path).replace(/^partial-/, ""));
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected one of the splits ${names.join(", ") || "(none)"} of ${ctx.id} (config ${config}) for --dataset-split but received ${JSON.stringify(split)}`,
    );
  }
  const root = (await listTree(ctx, sha, "")) ?? [];
  const configs = root.filter((e) => e.type === "directory").map((e) => e.path);
  throw new InseqError(
    ErrorCode.INVALID_OPTION,
    `Expected one of the configs ${configs.join(", ") || "(none)"} of ${ctx.id} for --dataset-config but received ${JSON.stringify(config)}`,
  );
}

/** Makes sure one file is in snapshot `sha`; returns its path there. */
async function ensureFile(ctx: Ctx, sha: string, entry: TreeEntry): Promise<string> {
  const pointer = path.join(ctx.repoDir, "snapshots", sha, ...entry.path.split("/"));
  const size = entry.lfs?.size ?? entry.size;
  try {
    const s = await stat(pointer);
    if (size == null || s.size === size) return pointer;
  } catch {
    /* not cached */
  }
  const sha256 = entry.lfs?.oid ?? entry.lfs?.sha256;
  const blobName = sha256 ?? entry.oid;
  if (!isBlobName(blobName)) {
    throw new InseqError(ErrorCode.NETWORK, `No usable object id for ${entry.path} in the file list of ${ctx.id}`);
  }
  const blob = path.join(ctx.repoDir, "blobs", blobName);
  if (!(await exists(blob))) {
    await mkdir(path.dirname(blob), { recursive: true });
    const url = `${ctx.endpoint}/datasets/${ctx.id}/resolve/${sha}/${entry.path.split("/").map(encodeURIComponent).join("/")}`;
    const res = await get(ctx, url, `${entry.path} of ${ctx.id}`);
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new InseqError(
        res.status === 404 ? ErrorCode.NOT_FOUND : ErrorCode.NETWORK,
        `Downloading ${entry.path} of ${ctx.id} failed: HTTP ${res.status} ${res.statusText}`,
      );
    }
    await streamToBlob(res, blob, {
      what: ctx.id, file: entry.path, size: size ?? null, sha256: sha256 && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : null, onProgress: ctx.opts.onProgress,
    });
  }
  await mkdir(path.dirname(pointer), { recursive: true });
  await rm(pointer, { force: true });
  try {
    await symlink(path.relative(path.dirname(pointer), blob), pointer);
  } catch {
    await copyFile(blob, pointer);
  }
  return pointer;
}


/**
 * Hugging Face Hub: cache resolution and download, using the same on-disk layout as `huggingface_hub`
 * (`<cache>/models--org--name/{blobs,refs,snapshots,.no_exist}`), so caches are shared with Python.
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, open, readFile, realpath, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { fetchFromOrigin } from "../core/http.js";
import { fileWriteError, isFileSystemError } from "../core/write-errors.js";

export interface HubOptions {
  /** Branch, tag or 40-hex commit. Default "main". */
  revision?: string;
  /** Hub cache root (the folder holding `models--*`). Default: $HF_HUB_CACHE or ($HF_HOME ?? ~/.cache/huggingface)/hub. */
  cacheDir?: string;
  /** Never touch the network. Default: HF_HUB_OFFLINE in {1, true, yes, on}. */
  offline?: boolean;
  /** Default: $HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  /** Access token for private/gated repos. Default: $HF_TOKEN. */
  token?: string;
  /** Injected fetch (tests). Default: global fetch. */
  fetch?: typeof fetch;
  onProgress?: (p: HubProgress) => void;
  /**
   * Allow a TorchScript bundle (a program: loading it runs its code, like `torch.jit.load`). Default false: a
   * repo (or cached snapshot) with `inseq_bundle.json` is refused with ERR_UNTRUSTED_CODE before its module is
   * downloaded.
   */
  trustRemoteCode?: boolean;
}

export interface HubProgress {
  file: string;
  loaded: number;
  total: number | null;
}

const COMMIT_RE = /^[0-9a-f]{40}$/;
const CONFIG = "config.json";
const TOKENIZER = "tokenizer.json";
/** Marian repos ship SentencePiece models + vocab.json instead of tokenizer.json. */
const MARIAN_TOKENIZER = { required: ["source.spm", "vocab.json"], optional: ["target.spm", "target_vocab.json"] } as const;
const OPTIONAL = ["tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] as const;
const WEIGHTS = "model.safetensors";
const WEIGHTS_INDEX = "model.safetensors.index.json";
/** TorchScript bundle files (docs/torchscript.md); the sidecar marks a bundle repo. */
const BUNDLE = { sidecar: "inseq_bundle.json", module: "model.torchscript", optional: ["target_tokenizer.json", "tokenizer_config.json"] } as const;

/** True when `s` looks like a Hub repo id (`name` or `org/name`). Check for a local directory first. */
export function isHubId(s: string): boolean {
  if (typeof s !== "string" || s.length === 0 || s.length > 96) return false;
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(s) || s.includes("--") || s.includes("..")) return false;
  return s.split("/").every((part) => !/^[.-]|[.-]$/.test(part));
}

/** The hub cache root: opts.cacheDir ?? $HF_HUB_CACHE ?? ($HF_HOME ?? ~/.cache/huggingface)/hub. */
export function hubCacheDir(opts: { cacheDir?: string } = {}): string {
  const env = process.env;
  if (opts.cacheDir) return opts.cacheDir;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  return path.join(env.HF_HOME || path.join(os.homedir(), ".cache", "huggingface"), "hub");
}

/** opts.offline ?? HF_HUB_OFFLINE in {"1", "true", "yes", "on"} (case-insensitive). */
export function hubOffline(opts: { offline?: boolean } = {}): boolean {
  if (opts.offline != null) return opts.offline;
  return ["1", "true", "yes", "on"].includes((process.env.HF_HUB_OFFLINE ?? "").trim().toLowerCase());
}

/** Result of one attempt to get a file into the snapshot. */
type FetchResult = { kind: "ok"; commit: string } | { kind: "missing"; commit: string | null };

/** Signals that the revision points to a different commit than assumed; resolution restarts on the new one. */
class CommitMoved extends Error {
  constructor(readonly commit: string) {
    super(`revision moved to ${commit}`);
  }
}

/**
 * Returns the snapshot directory `<cache>/models--org--name/snapshots/<commit>` holding config.json,
 * tokenizer.json (Marian: source.spm / target.spm + vocab.json), the safetensors weights (single file or index + shards) and the optional tokenizer/generation
 * configs. Files already in the cache are used without any request; missing ones are downloaded unless offline.
 */
export async function resolveModelFiles(id: string, opts: HubOptions = {}): Promise<string> {
  if (!isHubId(id)) throw invalidOption("model id", 'a Hugging Face repo id such as "org/name"', id);
  const revision = opts.revision ?? "main";
  if (typeof revision !== "string" || !/^[\w.\-/]+$/.test(revision) || revision.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw invalidOption("revision", "a branch, tag or commit hash", revision);
  }
  const offline = hubOffline(opts);
  const repoDir = path.join(hubCacheDir(opts), `models--${id.replaceAll("/", "--")}`);
  const ctx: Ctx = { id, revision, repoDir, opts, offline };

  let commit: string | null = COMMIT_RE.test(revision) ? revision : await readRef(repoDir, revision);
  // A download may reveal that the revision now points to another commit: start over on that snapshot.
  for (let attempt = 0; ; attempt++) {
    try {
      return path.join(repoDir, "snapshots", await ensureAll(ctx, commit));
    } catch (err) {
      if (!(err instanceof CommitMoved) || attempt >= 3) {
        if (err instanceof CommitMoved) throw new InseqError(ErrorCode.NETWORK, `Revision ${revision} of ${id} keeps moving; try again`);
        throw err;
      }
      commit = err.commit;
    }
  }
}

interface Ctx {
  id: string;
  revision: string;
  repoDir: string;
  opts: HubOptions;
  offline: boolean;
}

/**
 * Makes sure every needed file exists in snapshot `start` (learned from the first download when null) and
 * returns that commit.
 */
async function ensureAll(ctx: Ctx, start: string | null): Promise<string> {
  let commit = start;
  // `get` returns whether the file exists in the snapshot afterwards; it updates `commit` on the first download.
  const get = async (file: string, required: boolean): Promise<boolean> => {
    const r = await ensureFile(ctx, commit, file, required);
    if (r.commit != null) {
      if (commit != null && r.commit !== commit) throw new CommitMoved(r.commit);
      commit = r.commit;
    }
    return r.kind === "ok";
  };
  if (await get(BUNDLE.sidecar, false)) {
    // A bundle is code: refuse it before its module is fetched unless the caller trusts the repo.
    if (!ctx.opts.trustRemoteCode) {
      throw new InseqError(
        ErrorCode.UNTRUSTED_CODE,
        `${ctx.id} (revision ${ctx.revision}) is a TorchScript bundle: loading it runs the code it contains, with your permissions. ` +
          `Load bundles from sources you trust only, and say so with trustRemoteCode: true (docs/torchscript.md)`,
      );
    }
    await get(BUNDLE.module, true);
    await get(TOKENIZER, true);
    for (const f of BUNDLE.optional) await get(f, false);
    return commit!; // set: the sidecar exists in a snapshot, or was downloaded
  }
  await get(CONFIG, true);
  if (!(await get(TOKENIZER, false))) {
    if (!(await get(MARIAN_TOKENIZER.required[0], false))) throw missingError(ctx, commit, `${TOKENIZER} (or Marian's source.spm + vocab.json)`);
    await get(MARIAN_TOKENIZER.required[1], true);
    for (const f of MARIAN_TOKENIZER.optional) await get(f, false);
  }
  if (!(await get(WEIGHTS, false))) {
    if (!(await get(WEIGHTS_INDEX, false))) {
      throw missingError(ctx, commit, `${WEIGHTS} (or ${WEIGHTS_INDEX})`);
    }
    for (const shard of await readShardList(path.join(ctx.repoDir, "snapshots", commit!, WEIGHTS_INDEX))) {
      await get(shard, true);
    }
  }
  for (const f of OPTIONAL) await get(f, false);
  return commit!; // set: config.json exists in a snapshot, or was downloaded (which sets it)
}

/** Shard file names listed in a safetensors index (`weight_map` values), deduplicated, in first-seen order. */
async function readShardList(indexFile: string): Promise<string[]> {
  let index: unknown;
  try {
    index = JSON.parse(await readFile(indexFile, "utf8"));
  } catch (err) {
    throw new InseqError(ErrorCode.BAD_CHECKPOINT, `Malformed safetensors index ${indexFile}: ${(err as Error).message}`, { cause: err });
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new InseqError(ErrorCode.BAD_CHECKPOINT, `Expected a "weight_map" object in ${indexFile}`);
  }
  const shards = [...new Set(Object.values(map))];
  for (const s of shards) {
    if (typeof s !== "string" || !safeRelative(s)) {
      throw new InseqError(
        ErrorCode.BAD_CHECKPOINT,
        `Invalid shard file name ${JSON.stringify(s)} in ${indexFile}: expected a relative path inside the model folder`,
      );
    }
  }
  return shards as string[];
}

/**
 * Checks the shards a sharded checkpoint's index (`model.safetensors.index.json`, read by the native loader
 * when there is no `model.safetensors`) names before anything reads them: relative paths without `.`/`..`
 * segments that, symlinks resolved, stay inside `dir`. A hub cache snapshot's files are links into the repo's
 * `blobs/` folder, which is allowed too. Throws ERR_BAD_CHECKPOINT naming the entry and the index.
 */
export async function checkWeightFiles(dir: string): Promise<void> {
  const indexFile = path.join(dir, WEIGHTS_INDEX);
  if ((await exists(path.join(dir, WEIGHTS))) || !(await exists(indexFile))) return;
  const root = await realpath(dir);
  const roots = [root];
  if (path.basename(path.dirname(root)) === "snapshots") {
    const blobs = path.join(path.dirname(path.dirname(root)), "blobs");
    if (await exists(blobs)) roots.push(await realpath(blobs));
  }
  for (const shard of await readShardList(indexFile)) {
    let real: string;
    try {
      real = await realpath(path.join(dir, shard));
    } catch {
      continue; // missing: the native loader names it
    }
    if (!roots.some((r) => real.startsWith(r + path.sep))) {
      throw new InseqError(
        ErrorCode.BAD_CHECKPOINT,
        `Shard ${JSON.stringify(shard)} in ${indexFile} resolves to ${real}, outside the model folder ${root}`,
      );
    }
  }
}

/** A relative path inside the repo: no absolute paths, no `..`/`.` segments, no backslashes. */
function safeRelative(p: string): boolean {
  return p.length > 0 && !p.includes("\\") && !path.posix.isAbsolute(p) && p.split("/").every((s) => s !== "" && s !== "." && s !== "..");
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p); // follows symlinks: a dangling link counts as missing
    return true;
  } catch {
    return false;
  }
}

async function readRef(repoDir: string, revision: string): Promise<string | null> {
  try {
    const c = (await readFile(path.join(repoDir, "refs", revision), "utf8")).trim();
    return COMMIT_RE.test(c) ? c : null;
  } catch {
    return null;
  }
}

function missingError(ctx: Ctx, commit: string | null, file: string): InseqError {
  if (ctx.offline) {
    const where = commit ? path.join(ctx.repoDir, "snapshots", commit) : ctx.repoDir;
    return new InseqError(
      ErrorCode.OFFLINE,
      `Cannot find ${file} of ${ctx.id} (revision ${ctx.revision}) in the Hugging Face cache at ${where}, and offline mode ` +
        `is on (HF_HUB_OFFLINE / offline option), so it was not downloaded`,
    );
  }
  return new InseqError(ErrorCode.NOT_FOUND, `File ${file} not found in Hugging Face repo ${ctx.id} (revision ${ctx.revision})`);
}

/** Ensures one file is in the snapshot: cache hit, cached 404 (`.no_exist`), or download. */
async function ensureFile(ctx: Ctx, commit: string | null, file: string, required: boolean): Promise<FetchResult> {
  if (commit) {
    if (await exists(path.join(ctx.repoDir, "snapshots", commit, file))) return { kind: "ok", commit };
    if (!required && (await exists(path.join(ctx.repoDir, ".no_exist", commit, file)))) return { kind: "missing", commit };
  }
  if (ctx.offline) {
    if (required) throw missingError(ctx, commit, file);
    return { kind: "missing", commit: null };
  }
  return download(ctx, file, required);
}

/**
 * GET one file, following redirects by hand (fetchFromOrigin: the token goes to the endpoint's origin only) so
 * that the Hub's metadata headers on the 302 (LFS -> CDN) are not lost.
 */
async function request(ctx: Ctx, file: string): Promise<{ res: Response; commit: string | null; etag: string | null; linked: boolean }> {
  const endpoint = (ctx.opts.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");
  const fileUrl = file.split("/").map(encodeURIComponent).join("/");
  const url = new URL(`${endpoint}/${ctx.id}/resolve/${encodeURIComponent(ctx.revision)}/${fileUrl}`);
  let commit: string | null = null;
  let etag: string | null = null;
  let linked = false;
  const res = await fetchFromOrigin(url, {
    tokenOrigin: url.origin, token: ctx.opts.token ?? process.env.HF_TOKEN, fetch: ctx.opts.fetch, what: `${file} of ${ctx.id}`,
    onResponse: (r) => {
      // Metadata: the first response carrying x-repo-commit wins (the 302 for LFS files, the 200 otherwise).
      const h = r.headers;
      if (commit == null && h.get("x-repo-commit")) {
        commit = h.get("x-repo-commit")!.trim();
        const e = h.get("x-linked-etag") ?? h.get("etag");
        linked = h.get("x-linked-etag") != null;
        etag = e == null ? null : e.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
      }
    },
  });
  if (commit == null && res.ok) {
    // Not the Hub (or a proxy dropping headers): fall back to plain metadata when the revision is a commit.
    const e = res.headers.get("etag");
    if (COMMIT_RE.test(ctx.revision) && e) {
      commit = ctx.revision;
      etag = e.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
    }
  }
  return { res, commit, etag, linked };
}

/**
 * True when `name` can name a file in `blobs/`: a git sha1 (40 lowercase hex digits, small files) or a sha256
 * (64, LFS files), as the Hub's etags are. Anything else (".", "..", a path, a made-up etag) would escape or
 * corrupt the cache layout.
 */
export function isBlobName(name: unknown): name is string {
  return typeof name === "string" && /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(name);
}

async function download(ctx: Ctx, file: string, required: boolean): Promise<FetchResult> {
  const { res, commit, etag, linked } = await request(ctx, file);
  if (res.status === 404) {
    await res.body?.cancel();
    // Cache the absence like huggingface_hub (`.no_exist/<commit>/<file>`), so later calls need no request.
    if (commit && COMMIT_RE.test(commit)) {
      const marker = path.join(ctx.repoDir, ".no_exist", commit, file);
      await mkdir(path.dirname(marker), { recursive: true }).then(() => writeFile(marker, "")).catch(() => {});
    }
    if (required) throw missingError(ctx, commit, file);
    return { kind: "missing", commit };
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new InseqError(
      ErrorCode.NETWORK,
      `Access denied (HTTP ${res.status}) to ${file} of ${ctx.id}: the repo may not exist, or be private or gated. ` +
        `Set HF_TOKEN (or the token option) to a token with access, and accept the model's terms on the Hub if it is gated`,
    );
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new InseqError(ErrorCode.NETWORK, `Downloading ${file} of ${ctx.id} failed: HTTP ${res.status} ${res.statusText}`);
  }
  if (!commit || !COMMIT_RE.test(commit) || !isBlobName(etag)) {
    await res.body.cancel();
    throw new InseqError(
      ErrorCode.NETWORK,
      `Downloading ${file} of ${ctx.id}: the server did not send usable x-repo-commit / etag headers (the etag must be a sha1 or ` +
        `sha256 hex digest, received ${JSON.stringify(etag)}); is the endpoint a Hugging Face Hub?`,
    );
  }

  const blob = path.join(ctx.repoDir, "blobs", etag);
  if (await exists(blob)) {
    await res.body.cancel(); // same content already cached under another snapshot
  } else {
    await mkdir(path.dirname(blob), { recursive: true });
    await streamToBlob(res, blob, { what: ctx.id, file, sha256: linked && etag.length === 64 ? etag : null, onProgress: ctx.opts.onProgress });
  }

  const pointer = path.join(ctx.repoDir, "snapshots", commit, file);
  await mkdir(path.dirname(pointer), { recursive: true });
  await rm(pointer, { force: true });
  try {
    await symlink(path.relative(path.dirname(pointer), blob), pointer);
  } catch {
    await copyFile(blob, pointer); // no symlinks (e.g. Windows without developer mode)
  }
  if (ctx.revision !== commit) {
    const ref = path.join(ctx.repoDir, "refs", ctx.revision);
    await mkdir(path.dirname(ref), { recursive: true });
    await writeFile(ref, commit);
  }
  return { kind: "ok", commit };
}

/**
 * Streams the body to `<blob>.incomplete`, then renames it to `<blob>`, so a final name never holds a partial
 * file. Checks the length against content-length and, for LFS files, the sha256 against the etag.
 */
/**
 * Streams a download to `<blob>.incomplete`, checks its size (`size`, else content-length) and sha256, then
 * renames it to `blob`: a final name never holds a partial file. Failures remove the partial file and throw
 * ERR_NETWORK naming `what`. Shared by model and dataset downloads.
 */
export async function streamToBlob(
  res: Response,
  blob: string,
  opts: { what: string; file: string; size?: number | null; sha256: string | null; onProgress?: (p: HubProgress) => void },
): Promise<void> {
  const { file, sha256, onProgress } = opts;
  const tmp = `${blob}.incomplete`;
  const lengthHeader = res.headers.get("content-length");
  const total = opts.size ?? (lengthHeader != null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null);
  const hash = sha256 ? createHash("sha256") : null;
  const out = await open(tmp, "w").catch((err: unknown) => {
    throw fileWriteError(err, tmp, "run again to download it");
  });
  let loaded = 0;
  try {
    onProgress?.({ file, loaded, total });
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      await out.write(chunk);
      loaded += chunk.byteLength;
      hash?.update(chunk);
      onProgress?.({ file, loaded, total });
    }
    await out.close();
    if (total != null && loaded !== total) throw new Error(`received ${loaded} of ${total} bytes`);
    if (hash && hash.digest("hex") !== sha256) throw new Error(`sha256 does not match ${sha256}`);
    await rename(tmp, blob);
  } catch (err) {
    await out.close().catch(() => {}); // no-op when already closed
    await rm(tmp, { force: true });
    if (err instanceof InseqError) throw err;
    // The cache's disk, not the network: ERR_DISK_FULL / ERR_IO (the next run downloads the file again).
    if (isFileSystemError(err)) throw fileWriteError(err, tmp, "run again to download it");
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    const detail = [cause?.message, cause?.code && `(${cause.code})`].filter(Boolean).join(" ");
    const reason = [(err as Error).message, detail].filter(Boolean).join(": ");
    throw new InseqError(ErrorCode.NETWORK, `Download of ${file} of ${opts.what} was interrupted: ${reason}`, { cause: err });
  }
}

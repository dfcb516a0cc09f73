/**
 * `setupTorch()`: installs the pinned LibTorch from the Python package index, without Python: downloads the wheels
 * a flavour needs (resumable, sha256-checked), unpacks only the pinned entries into a temporary sibling directory,
 * writes `inseq-libtorch.json`, then renames the directory into place.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";

import { checkKnownOptions, ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { downloadFile } from "./download.js";
import {
  INSTALL_MANIFEST, inseqHome, libtorchInstallDir, libtorchPin,
  type InstallManifest, type LibtorchFlavor, type LibtorchPin, type PinnedWheel,
} from "./pin.js";
import { findWheel } from "./pypi-index.js";
import { ZipReader, type ZipEntry } from "./zip.js";

export interface SetupTorchOptions {
  /** Add the CUDA libraries (flavour `cuda`). Default false (flavour `cpu`). */
  cuda?: boolean;
  /** Add the C++ headers, to build the addon from source. Default false. */
  dev?: boolean;
  /** Install right into this directory instead of `$INSEQ_HOME/libtorch/<torch>-<flavor>`. */
  dir?: string;
  /** Replaces PIP_INDEX_URL (default https://pypi.org/simple). */
  indexUrl?: string;
  /** Replaces PIP_EXTRA_INDEX_URL. */
  extraIndexUrls?: string[];
  /** Keep the downloaded wheels in `$INSEQ_HOME/downloads` after the install. Default false. */
  keepDownloads?: boolean;
  onProgress?: (p: SetupTorchProgress) => void;
  signal?: AbortSignal;
  /** The LibTorch to install. Default: the package's pin (libtorch.json). */
  pin?: LibtorchPin;
  /** Read for INSEQ_HOME, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL and the proxy variables. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Bytes done in the current phase, for the current wheel and over all wheels. */
export interface SetupTorchProgress {
  phase: "download" | "extract";
  /** The wheel file being downloaded or unpacked. */
  file: string;
  done: number;
  total: number;
  overallDone: number;
  overallTotal: number;
}

export interface SetupTorchResult {
  dir: string;
  manifest: InstallManifest;
  /** The directory already held this install; nothing was downloaded. */
  reused: boolean;
}

const OPTIONS = ["cuda", "dev", "dir", "indexUrl", "extraIndexUrls", "keepDownloads", "onProgress", "signal", "pin", "env"];

/** One pinned path to unpack; `all` (dev entries) takes every file under a `/` path, not only shared libraries. */
interface Selection {
  path: string;
  all: boolean;
}

/** A wheel of the plan, with what is unpacked from it. */
interface PlannedWheel {
  wheel: PinnedWheel;
  select: Selection[];
}

const SHARED_LIBRARY = /\.so(\.\d+)*$/;

/** The wheels a flavour needs and what each gives; wheels with nothing to unpack are left out. */
export function planWheels(pin: LibtorchPin, flavor: LibtorchFlavor, dev: boolean): Array<{ wheel: PinnedWheel; paths: string[] }> {
  return plan(pin, flavor, dev).map((p) => ({ wheel: p.wheel, paths: p.select.map((s) => s.path) }));
}

function plan(pin: LibtorchPin, flavor: LibtorchFlavor, dev: boolean): PlannedWheel[] {
  return pin.wheels
    .map((wheel) => ({
      wheel,
      select: [
        ...(wheel.cpu ?? []).map((p) => ({ path: p, all: false })),
        ...(flavor === "cuda" ? (wheel.cuda ?? []) : []).map((p) => ({ path: p, all: false })),
        ...(dev ? (wheel.dev ?? []) : []).map((p) => ({ path: p, all: true })),
      ],
    }))
    .filter((p) => p.select.length > 0);
}

/** An entry name that stays inside the install directory once joined to it. */
function safeName(name: string): boolean {
  return !name.startsWith("/") && !name.includes("\\") && !name.split("/").includes("..");
}

/** The archive entries `select` picks; a pinned path the wheel lacks is ERR_INTEGRITY. */
function selectEntries(zip: ZipReader, wheel: PinnedWheel, select: Selection[]): ZipEntry[] {
  const picked = new Map<string, ZipEntry>();
  for (const s of select) {
    const matches = s.path.endsWith("/")
      ? zip.entries.filter((e) => e.name.startsWith(s.path) && !e.name.endsWith("/") && (s.all || SHARED_LIBRARY.test(e.name)))
      : zip.entries.filter((e) => e.name === s.path);
    if (matches.length === 0) {
      const what = s.path.endsWith("/") ? `no ${s.all ? "files" : "shared libraries"} under ${s.path}` : `no ${s.path}`;
      throw new InseqError(ErrorCode.INTEGRITY, `${wheel.file} has ${what}, which the LibTorch pin lists; the wheel does not match the pin`);
    }
    for (const e of matches) {
      if (!safeName(e.name)) throw new InseqError(ErrorCode.INTEGRITY, `${wheel.file} holds an entry outside its root: ${JSON.stringify(e.name)}`);
      picked.set(e.name, e);
    }
  }
  return [...picked.values()];
}

/** The manifest at `dir`, or null. */
async function readManifest(dir: string): Promise<InstallManifest | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, INSTALL_MANIFEST), "utf8")) as InstallManifest;
  } catch {
    return null;
  }
}

const wheelKey = (w: Pick<PinnedWheel, "file" | "sha256">) => `${w.file}:${w.sha256.toLowerCase()}`;

/** True when `manifest` is an install of `pin` in `flavor` (with headers when `dev`). */
function satisfies(manifest: InstallManifest | null, pin: LibtorchPin, flavor: LibtorchFlavor, dev: boolean): manifest is InstallManifest {
  if (!manifest || manifest.torch !== pin.torch || manifest.flavor !== flavor || (dev && !manifest.dev)) return false;
  const want = plan(pin, flavor, manifest.dev).map((p) => wheelKey(p.wheel)).sort();
  const have = (manifest.wheels ?? []).map(wheelKey).sort();
  return want.length === have.length && want.every((k, i) => k === have[i]);
}

/** A hidden sibling of `dir`: `.<name>.<kind>-<pid>-<random>`. */
function siblingPath(dir: string, kind: "tmp" | "old"): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.${kind}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes temporary siblings of `dir` left by runs that were killed (their process is gone). */
async function removeStaleSiblings(dir: string): Promise<void> {
  const prefix = `.${path.basename(dir)}.`;
  const names = await readdir(path.dirname(dir)).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^(?:tmp|old)-(\d+)-[0-9a-f]+$/.exec(name.startsWith(prefix) ? name.slice(prefix.length) : "");
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) {
      await rm(path.join(path.dirname(dir), name), { recursive: true, force: true });
    }
  }
}

/** Refuses to replace a directory that holds something other than an earlier install. */
async function checkTarget(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (!info) return;
  const expected = "a new or empty directory, or an earlier setup-torch install,";
  if (!info.isDirectory()) throw invalidOption("dir", expected, dir);
  if ((await readManifest(dir)) === null && (await readdir(dir)).length > 0) throw invalidOption("dir", expected, dir);
}

/** Renames `tmp` to `dir`, replacing an earlier install only once `tmp` is complete. */
async function moveIntoPlace(tmp: string, dir: string): Promise<void> {
  const exists = await stat(dir).then(() => true, () => false);
  const old = exists ? siblingPath(dir, "old") : null;
  if (old) await rename(dir, old);
  try {
    await rename(tmp, dir);
  } catch (err) {
    if (old) await rename(old, dir).catch(() => {});
    throw err;
  }
  if (old) await rm(old, { recursive: true, force: true });
}

/** Downloads the planned wheels into `$INSEQ_HOME/downloads`; returns their paths. */
async function downloadWheels(wheels: PlannedWheel[], options: SetupTorchOptions, env: NodeJS.ProcessEnv): Promise<string[]> {
  const downloads = path.join(inseqHome(env), "downloads");
  const overallTotal = wheels.reduce((n, p) => n + p.wheel.size, 0);
  let finished = 0;
  const files: string[] = [];
  for (const { wheel } of wheels) {
    const result = await downloadFile({
      url: async () => (await findWheel(wheel, { indexUrl: options.indexUrl, extraIndexUrls: options.extraIndexUrls, env, signal: options.signal })).url,
      dest: path.join(downloads, wheel.file),
      size: wheel.size,
      sha256: wheel.sha256,
      signal: options.signal,
      env,
      onProgress: (p) => options.onProgress?.({ phase: "download", ...p, overallDone: finished + p.done, overallTotal }),
    });
    finished += wheel.size;
    files.push(result.path);
  }
  return files;
}

/** Unpacks the selected entries of each wheel under `root`; returns the file count and bytes. */
async function extractWheels(wheels: PlannedWheel[], files: string[], root: string, options: SetupTorchOptions): Promise<{ files: number; bytes: number }> {
  const zips: Array<{ zip: ZipReader; wheel: PinnedWheel; entries: ZipEntry[] }> = [];
  try {
    for (const [i, p] of wheels.entries()) {
      const item = { zip: await ZipReader.open(files[i]!), wheel: p.wheel, entries: [] as ZipEntry[] };
      zips.push(item);
      item.entries = selectEntries(item.zip, p.wheel, p.select);
    }
    const overallTotal = zips.reduce((n, z) => n + z.entries.reduce((m, e) => m + e.size, 0), 0);
    let overallDone = 0;
    let count = 0;
    for (const { zip, wheel, entries } of zips) {
      const total = entries.reduce((n, e) => n + e.size, 0);
      let done = 0;
      for (const entry of entries) {
        if (options.signal?.aborted) throw new InseqError(ErrorCode.ABORTED, "LibTorch setup aborted");
        const dest = path.join(root, entry.name);
        await mkdir(path.dirname(dest), { recursive: true });
        await zip.extract(entry, dest, options.signal);
        done += entry.size;
        overallDone += entry.size;
        count++;
        options.onProgress?.({ phase: "extract", file: wheel.file, done, total, overallDone, overallTotal });
      }
    }
    return { files: count, bytes: overallDone };
  } finally {
    for (const { zip } of zips) await zip.close();
  }
}

/**
 * Installs the pinned LibTorch (or `options.pin`) and returns where. An install of the same pin already in the
 * target directory is returned at once, without network. Errors: ERR_NETWORK (index or download), ERR_INTEGRITY
 * (sha256, size or a wheel that lacks a pinned path), ERR_ABORTED; a partial download is kept for the next run.
 */
export async function setupTorch(options: SetupTorchOptions = {}): Promise<SetupTorchResult> {
  checkKnownOptions("setupTorch", options, OPTIONS);
  const env = options.env ?? process.env;
  const pin = options.pin ?? libtorchPin();
  const flavor: LibtorchFlavor = options.cuda ? "cuda" : "cpu";
  const dev = Boolean(options.dev);
  const dir = options.dir ? path.resolve(options.dir) : libtorchInstallDir(pin.torch, flavor, env);

  const existing = await readManifest(dir);
  if (satisfies(existing, pin, flavor, dev)) return { dir, manifest: existing, reused: true };
  await checkTarget(dir);

  const wheels = plan(pin, flavor, dev);
  const files = await downloadWheels(wheels, options, env);

  await mkdir(path.dirname(dir), { recursive: true });
  await removeStaleSiblings(dir);
  const tmp = siblingPath(dir, "tmp");
  try {
    await mkdir(tmp);
    const counts = await extractWheels(wheels, files, tmp, options);
    const manifest: InstallManifest = {
      torch: pin.torch,
      cuda: pin.cuda,
      flavor,
      dev,
      wheels: wheels.map(({ wheel: { name, version, file, sha256 } }) => ({ name, version, file, sha256 })),
      ...counts,
      createdAt: new Date().toISOString(),
    };
    await writeFile(path.join(tmp, INSTALL_MANIFEST), JSON.stringify(manifest, null, 2) + "\n");
    await moveIntoPlace(tmp, dir);
    if (!options.keepDownloads) {
      for (const file of files) await rm(file, { force: true });
      await rmdir(path.join(inseqHome(env), "downloads")).catch(() => {}); // only when empty
    }
    return { dir, manifest, reused: false };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

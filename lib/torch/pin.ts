/**
 * The pinned LibTorch (`libtorch.json` at the package root, declared once for TS and CMake) and where
 * `inseq setup-torch` keeps it: `$INSEQ_HOME/libtorch/<torch>-<cpu|cuda>/`, laid out as in Python's
 * site-packages (`torch/lib/*.so`, `nvidia/<pkg>/lib/*.so`) so the wheels' own RPATHs
 * (`$ORIGIN/../../nvidia/.../lib`) resolve unchanged.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { packageRoot } from "../core/paths.js";

/** What each install flavour unpacks: `cpu` always, `cuda` with --cuda, `dev` (headers) with --dev. */
export type LibtorchFlavor = "cpu" | "cuda";

export interface PinnedWheel {
  /** Distribution name on the index (`torch`, `nvidia-cublas`). */
  name: string;
  version: string;
  /** The exact wheel file name looked up on the index. */
  file: string;
  size: number;
  sha256: string;
  /** Paths unpacked for every install; a path ending in `/` takes every shared library under it. */
  cpu?: string[];
  /** Added by a CUDA install. */
  cuda?: string[];
  /** Added by a development install (`/` takes every file under it). */
  dev?: string[];
}

export interface LibtorchPin {
  /** The torch version the addon is built against, e.g. "2.15.0". */
  torch: string;
  /** CUDA version of the wheels, e.g. "13.2". */
  cuda: string;
  wheels: PinnedWheel[];
}

/** Name of the JSON file an install writes at its root (what it holds, for `doctor` and the lookup). */
export const INSTALL_MANIFEST = "inseq-libtorch.json";

/** The manifest an install leaves at its root. */
export interface InstallManifest {
  torch: string;
  cuda: string;
  flavor: LibtorchFlavor;
  /** Headers included (built with --dev). */
  dev: boolean;
  wheels: Array<Pick<PinnedWheel, "name" | "version" | "file" | "sha256">>;
  files: number;
  bytes: number;
  createdAt: string;
}

let cached: LibtorchPin | undefined;

/** The package's pinned LibTorch (libtorch.json). */
export function libtorchPin(): LibtorchPin {
  if (!cached) {
    const raw = JSON.parse(readFileSync(path.join(packageRoot(), "libtorch.json"), "utf8")) as LibtorchPin & { $comment?: string };
    delete raw.$comment;
    cached = raw;
  }
  return cached;
}

/** `$INSEQ_HOME`, default `$XDG_CACHE_HOME/inseq` or `~/.cache/inseq`. */
export function inseqHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.INSEQ_HOME) return path.resolve(env.INSEQ_HOME);
  const cache = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), ".cache");
  return path.join(cache, "inseq");
}

/** Where `setup-torch` installs one flavour of a torch version: `$INSEQ_HOME/libtorch/<torch>-<flavor>`. */
export function libtorchInstallDir(torch: string, flavor: LibtorchFlavor, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(inseqHome(env), "libtorch", `${torch}-${flavor}`);
}

/** `2.15.0+cu132` -> `2.15.0`: the local version label does not change the C++ ABI we link against. */
export function publicVersion(version: string): string {
  return version.split("+")[0]!.trim();
}

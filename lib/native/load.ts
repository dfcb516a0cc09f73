/**
 * Locates and loads the native addon: a local build (build/Release) or the shipped prebuild
 * (prebuilds/<platform>-<arch>/; PREBUILDS_ONLY=1 forces it). The addon links libtorch_cpu + libc10 without
 * an RPATH, so LibTorch is found at run time (lib/native/libtorch.ts) and preloaded through the tiny
 * LibTorch-free loader addon before the addon itself is required. The only module that requires .node files.
 */
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { ErrorCode, InseqError } from "../core/errors.js";
import { packageRoot } from "../core/paths.js";
import { libtorchPin } from "../torch/pin.js";
import type { NativeBinding } from "./binding-types.js";
import { findLibtorch, type AddonBuildInfo, type LibtorchCandidate, type LibtorchLookup } from "./libtorch.js";

const require = createRequire(import.meta.url);

/** Where the addon files are and what they were built against. */
export interface AddonFiles {
  /** `build` (a local build from source) or `prebuild` (shipped in the package). */
  kind: "build" | "prebuild";
  addon: string;
  loader: string;
  build: AddonBuildInfo;
}

let binding: NativeBinding | undefined;
let loaded: { files: AddonFiles; libtorch: LibtorchCandidate } | undefined;

/**
 * The addon to load: `$INSEQ_ADDON_DIR` when set (a build output dir, e.g. another build of the same checkout),
 * else build/Release unless PREBUILDS_ONLY=1, else prebuilds/<platform>-<arch>.
 */
export function locateAddon(): AddonFiles {
  const root = packageRoot();
  const places: Array<[AddonFiles["kind"], string, string, string]> = [];
  const dir = process.env.INSEQ_ADDON_DIR;
  if (dir) places.push(["build", path.resolve(dir), "inseq.node", "inseq-loader.node"]);
  else if (process.env.PREBUILDS_ONLY !== "1") places.push(["build", "build/Release", "inseq.node", "inseq-loader.node"]);
  places.push(["prebuild", `prebuilds/${process.platform}-${process.arch}`, "inseq.napi.node", "inseq-loader.napi.node"]);
  for (const [kind, dir, addon, loader] of places) {
    const files = { addon: path.resolve(root, dir, addon), loader: path.resolve(root, dir, loader), info: path.resolve(root, dir, "inseq.build.json") };
    if (!existsSync(files.addon) || !existsSync(files.loader) || !existsSync(files.info)) continue;
    const build = JSON.parse(readFileSync(files.info, "utf8")) as AddonBuildInfo;
    return { kind, addon: files.addon, loader: files.loader, build };
  }
  throw new InseqError(
    ErrorCode.ADDON_LOAD,
    [
      `No inseq native addon for ${process.platform}-${process.arch} in ${root} (looked in ${places.map((p) => p[1]).join(", ")}).`,
      "Possible solutions:",
      "- Prebuilt addons exist for linux-x64 (glibc); on other platforms build from source:",
      "  npx inseq setup-torch --dev && npm run build:native (in the inseq package), with cmake and a C++20 compiler",
      "- Run `npx inseq doctor` for details.",
    ].join("\n"),
  );
}

/** One message listing what was looked at and how to get a LibTorch (shown when none is usable). */
export function libtorchHelp(lookup: LibtorchLookup): string {
  const want = lookup.build.torch;
  const lines = lookup.candidates.map((c) => `- ${c.source}: ${c.location}${c.usable ? " (usable)" : ` — ${c.reason}`}`);
  const pinned = libtorchPin().torch === want;
  const solutions = lookup.build.libtorchSoname === "libtorch_cpu.so"
    ? [
        pinned
          ? `- Fetch it (CPU: about 460 MB on disk; add --cuda for NVIDIA GPUs): npx inseq setup-torch`
          : `- Fetch LibTorch ${want}: this addon was built against it, not the version setup-torch pins (${libtorchPin().torch}); rebuild it (npm run build:native) or get ${want}`,
        `- Point INSEQ_LIBTORCH at a LibTorch ${want} directory (an unpacked libtorch zip, or a pip torch's site-packages/torch)`,
        `- Install torch==${want} for python3 (or the interpreter in INSEQ_PYTHON): its LibTorch is used`,
      ]
    : [`- Install Debian's LibTorch, which this addon was built against: sudo apt-get install libtorch-dev libopenblas0-openmp`];
  return [`Possible solutions:`, ...solutions, "- Run `npx inseq doctor` for details.", `Looked at:`, ...lines].join("\n");
}

/** The loaded addon; throws one actionable ERR_ADDON_LOAD error when it cannot be loaded. */
export function native(): NativeBinding {
  if (binding) return binding;
  const files = locateAddon();
  const lookup = findLibtorch(files.build);
  const chosen = lookup.chosen;
  if (!chosen) {
    throw new InseqError(ErrorCode.ADDON_LOAD, `Could not load the inseq native addon: no usable LibTorch ${files.build.torch} was found.\n${libtorchHelp(lookup)}`);
  }
  let loader: { open(file: string): string | null };
  try {
    loader = require(files.loader) as typeof loader;
  } catch (cause) {
    throw new InseqError(ErrorCode.ADDON_LOAD, `Could not load ${files.loader}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  for (const lib of chosen.preload ?? []) {
    const err = loader.open(lib);
    if (err) {
      throw new InseqError(
        ErrorCode.ADDON_LOAD,
        `Could not load LibTorch from ${chosen.libDir} (${chosen.source}): ${err}\n${libtorchHelp(lookup)}`,
      );
    }
  }
  try {
    binding = require(files.addon) as NativeBinding;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const hint = /undefined symbol/.test(reason) ? ` (LibTorch ${chosen.version ?? "of unknown version"} does not match the ${files.build.torch} this addon was built against)` : "";
    throw new InseqError(ErrorCode.ADDON_LOAD, `Could not load the inseq native addon ${files.addon}: ${reason}${hint}\n${libtorchHelp(lookup)}`, { cause });
  }
  loaded = { files, libtorch: chosen };
  return binding;
}

/** The addon files and the LibTorch in use (undefined until native() succeeded). */
export function loadedAddon(): { files: AddonFiles; libtorch: LibtorchCandidate } | undefined {
  return loaded;
}

/** Shared libraries mapped into this process whose names match `pattern` (Linux /proc/self/maps). */
export function mappedLibraries(pattern: RegExp): string[] {
  try {
    const maps = readFileSync("/proc/self/maps", "utf8");
    const libs = new Set<string>();
    for (const line of maps.split("\n")) {
      const file = line.slice(line.indexOf("/"));
      if (line.includes("/") && pattern.test(path.basename(file))) libs.add(file.trim());
    }
    return [...libs];
  } catch {
    return [];
  }
}

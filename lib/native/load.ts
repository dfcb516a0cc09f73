/**
 * Locates and loads the native addon: a local build (build/Release) or the shipped prebuild
 * (prebuilds/<platform>-<arch>/, through node-gyp-build; PREBUILDS_ONLY=1 forces the prebuild).
 * The only module that requires the .node file.
 */
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

import { ErrorCode, InseqError } from "../core/errors.js";
import { packageRoot } from "../core/paths.js";
import type { NativeBinding } from "./binding-types.js";

const require = createRequire(import.meta.url);

let binding: NativeBinding | undefined;
let loadedFrom: string | undefined;

/** The loaded addon; throws one actionable ERR_ADDON_LOAD error when it cannot be loaded. */
export function native(): NativeBinding {
  if (binding) return binding;
  const root = packageRoot();
  try {
    const gypBuild = require("node-gyp-build") as { (dir: string): NativeBinding; resolve(dir: string): string };
    loadedFrom = gypBuild.resolve(root);
    binding = require(loadedFrom) as NativeBinding;
    return binding;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const hints = [
      "Possible solutions:",
      "- Install LibTorch and an optimized BLAS: sudo apt-get install libtorch-dev libopenblas0-openmp (Debian 12),",
      `- or build the addon from source in ${root}: npm run build:native`,
      "- Run `npx inseq doctor` for details.",
    ];
    if (/libtorch|libc10/.test(reason)) hints.splice(1, 0, "- The addon was found but LibTorch's shared libraries were not.");
    throw new InseqError(ErrorCode.ADDON_LOAD, `Could not load the inseq native addon: ${reason}\n${hints.join("\n")}`, { cause });
  }
}

/** Path of the loaded .node file (undefined until native() succeeded). */
export function addonPath(): string | undefined {
  return loadedFrom;
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

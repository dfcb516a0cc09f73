/**
 * discretized_integrated_gradients (DIG) options: the path strategy (Inseq's `method`), the kNN size and the kNN
 * graph's on-disk cache, resolved into the native request's fields. See docs/attribution.md ("Discretized
 * integrated gradients").
 */
import path from "node:path";

import { invalidOption } from "../core/errors.js";
import type { NativeAttributionRequest } from "../native/binding-types.js";
import { inseqHome } from "../torch/pin.js";

export const DIG_METHOD = "discretized_integrated_gradients";

/**
 * Where DIG keeps its kNN graphs by default: `$INSEQ_HOME/dig-knn` (`$XDG_CACHE_HOME/inseq/dig-knn` or
 * `~/.cache/inseq/dig-knn`). One file per embedding table and k: `<hash of the table>-k<k>.bin`.
 */
export function digCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(inseqHome(env), "dig-knn");
}

/** The DIG fields of the native request from methodArgs (method, nNeighbors, cacheDir, saveCache, overwriteCache). */
export function digMethodArgs(a: Record<string, unknown>): Partial<NativeAttributionRequest> {
  const out: Partial<NativeAttributionRequest> = {};
  if (a.method !== undefined) {
    if (a.method !== "greedy" && a.method !== "maxcount") throw invalidOption("method", '"greedy" or "maxcount"', a.method);
    out.digStrategy = a.method;
  }
  if (a.nNeighbors !== undefined) {
    if (typeof a.nNeighbors !== "number" || !Number.isInteger(a.nNeighbors) || a.nNeighbors < 1) throw invalidOption("nNeighbors", "an integer >= 1", a.nNeighbors);
    out.nNeighbors = a.nNeighbors;
  }
  if (a.nSteps !== undefined && a.nSteps === 1) throw invalidOption("nSteps", "an integer >= 2", a.nSteps);
  for (const k of ["saveCache", "overwriteCache"] as const) {
    if (a[k] === undefined) continue;
    if (typeof a[k] !== "boolean") throw invalidOption(k, "a boolean", a[k]);
    out[k] = a[k];
  }
  // cacheDir: a directory, or null for no cache file at all (the graph is built on every call)
  if (a.cacheDir !== undefined && a.cacheDir !== null && (typeof a.cacheDir !== "string" || a.cacheDir === "")) {
    throw invalidOption("cacheDir", "a directory path or null", a.cacheDir);
  }
  out.digCacheDir = a.cacheDir === null ? "" : path.resolve((a.cacheDir as string | undefined) ?? digCacheDir());
  return out;
}

// discretized_integrated_gradients options: Inseq's `method` is the path strategy here (not an integration grid),
// multiplyByInputs defaults to false as Inseq's DIG, and the kNN cache directory resolves under $INSEQ_HOME.
import path from "node:path";
import { describe, expect, it } from "vitest";

import { methodArgs } from "../../lib/attribution/options.js";
import { DIG_METHOD, digCacheDir } from "../../lib/attribution/dig-options.js";
import { getMethod } from "../../lib/attribution/registry.js";
import { checksCompletenessByDefault, completenessWarning } from "../../lib/attribution/completeness-warning.js";
import type { FeatureAttributionOutput } from "../../lib/results/attribution.js";

describe("discretized_integrated_gradients options", () => {
  it("maps method to the path strategy and keeps integrated_gradients' method the integration grid", () => {
    expect(methodArgs(DIG_METHOD, { method: "maxcount" }).digStrategy).toBe("maxcount");
    expect(methodArgs(DIG_METHOD, { method: "maxcount" }).integration).toBeUndefined();
    expect(methodArgs("integrated_gradients", { method: "riemann_left" }).integration).toBe("riemann_left");
    expect(() => methodArgs(DIG_METHOD, { method: "gausslegendre" })).toThrow(/Expected "greedy" or "maxcount" for method/);
  });

  it("defaults multiplyByInputs to false (Inseq's DIG) and leaves integrated_gradients' default alone", () => {
    expect(methodArgs(DIG_METHOD, {}).multiplyByInputs).toBe(false);
    expect(methodArgs(DIG_METHOD, { multiplyByInputs: true }).multiplyByInputs).toBe(true);
    expect(methodArgs("integrated_gradients", {}).multiplyByInputs).toBeUndefined();
    expect(getMethod(DIG_METHOD).options).toEqual(expect.arrayContaining(["nSteps", "method", "nNeighbors", "saveCache", "overwriteCache", "cacheDir"]));
  });

  it("checks nNeighbors, nSteps >= 2 and the cache options", () => {
    expect(methodArgs(DIG_METHOD, { nNeighbors: 10 }).nNeighbors).toBe(10);
    expect(() => methodArgs(DIG_METHOD, { nNeighbors: 0 })).toThrow(/nNeighbors/);
    expect(() => methodArgs(DIG_METHOD, { nNeighbors: 2.5 })).toThrow(/nNeighbors/);
    expect(() => methodArgs(DIG_METHOD, { nSteps: 1 })).toThrow(/an integer >= 2 for nSteps/);
    expect(() => methodArgs(DIG_METHOD, { saveCache: "yes" })).toThrow(/saveCache/);
    expect(methodArgs(DIG_METHOD, { overwriteCache: true, saveCache: false })).toMatchObject({ overwriteCache: true, saveCache: false });
    expect(() => methodArgs(DIG_METHOD, { cacheDir: 3 })).toThrow(/cacheDir/);
    expect(() => methodArgs(DIG_METHOD, { nNeighbour: 3 })).toThrow(/nNeighbour/);
  });

  it("resolves the kNN cache directory: cacheDir, null for none, else $INSEQ_HOME/dig-knn", () => {
    expect(methodArgs(DIG_METHOD, { cacheDir: "rel/knn" }).digCacheDir).toBe(path.resolve("rel/knn"));
    expect(methodArgs(DIG_METHOD, { cacheDir: null }).digCacheDir).toBe("");
    expect(methodArgs(DIG_METHOD, {}).digCacheDir).toBe(digCacheDir());
    expect(digCacheDir({ INSEQ_HOME: "/x/inseq" })).toBe(path.resolve("/x/inseq/dig-knn"));
    expect(digCacheDir({ XDG_CACHE_HOME: "/c" })).toBe(path.resolve("/c/inseq/dig-knn"));
  });

  it("never adds or judges convergence deltas on its own (a path that nSteps changes has no completeness to enforce)", () => {
    expect(checksCompletenessByDefault(DIG_METHOD, undefined)).toBe(false);
    expect(completenessWarning({} as FeatureAttributionOutput, DIG_METHOD, { returnConvergenceDelta: true })).toBeNull();
  });
});

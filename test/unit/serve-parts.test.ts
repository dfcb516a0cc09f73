/** The parts of lib/serve that need no server: queue, results store, metrics text, allow-list, error statuses. */
import path from "node:path";

import { describe, expect, it } from "vitest";

import { ErrorCode, InseqError } from "../../lib/core/errors.js";
import { defaultModelDir } from "../../lib/models/load-model.js";
import { AllowList, globToRegExp, modelRef } from "../../lib/serve/allow-list.js";
import { optionPath, STATUS_BY_CODE, toHttpError } from "../../lib/serve/errors.js";
import { JobQueue } from "../../lib/serve/job-queue.js";
import { Counter, Gauge, Histogram, MetricsRegistry } from "../../lib/serve/metrics.js";
import { ResultsStore } from "../../lib/serve/results-store.js";

const deferred = () => {
  let resolve!: (v: string) => void;
  const promise = new Promise<string>((r) => (resolve = r));
  return { promise, resolve };
};

describe("JobQueue", () => {
  it("runs up to `concurrency` jobs, queues up to `size` with their positions, refuses one more with ERR_QUEUE_FULL", async () => {
    const q = new JobQueue("m", 2, 1);
    const signal = new AbortController().signal;
    const gates = [deferred(), deferred(), deferred()];
    const positions: number[] = [];
    const started: number[] = [];
    const runs = gates.map((g, i) => q.run(() => g.promise, signal, { onQueued: (p) => positions.push(p), onStarted: () => started.push(i) }));
    expect(positions).toEqual([0, 1, 2]);
    expect(started).toEqual([0]);
    expect(q.depth).toBe(2);
    const refused = await q.run(async () => "x", signal).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InseqError);
    expect((refused as InseqError).code).toBe(ErrorCode.QUEUE_FULL);
    expect((refused as { retryAfterS: number }).retryAfterS).toBeGreaterThanOrEqual(1);
    gates[0]!.resolve("a");
    expect(await runs[0]).toBe("a");
    expect(started).toEqual([0, 1]);
    expect(positions).toEqual([0, 1, 2, 1]); // the third job moved up to the head of the line
    gates[1]!.resolve("b");
    gates[2]!.resolve("c");
    expect(await Promise.all(runs)).toEqual(["a", "b", "c"]);
    expect(q.running).toBe(0);
  });

  it("drops a waiting job whose signal aborts (ERR_ABORTED) and never starts it", async () => {
    const q = new JobQueue("m", 4, 1);
    const gate = deferred();
    const first = q.run(() => gate.promise, new AbortController().signal);
    const ac = new AbortController();
    let ran = false;
    const second = q.run(async () => ((ran = true), "no"), ac.signal);
    ac.abort();
    const err = await second.catch((e: unknown) => e);
    expect((err as InseqError).code).toBe(ErrorCode.ABORTED);
    expect(q.depth).toBe(0);
    gate.resolve("ok");
    expect(await first).toBe("ok");
    expect(ran).toBe(false);
  });

  it("tells the jobs behind an aborted one their new places", async () => {
    const q = new JobQueue("m", 4, 1);
    const gate = deferred();
    const first = q.run(() => gate.promise, new AbortController().signal);
    const ac = new AbortController();
    const second = q.run(async () => "2", ac.signal).catch((e: unknown) => e);
    const places: number[] = [];
    const third = q.run(async () => "3", new AbortController().signal, { onQueued: (p) => places.push(p) });
    ac.abort();
    expect((await second as InseqError).code).toBe(ErrorCode.ABORTED);
    expect(places).toEqual([2, 1]);
    gate.resolve("1");
    expect(await first).toBe("1");
    expect(await third).toBe("3");
    expect(places).toEqual([2, 1]); // it started: no further places
  });
});

describe("ResultsStore", () => {
  it("drops the oldest results beyond its count", () => {
    const s = new ResultsStore(2, 1e9);
    const a = s.put("attribution", "{}");
    const b = s.put("attribution", "[]");
    const c = s.put("context", "{}");
    expect(() => s.get(a.id)).toThrow(expect.objectContaining({ code: ErrorCode.NOT_FOUND }));
    expect(s.get(b.id).json).toBe("[]");
    expect(s.get(c.id).kind).toBe("context");
    expect(s.size).toBe(2);
  });

  it("drops the oldest results beyond its bytes, keeping a single large one", () => {
    const s = new ResultsStore(100, 10);
    const a = s.put("attribution", "12345");
    const b = s.put("attribution", "12345");
    expect(s.bytes).toBe(10);
    const c = s.put("attribution", "1");
    expect(() => s.get(a.id)).toThrow();
    expect(s.get(b.id)).toBeDefined();
    const big = s.put("attribution", "x".repeat(50));
    expect(s.get(big.id).bytes).toBe(50);
    expect(() => s.get(c.id)).toThrow();
    expect(s.size).toBe(1);
  });
});

describe("metrics text", () => {
  it("renders counters, gauges and cumulative histograms in the Prometheus text format", () => {
    const r = new MetricsRegistry();
    const c = r.add(new Counter("x_total", "xs"));
    c.inc({ a: 'q"\\' });
    c.inc({ a: 'q"\\' }, 2);
    r.add(new Gauge("g", "a gauge", () => [{ labels: { m: "default" }, value: 3 }]));
    const h = r.add(new Histogram("d_seconds", "durations", [0.1, 1]));
    h.observe({ route: "/r" }, 0.05);
    h.observe({ route: "/r" }, 0.5);
    h.observe({ route: "/r" }, 5);
    expect(r.render()).toBe([
      "# HELP x_total xs", "# TYPE x_total counter", 'x_total{a="q\\"\\\\"} 3',
      "# HELP g a gauge", "# TYPE g gauge", 'g{m="default"} 3',
      "# HELP d_seconds durations", "# TYPE d_seconds histogram",
      'd_seconds_bucket{route="/r",le="0.1"} 1', 'd_seconds_bucket{route="/r",le="1"} 2', 'd_seconds_bucket{route="/r",le="+Inf"} 3',
      'd_seconds_sum{route="/r"} 5.55', 'd_seconds_count{route="/r"} 3', "",
    ].join("\n"));
  });
});

describe("AllowList", () => {
  it("allows exact ids, directories by their absolute path, and globs", () => {
    const list = new AllowList(["default", "org/*", "/models/**/ckpt-?"]);
    expect(list.allows(modelRef("default"))).toBe(true);
    expect(list.allows(modelRef(defaultModelDir()))).toBe(false);
    expect(list.allows(modelRef("org/tiny"))).toBe(true);
    expect(list.allows(modelRef("org/a/b"))).toBe(false);
    expect(list.allows(modelRef("other/tiny"))).toBe(false);
    expect(list.allows(modelRef("/models/x/y/ckpt-3"))).toBe(true);
    expect(list.allows(modelRef("/models/x/y/ckpt-33"))).toBe(false);
    expect(modelRef("./models/default").id).toBe(path.resolve("models/default"));
    // A relative glob covers directories (by absolute path) and hub ids (as written).
    const rel = new AllowList(["models/*"]);
    expect(rel.allows(modelRef("./models/default"))).toBe(true);
    expect(rel.allows(modelRef(path.resolve("models/default")))).toBe(true);
    expect(rel.allows(modelRef("models/some-hub-model"))).toBe(true);
    expect(rel.allows(modelRef(path.resolve("test/fixtures")))).toBe(false);
    expect(globToRegExp("a.b*").test("a.bcd")).toBe(true);
    expect(globToRegExp("a.b*").test("axbcd")).toBe(false);
  });
});

describe("error statuses", () => {
  it("maps the library's codes to the contract's HTTP statuses", () => {
    expect(STATUS_BY_CODE).toMatchObject({
      ERR_INVALID_OPTION: 400, ERR_UNKNOWN_OPTION: 400, ERR_BAD_DATASET: 400, ERR_UNAUTHORIZED: 401, ERR_FORBIDDEN: 403, ERR_NOT_FOUND: 404,
      ERR_LIMIT: 413, ERR_QUEUE_FULL: 429, ERR_ABORTED: 499, ERR_OUT_OF_MEMORY: 507, ERR_TIMEOUT: 504, ERR_BAD_MODEL: 422,
      ERR_BAD_CHECKPOINT: 422, ERR_UNSUPPORTED_MODEL: 422, ERR_BAD_TOKENIZER: 422,
    });
    expect(toHttpError(new InseqError(ErrorCode.TORCH, "x")).status).toBe(500);
    expect(toHttpError(new Error("boom"))).toMatchObject({ status: 500, message: "boom" });
  });

  it("names options by their path in the body", () => {
    expect(optionPath("")).toBe("the request body");
    expect(optionPath("/options/methodArgs/nSteps")).toBe("options.methodArgs.nSteps");
    expect(optionPath("/inputs/1")).toBe("inputs[1]");
    expect(optionPath("/options", "generationArgs")).toBe("options.generationArgs");
  });
});

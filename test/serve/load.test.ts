/**
 * A small load on a real `inseq serve` (bench/serve-load.mjs at 60 requests, 8 clients, a queue of 4): every
 * request is answered, with 200 or the queue's deliberate 429, and nothing else.
 */
import { describe, expect, it } from "vitest";

// @ts-expect-error a plain ES module without types (the load test the lead runs with 200 requests)
import { runLoad } from "../../bench/serve-load.mjs";

describe("inseq serve under load", () => {
  it("answers 60 attribution requests from 8 clients with 200 or 429 only, no errors", async () => {
    const f = await runLoad({ requests: 60, connections: 8, queueSize: 4, maxSeconds: 25, maxNewTokens: 4 });
    expect(f.errors).toBe(0);
    expect(f.timeouts).toBe(0);
    expect(f.answered).toBe(60);
    const statuses = Object.keys(f.statusCodes).map(Number);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(f.statusCodes[200]).toBeGreaterThanOrEqual(5);
    // 8 clients on 1 running + 4 waiting places: the queue refused some.
    expect(f.statusCodes[429] ?? 0).toBeGreaterThan(0);
    expect(f.non2xx).toBe(f.statusCodes[429] ?? 0);
  }, 60_000);
});

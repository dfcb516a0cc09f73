// Cancellation and progress of attribute() (issue 10, item 11): an abort lands within 100 ms whatever the
// memory budget lets one native batch hold (it was checked only between batches, seconds apart); the rejection
// is an AbortError (code ERR_ABORTED) whose cause is the signal's reason; progress counts generated steps of
// the whole call (not internal rows) and fires at least every 250 ms of work.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { InseqError, loadModel, type Model } from "../../lib/index.js";
import { referenceDir } from "../helpers.js";

describe("attribute(): abort and progress", () => {
  let model: Model;
  const prompt = "He was";
  const target = "He was in the park with her and the dog. She said that the cat";
  // One huge batch if the memory budget decides alone: 400 integration points per step, 64 GiB of budget.
  const heavy = { generatedTexts: [target], method: "integrated_gradients", methodArgs: { nSteps: 400 }, memoryBudgetMb: 65536 };
  const lighter = { ...heavy, methodArgs: { nSteps: 150 } };
  beforeAll(async () => {
    model = await loadModel(referenceDir("llama"), { device: "cpu" });
  });
  afterAll(() => model.dispose());

  it("an abort during a large native batch rejects within 100 ms with an AbortError carrying the reason", async () => {
    // Wall-clock latency on a shared 2-core machine includes scheduler noise (other test forks and their child
    // processes): the best of three aborts must land within 100 ms, and none may take the old seconds.
    const latencies: number[] = [];
    for (let attempt = 0; attempt < 3 && !(latencies.length && Math.min(...latencies) < 100); attempt++) {
      const controller = new AbortController();
      const reason = { why: "user pressed stop", attempt };
      let started = 0;
      const call = model.attribute([prompt], {
        ...heavy,
        signal: controller.signal,
        onProgress: () => { started ||= performance.now(); },
      });
      const outcome = call.then(() => "resolved", (e: unknown) => e);
      // Abort once native work runs (first progress event), plus a little so that a batch is in flight.
      while (!started) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 150));
      const t0 = performance.now();
      controller.abort(reason);
      const err = await outcome;
      latencies.push(performance.now() - t0);
      expect(err).toBeInstanceOf(InseqError);
      expect((err as InseqError).name).toBe("AbortError");
      expect((err as InseqError).code).toBe("ERR_ABORTED");
      expect((err as InseqError).cause).toBe(reason);
    }
    expect(Math.min(...latencies)).toBeLessThan(100);
    expect(Math.max(...latencies)).toBeLessThan(500);
  });

  it("an abort before the call starts is an AbortError too", async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await model.attribute([prompt], { generatedTexts: [target], signal: controller.signal }).catch((e: unknown) => e);
    expect((err as InseqError).name).toBe("AbortError");
    expect((err as InseqError).cause).toBe(controller.signal.reason);
  });

  it("rows are grouped by an estimate of work, not by measured time: repeated calls agree bit for bit", async () => {
    // The progress test's workload: many budget-sized chunks. Under the old time-paced batching the grouping
    // (and so the last bits) followed the machine's load.
    const run = async () => (await model.attribute([prompt], { ...lighter, onProgress: () => {} })).sequenceAttributions[0]!.targetAttributions!.data;
    const first = await run();
    let busy = 0;
    const load = setInterval(() => { const t = performance.now(); while (performance.now() - t < 8) busy++; }, 10);  // a loaded event loop
    try {
      expect(await run()).toEqual(first);
    } finally {
      clearInterval(load);
    }
    expect(busy).toBeGreaterThan(0);
  });

  it("progress counts generated steps over every batch of inputs and fires at least every 250 ms of work", async () => {
    const events: Array<{ done: number; total: number; at: number }> = [];
    const t0 = performance.now();
    const out = await model.attribute([prompt, "She said"], {
      ...lighter, generatedTexts: [target, "She said that the cat was in the park"], batchSize: 1,
      onProgress: (done, total) => events.push({ done, total, at: performance.now() }),
    });
    const steps = out.sequenceAttributions.reduce((n, s) => n + s.attrPosEnd - s.attrPosStart, 0);
    expect(events.length).toBeGreaterThan(4);
    expect(new Set(events.map((e) => e.total))).toEqual(new Set([steps]));
    for (let i = 1; i < events.length; i++) expect(events[i]!.done).toBeGreaterThanOrEqual(events[i - 1]!.done);
    expect(events.at(-1)!.done).toBe(steps);
    const gaps = events.map((e, i) => e.at - (i ? events[i - 1]!.at : t0));
    expect(Math.max(...gaps.slice(1))).toBeLessThan(250);
  });

  it("value_zeroing reports progress per batch of zeroed tokens, in generated steps", async () => {
    const events: Array<[number, number]> = [];
    // A 1 MiB budget splits the zeroed tokens of this target into several batches.
    const out = await model.attribute([prompt], {
      generatedTexts: [`${target} and ${target.slice(7)}`], method: "value_zeroing", memoryBudgetMb: 1, onProgress: (d, t) => events.push([d, t]),
    });
    const steps = out.sequenceAttributions[0]!.attrPosEnd - out.sequenceAttributions[0]!.attrPosStart;
    expect(events.filter(([d]) => d > 0 && d < steps).length).toBeGreaterThan(1);  // after each batch of zeroed tokens
    expect(events.every(([, t]) => t === steps)).toBe(true);
    expect(events.at(-1)![0]).toBe(steps);
  });
});

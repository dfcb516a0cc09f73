// NativeLifecycle (both model kinds): calls hold the native object until they settle; dispose() refuses new
// calls at once, waits for the held ones (failed ones too), and frees the native object exactly once.
import { describe, expect, it } from "vitest";

import { NativeLifecycle } from "../../lib/models/lifecycle.js";
import { expectCode } from "../helpers.js";

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

describe("NativeLifecycle", () => {
  it("frees the native object once, after the calls started before dispose() settle", async () => {
    const events: string[] = [];
    const native = { dispose: () => events.push("freed") };
    const life = new NativeLifecycle(native);
    const ok = deferred<string>();
    const bad = deferred<string>();
    const a = life.run(async (n) => { expect(n).toBe(native); return ok.promise; });
    const b = life.run(() => bad.promise);
    const first = life.dispose().then(() => events.push("first dispose resolved"));
    const second = life.dispose().then(() => events.push("second dispose resolved"));
    expect(life.disposed).toBe(true);
    await expectCode(life.run(async () => "late"), "ERR_DISPOSED", "The model has been disposed");
    await new Promise((r) => setTimeout(r, 5));
    expect(events).toEqual([]);
    ok.resolve("done");
    expect(await a).toBe("done");
    await new Promise((r) => setTimeout(r, 5));
    expect(events).toEqual([]);
    bad.reject(new Error("boom"));
    await expect(b).rejects.toThrow("boom");
    await Promise.all([first, second]);
    expect(events).toEqual(["freed", "first dispose resolved", "second dispose resolved"]);
  });

  it("a call that throws synchronously is a rejection, and dispose() without calls frees at once", async () => {
    let freed = 0;
    const life = new NativeLifecycle({ dispose: () => { freed++; } });
    await expect(life.run(() => { throw new Error("sync"); })).rejects.toThrow("sync");
    await life.dispose();
    await life.dispose();
    expect(freed).toBe(1);
  });
});

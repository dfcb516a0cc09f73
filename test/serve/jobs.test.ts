/**
 * Long calls against a real `inseq serve`: server-sent events in order, cancellation when the client goes away
 * (within 200 ms, and the next request works), 429 with Retry-After under a full queue, request timeouts.
 */
import { request as httpRequest, type ClientRequest } from "node:http";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { parseEvents, postJson, startServe, type ServeProcess } from "../helpers/serve-process.js";

/** About 1.5 s of integrated gradients on the default model (one core). */
const SLOW = { model: "default", inputs: "mary went to the market because she", method: "integrated_gradients", options: { methodArgs: { nSteps: 500 }, generationArgs: { maxNewTokens: 30 } } };

async function sse(url: string, body: unknown): Promise<{ status: number; type: string | null; events: Array<{ event: string; data: any }> }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify(body) });
  return { status: res.status, type: res.headers.get("content-type"), events: parseEvents(await res.text()) };
}

/** Starts a raw POST; `onData` sees each chunk of the response body. */
function startPost(url: string, body: unknown, headers: Record<string, string>, onData: (chunk: string) => void): ClientRequest {
  const req = httpRequest(url, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
    res.setEncoding("utf8").on("data", onData).on("error", () => {});
  });
  req.on("error", () => {});
  req.end(JSON.stringify(body));
  return req;
}

async function metricValue(url: string, sample: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

/** A server for one describe block (started before its tests with `args`, the default model loaded; stopped after). */
function useServer(args: string[] = []): Pick<ServeProcess, "url" | "logs" | "waitForLog"> {
  let server: ServeProcess | undefined;
  beforeAll(async () => {
    server = await startServe(args);
    expect((await postJson(`${server.url}/v1/models/load`, { model: "default" })).status).toBe(200);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get url() {
      return server!.url;
    },
    logs: () => server!.logs(),
    waitForLog: (...a) => server!.waitForLog(...a),
  };
}

describe("inseq serve: SSE and cancellation", () => {
  const server = useServer();

  it("streams queued → started → progress (rising to total) → result", async () => {
    const { status, type, events } = await sse(`${server.url}/v1/attribute`, {
      model: "default", inputs: "mary went to", method: "integrated_gradients", options: { methodArgs: { nSteps: 20 }, generationArgs: { maxNewTokens: 6 } },
    });
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/event-stream/);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe("queued");
    expect(events[0]!.data.position).toBe(0);
    expect(typeof events[0]!.data.requestId).toBe("string");
    expect(names[1]).toBe("started");
    expect(names.at(-1)).toBe("result");
    const progress = events.slice(2, -1);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((e) => e.event === "progress")).toBe(true);
    const done = progress.map((e) => e.data.done as number);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(progress.at(-1)!.data).toEqual({ done: 6, total: 6 });
    const result = events.at(-1)!.data;
    expect(result.output.attributes.info.attribution_method).toBe("integrated_gradients");
    const stored = await (await fetch(`${server.url}/v1/results/${result.id}`)).json();
    expect(stored).toEqual(result.output);
  });

  it("ends a stream whose job fails with an error event carrying the library's code", async () => {
    const { status, events } = await sse(`${server.url}/v1/attribute`, { model: "default", inputs: "mary went to", options: { generatedTexts: "john said" } });
    expect(status).toBe(200);
    expect(events.map((e) => e.event)).toEqual(["queued", "started", "error"]);
    expect(events[2]!.data.code).toBe("ERR_INVALID_OPTION");
  });

  it("aborts the native job within 200 ms of an SSE client disconnecting, and the next request works", async () => {
    const before = await metricValue(server.url, 'inseq_jobs_total{model="default",route="/v1/attribute",outcome="aborted"}');
    let text = "";
    let destroyedAt = 0;
    const progressed = new Promise<void>((resolve) => {
      const req = startPost(`${server.url}/v1/attribute`, SLOW, { accept: "text/event-stream" }, (chunk) => {
        text += chunk;
        if (destroyedAt === 0 && /event: progress\ndata: \{"done":[1-9]/.test(text)) {
          destroyedAt = performance.now();
          req.destroy();
          resolve();
        }
      });
    });
    await progressed;
    const line = await server.waitForLog((l) => l.msg === "job aborted: client disconnected", 10_000);
    expect(line.abortMs as number).toBeLessThan(200);
    expect(line.receivedAt - destroyedAt).toBeLessThan(200);
    expect(text).not.toMatch(/event: result/);
    expect(await metricValue(server.url, 'inseq_jobs_total{model="default",route="/v1/attribute",outcome="aborted"}')).toBe(before + 1);
    const t0 = performance.now();
    const next = await postJson(`${server.url}/v1/attribute`, { model: "default", inputs: "mary went to", options: { generationArgs: { maxNewTokens: 3 } } });
    expect(next.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("aborts a plain JSON request's job when its client disconnects", async () => {
    const count = server.logs().filter((l) => l.msg === "job aborted: client disconnected").length;
    const req = startPost(`${server.url}/v1/attribute`, SLOW, {}, () => {});
    await new Promise((r) => setTimeout(r, 500));
    const destroyedAt = performance.now();
    req.destroy();
    const line = await server.waitForLog((l) => l.msg === "job aborted: client disconnected" && server.logs().filter((x) => x.msg === l.msg).length > count, 10_000);
    expect(line.abortMs as number).toBeLessThan(200);
    expect(line.receivedAt - destroyedAt).toBeLessThan(200);
    const next = await postJson(`${server.url}/v1/generate`, { model: "default", inputs: "mary went to", options: { maxNewTokens: 2 } });
    expect(next.status).toBe(200);
  });
});

describe("inseq serve: bounded queue", () => {
  const server = useServer(["--queue-size", "1", "--concurrency", "1"]);

  it("answers 429 ERR_QUEUE_FULL with Retry-After beyond one running and one waiting request", async () => {
    const running = postJson(`${server.url}/v1/attribute`, SLOW);
    await new Promise((r) => setTimeout(r, 150));
    const waiting = sse(`${server.url}/v1/attribute`, SLOW);
    await new Promise((r) => setTimeout(r, 150));
    const refused = await Promise.all([postJson(`${server.url}/v1/attribute`, SLOW), sse(`${server.url}/v1/attribute`, SLOW)]);
    expect(refused[0].status).toBe(429);
    expect(refused[0].body.error.code).toBe("ERR_QUEUE_FULL");
    expect(Number(refused[0].headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // A refused event-stream request is a plain 429 too, not a stream.
    expect(refused[1].status).toBe(429);
    expect(refused[1].type).toMatch(/application\/json/);
    const depth = await metricValue(server.url, 'inseq_queue_depth{model="default"}');
    expect(depth).toBe(1);
    expect((await running).status).toBe(200);
    const queued = await waiting;
    expect(queued.events[0]).toMatchObject({ event: "queued", data: { position: 1 } });
    expect(queued.events.at(-1)!.event).toBe("result");
    expect(await metricValue(server.url, 'inseq_jobs_total{model="default",route="/v1/attribute",outcome="rejected"}')).toBe(2);
    // Room again.
    expect((await postJson(`${server.url}/v1/attribute`, { model: "default", inputs: "mary", options: { generationArgs: { maxNewTokens: 2 } } })).status).toBe(200);
  });
});

describe("inseq serve: unloading under load", () => {
  const server = useServer();

  it("finishes the running job, then serves the accepted waiting one (loading the model again)", async () => {
    const running = postJson(`${server.url}/v1/attribute`, SLOW);
    await new Promise((r) => setTimeout(r, 150));
    const waiting = postJson(`${server.url}/v1/generate`, { model: "default", inputs: "mary went to", options: { maxNewTokens: 2 } });
    await new Promise((r) => setTimeout(r, 100));
    const unloaded = await postJson(`${server.url}/v1/models/unload`, { model: "default" });
    expect(unloaded.body).toEqual({ id: "default", loaded: false });
    expect((await running).status).toBe(200);
    const w = await waiting;
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    expect(w.body.texts[0]).toMatch(/^mary went to /);
  });
});

describe("inseq serve: request timeout", () => {
  const server = useServer(["--request-timeout", "400"]);

  it("aborts a request past --request-timeout with 504 ERR_TIMEOUT; the next request works", async () => {
    const t0 = performance.now();
    const res = await postJson(`${server.url}/v1/attribute`, SLOW);
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe("ERR_TIMEOUT");
    expect(res.body.error.message).toMatch(/requestTimeoutMs \(400 ms\)/);
    expect(performance.now() - t0).toBeLessThan(1200);
    expect((await postJson(`${server.url}/v1/generate`, { model: "default", inputs: "mary", options: { maxNewTokens: 2 } })).status).toBe(200);
    expect(await metricValue(server.url, 'inseq_jobs_total{model="default",route="/v1/attribute",outcome="timeout"}')).toBe(1);
  });
});

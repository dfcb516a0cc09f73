/** Every route of a real `inseq serve` process on loopback, on the bundled default model. */
import { gunzipSync } from "node:zlib";
import { request as httpRequest } from "node:http";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { listFeatureAttributionMethods, listStepFunctions } from "../../lib/attribution/registry.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { postJson, startServe, type ServeProcess } from "../helpers/serve-process.js";

let server: ServeProcess;

beforeAll(async () => {
  server = await startServe(["--max-results", "3"]);
});
afterAll(async () => {
  await server?.stop();
});

/** A GET whose body is not decoded (fetch would gunzip a Content-Encoding: gzip body). */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c)).on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on("error", reject).end();
  });
}

describe("inseq serve routes", () => {
  it("GET /healthz answers ok with the uptime", async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe("ok");
    expect(Number.isInteger(body.uptimeS)).toBe(true);
  });

  it("binds to 127.0.0.1 by default", () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("GET /v1/methods lists the library's methods and step functions", async () => {
    const body = await (await fetch(`${server.url}/v1/methods`)).json();
    expect(body.methods.map((m: { id: string }) => m.id)).toEqual(listFeatureAttributionMethods());
    const ig = body.methods.find((m: { id: string }) => m.id === "integrated_gradients");
    // Each argument with its form (type, bounds, choices) and the method's default.
    expect(ig.args).toContainEqual({ name: "nSteps", type: "integer", minimum: 1, default: 50 });
    expect(ig.args).toContainEqual({ name: "multiplyByInputs", type: "boolean" });
    const dig = body.methods.find((m: { id: string }) => m.id === "discretized_integrated_gradients");
    expect(dig.args).toContainEqual({ name: "multiplyByInputs", type: "boolean", default: false });
    const vz = body.methods.find((m: { id: string }) => m.id === "value_zeroing");
    expect(vz.args).toContainEqual({ name: "similarityMetric", type: "string", choices: ["cosine", "euclidean"] });
    expect(ig.defaultAttributedFn).toBe("probability");
    expect(body.stepFunctions).toEqual(listStepFunctions());
    expect(body.aggregators).toContain("spans");
    expect(body.aggregationFunctions).toContain("vnorm");
  });

  it("loads, lists and unloads the default model", async () => {
    const loaded = await postJson(`${server.url}/v1/models/load`, { model: "default" });
    expect(loaded.status).toBe(200);
    expect(loaded.body).toMatchObject({ id: "default", loaded: true, kind: "decoder" });
    expect(loaded.body.info.modelClass).toBe("LlamaForCausalLM");
    let list = await (await fetch(`${server.url}/v1/models`)).json();
    expect(list.allowed).toEqual(["default"]);
    expect(list.models).toEqual([expect.objectContaining({ id: "default", loaded: true, kind: "decoder" })]);
    const unloaded = await postJson(`${server.url}/v1/models/unload`, { model: "default" });
    expect(unloaded.body).toEqual({ id: "default", loaded: false });
    list = await (await fetch(`${server.url}/v1/models`)).json();
    expect(list.models).toEqual([{ id: "default", loaded: false, kind: null, info: null }]);
  });

  it("refuses a model the operator did not allow with 403 ERR_FORBIDDEN", async () => {
    const res = await postJson(`${server.url}/v1/models/load`, { model: "/tmp" });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("ERR_FORBIDDEN");
    const attr = await postJson(`${server.url}/v1/attribute`, { model: "gpt2", inputs: "hello" });
    expect(attr.status).toBe(403);
  });

  it("POST /v1/generate continues prompts", async () => {
    const res = await postJson(`${server.url}/v1/generate`, { model: "default", inputs: ["mary went to", "john said"], options: { maxNewTokens: 4 } });
    expect(res.status).toBe(200);
    expect(res.body.texts).toHaveLength(2);
    expect(res.body.texts[0].startsWith("mary went to")).toBe(true);
    expect(res.body.texts[0].split(" ").length).toBeGreaterThan(3);
  });

  let firstId = "";
  let firstJson = "";

  it("POST /v1/attribute answers an Inseq JSON document and stores it; GET /v1/results/:id returns it", async () => {
    const res = await postJson(`${server.url}/v1/attribute`, {
      model: "default", inputs: ["mary went to", "john said that"], method: "input_x_gradient",
      options: { generationArgs: { maxNewTokens: 5 }, stepScores: ["probability"], granular: true },
    });
    expect(res.status).toBe(200);
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const out = FeatureAttributionOutput.fromJSON(res.body.output);
    expect(out.length).toBe(2);
    expect(out.info.attribution_method ?? (out.info as Record<string, unknown>).attributionMethod).toBeDefined();
    expect(out.sequenceAttributions[0]!.stepScores.probability!.length).toBe(5);
    firstId = res.body.id;
    const got = await fetch(`${server.url}/v1/results/${firstId}`);
    expect(got.headers.get("content-type")).toMatch(/application\/json/);
    firstJson = await got.text();
    expect(JSON.parse(firstJson)).toEqual(res.body.output);
  });

  it("downloads a result gzipped (?gzip=1&download=1 and Accept-Encoding), decompressing to the same JSON", async () => {
    const file = await rawGet(`${server.url}/v1/results/${firstId}?gzip=1&download=1`);
    expect(file.status).toBe(200);
    expect(file.headers["content-type"]).toBe("application/gzip");
    expect(file.headers["content-disposition"]).toBe(`attachment; filename="inseq-${firstId}.json.gz"`);
    expect(gunzipSync(file.body).toString("utf8")).toBe(firstJson);
    const encoded = await rawGet(`${server.url}/v1/results/${firstId}`, { "accept-encoding": "gzip" });
    expect(encoded.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(encoded.body).toString("utf8")).toBe(firstJson);
    const plain = await rawGet(`${server.url}/v1/results/${firstId}?download=1`);
    expect(plain.headers["content-disposition"]).toBe(`attachment; filename="inseq-${firstId}.json"`);
    expect(plain.body.toString("utf8")).toBe(firstJson);
  });

  it("POST /v1/aggregate aggregates a stored result by id and a posted document", async () => {
    const byId = await postJson(`${server.url}/v1/aggregate`, { id: firstId, aggregate: "sum" });
    expect(byId.status).toBe(200);
    const original = FeatureAttributionOutput.fromJSON(JSON.parse(firstJson));
    const expected = original.aggregate("sum");
    const got = FeatureAttributionOutput.fromJSON(byId.body.output);
    expect(Array.from(got.sequenceAttributions[0]!.targetAttributions!.data)).toEqual(Array.from(expected.sequenceAttributions[0]!.targetAttributions!.data));
    expect(byId.body.id).not.toBe(firstId);
    const posted = await postJson(`${server.url}/v1/aggregate`, { output: JSON.parse(firstJson), aggregate: [{ aggregator: "spans", options: { targetSpans: [[0, 2]] } }] });
    expect(posted.status).toBe(200);
    expect(FeatureAttributionOutput.fromJSON(posted.body.output).sequenceAttributions[0]!.target.length)
      .toBe(original.sequenceAttributions[0]!.target.length - 1);
  });

  it("POST /v1/attribute-context answers PECoRe's output", async () => {
    const res = await postJson(`${server.url}/v1/attribute-context`, {
      model: "default", inputContextText: "mary", inputCurrentText: "went to the", generationArgs: { maxNewTokens: 4 },
    });
    expect(res.status).toBe(200);
    expect(res.body.output.input_context).toBe("mary");
    expect(Array.isArray(res.body.output.cti_scores)).toBe(true);
    expect(Array.isArray(res.body.output.cci_scores)).toBe(true);
    const stored = await (await fetch(`${server.url}/v1/results/${res.body.id}`)).json();
    expect(stored).toEqual(res.body.output);
    const agg = await postJson(`${server.url}/v1/aggregate`, { id: res.body.id, aggregate: "sum" });
    expect(agg.status).toBe(400);
    expect(agg.body.error.code).toBe("ERR_INVALID_OPTION");
  });

  it("drops the oldest result beyond --max-results: a later GET is 404 ERR_NOT_FOUND", async () => {
    // Stored since firstId: two aggregations and one context result (max 3): firstId is gone.
    const gone = await fetch(`${server.url}/v1/results/${firstId}`);
    expect(gone.status).toBe(404);
    expect((await gone.json()).error.code).toBe("ERR_NOT_FOUND");
  });

  it("echoes or generates x-request-id, and puts it in error bodies", async () => {
    const mine = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "client-id-42" } });
    expect(mine.headers.get("x-request-id")).toBe("client-id-42");
    const generated = await fetch(`${server.url}/nope`);
    const id = generated.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.status).toBe(404);
    expect((await generated.json()).error).toMatchObject({ code: "ERR_NOT_FOUND", requestId: id });
    expect(server.logs().some((l) => l.reqId === "client-id-42")).toBe(true);
  });

  it("GET /openapi.json documents every route with its body schema", async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(doc.openapi).toMatch(/^3\./);
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    for (const r of [
      "GET /healthz", "GET /metrics", "GET /openapi.json", "GET /", "GET /v1/models", "POST /v1/models/load", "POST /v1/models/unload",
      "GET /v1/methods", "POST /v1/generate", "POST /v1/attribute", "POST /v1/attribute-context", "POST /v1/aggregate", "GET /v1/results/{id}",
    ]) expect(routes).toContain(r);
    const body = doc.paths["/v1/attribute"].post.requestBody.content["application/json"].schema;
    expect(body.required).toEqual(["model", "inputs"]);
    expect(body.properties.method.enum).toEqual(listFeatureAttributionMethods());
    expect(body.additionalProperties).toBe(false);
  });

  it("GET / serves the viewer page (or its placeholder) as HTML", async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toMatch(/<html/i);
  });

  it("GET /metrics is Prometheus text with the queue, latency, token and memory metrics", async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = new Map<string, number>();
    for (const line of text.trim().split("\n")) {
      if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
      expect(m, line).not.toBeNull();
      samples.set(m![1]! + (m![2] ?? ""), Number(m![3]));
    }
    expect(samples.get('inseq_queue_depth{model="default"}')).toBe(0);
    expect(samples.get("inseq_tokens_attributed_total")).toBeGreaterThanOrEqual(10);
    expect(samples.get('inseq_device_memory_bytes{device="cpu"}')).toBeGreaterThan(10 * 2 ** 20);
    expect(samples.get('inseq_request_duration_seconds_count{route="/v1/attribute",status="200"}')).toBeGreaterThanOrEqual(1);
    expect(samples.get('inseq_jobs_total{model="default",route="/v1/attribute",outcome="ok"}')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/# TYPE inseq_request_duration_seconds histogram/);
  });
});

/** An encoder-decoder behind `inseq serve`: allowed by a directory glob, loaded by path, attributed with its own options. */
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { postJson, REPO_ROOT, startServe, type ServeProcess } from "../helpers/serve-process.js";

const BART = path.join(REPO_ROOT, "test/fixtures/reference-seq2seq/bart");
let server: ServeProcess;

beforeAll(async () => {
  server = await startServe(["--allow", "test/fixtures/reference-seq2seq/*"]);
});
afterAll(async () => {
  await server?.stop();
});

describe("inseq serve with an encoder-decoder", () => {
  it("loads a directory the glob allows (by relative or absolute path) and reports its kind", async () => {
    const res = await postJson(`${server.url}/v1/models/load`, { model: "./test/fixtures/reference-seq2seq/bart" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: BART, loaded: true, kind: "encoder-decoder" });
    const list = await (await fetch(`${server.url}/v1/models`)).json();
    expect(list.allowed).toEqual(["default", "test/fixtures/reference-seq2seq/*"]);
    expect(list.models.map((m: { id: string }) => m.id)).toEqual(["default", BART]);
    expect((await postJson(`${server.url}/v1/models/load`, { model: path.join(REPO_ROOT, "test/fixtures/other") })).status).toBe(403);
  });

  it("attributes source and target with attributeTarget, and generates", async () => {
    const res = await postJson(`${server.url}/v1/attribute`, { model: BART, inputs: "hello world", options: { attributeTarget: true, generationArgs: { maxNewTokens: 3 } } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const seq = FeatureAttributionOutput.fromJSON(res.body.output).sequenceAttributions[0]!;
    expect(seq.sourceAttributions).not.toBeNull();
    expect(seq.targetAttributions).not.toBeNull();
    const gen = await postJson(`${server.url}/v1/generate`, { model: BART, inputs: ["hello world"], options: { maxNewTokens: 3 } });
    expect(gen.status).toBe(200);
    expect(gen.body.texts).toHaveLength(1);
  });

  it("an encoder-decoder option on a decoder-only model is the library's refusal", async () => {
    const res = await postJson(`${server.url}/v1/attribute`, { model: "default", inputs: "mary went to", options: { attributeTarget: true } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("ERR_UNKNOWN_OPTION");
    // Refused before it is queued: an event-stream request gets the HTTP error, not a stream.
    const sse = await fetch(`${server.url}/v1/attribute`, {
      method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ model: "default", inputs: "mary went to", options: { contrastSources: "x" } }),
    });
    expect(sse.status).toBe(400);
    expect((await sse.json()).error.code).toBe("ERR_UNKNOWN_OPTION");
  });
});

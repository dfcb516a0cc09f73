/**
 * Security defaults of a real `inseq serve`: bearer-token auth on (token file or INSEQ_SERVE_TOKEN) and off, the
 * open routes, CORS off unless asked, and no token in the logs.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { bearerChecker } from "../../lib/serve/auth.js";
import { postJson, startServe, type ServeProcess } from "../helpers/serve-process.js";

const TOKEN = `tok-${randomBytes(12).toString("hex")}`;

describe("bearerChecker", () => {
  it("accepts exactly the token, whatever the length of what is sent", () => {
    const check = bearerChecker(TOKEN);
    expect(check(`Bearer ${TOKEN}`)).toBe(true);
    expect(check(`bearer ${TOKEN}`)).toBe(true);
    expect(check(`Bearer ${TOKEN}x`)).toBe(false);
    expect(check(`Bearer ${TOKEN.slice(0, -1)}`)).toBe(false);
    expect(check("Bearer ")).toBe(false);
    expect(check(`Basic ${TOKEN}`)).toBe(false);
    expect(check(TOKEN)).toBe(false);
    expect(check(undefined)).toBe(false);
    expect(() => bearerChecker("")).toThrow(/non-empty/);
  });
});

describe("inseq serve with a token file", () => {
  let server: ServeProcess;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "inseq-serve-auth-"));
    writeFileSync(path.join(dir, "token"), `${TOKEN}\n`);
    server = await startServe(["--token-file", path.join(dir, "token"), "--log-level", "trace", "--cors", "http://viewer.test"]);
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses API routes without the token: 401 ERR_UNAUTHORIZED with WWW-Authenticate", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Bearer ${TOKEN}0` }, { authorization: `Basic ${TOKEN}` }] as Array<Record<string, string>>) {
      for (const route of ["/v1/models", "/metrics", "/openapi.json", "/v1/methods"]) {
        const res = await fetch(`${server.url}${route}`, { headers });
        expect(res.status, `${route} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect((await res.json()).error.code).toBe("ERR_UNAUTHORIZED");
      }
    }
    const post = await postJson(`${server.url}/v1/attribute`, { model: "default", inputs: "mary went to" });
    expect(post.status).toBe(401);
    expect(post.body.error.code).toBe("ERR_UNAUTHORIZED");
  });

  it("serves everything with the token, and /healthz and the viewer page without it", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await fetch(`${server.url}/v1/models`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`, { headers: auth })).status).toBe(200);
    const res = await postJson(`${server.url}/v1/attribute`, { model: "default", inputs: "mary went to", options: { generationArgs: { maxNewTokens: 2 } } }, auth);
    expect(res.status).toBe(200);
    expect((await fetch(`${server.url}/v1/results/${res.body.id}`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${server.url}/v1/results/${res.body.id}`)).status).toBe(401);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/`)).status).toBe(200);
  });

  it("answers CORS for the --cors origin only (preflight without a token)", async () => {
    const pre = await fetch(`${server.url}/v1/attribute`, {
      method: "OPTIONS", headers: { origin: "http://viewer.test", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get("access-control-allow-origin")).toBe("http://viewer.test");
    // An event stream (hijacked reply) carries the CORS headers too.
    const stream = await fetch(`${server.url}/v1/attribute`, {
      method: "POST", body: JSON.stringify({ model: "default", inputs: "mary", options: { generationArgs: { maxNewTokens: 2 } } }),
      headers: { origin: "http://viewer.test", accept: "text/event-stream", "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    });
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(stream.headers.get("access-control-allow-origin")).toBe("http://viewer.test");
    expect(await stream.text()).toMatch(/event: result/);
    const other = await fetch(`${server.url}/healthz`, { headers: { origin: "http://evil.test" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("never writes the token to its logs", async () => {
    await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${TOKEN}`, "x-request-id": "log-check" } });
    await server.waitForLog((l) => l.reqId === "log-check" && typeof l.responseTime === "number");
    expect(server.logs().length).toBeGreaterThan(10);
    expect(server.output()).not.toContain(TOKEN);
    expect(server.output()).not.toContain(TOKEN.slice(4));
  });
});

describe("inseq serve with INSEQ_SERVE_TOKEN, and without a token", () => {
  let withEnv: ServeProcess;
  let open: ServeProcess;
  beforeAll(async () => {
    [withEnv, open] = await Promise.all([startServe([], { INSEQ_SERVE_TOKEN: TOKEN }), startServe([], { INSEQ_SERVE_TOKEN: "" })]);
  });
  afterAll(async () => {
    await Promise.all([withEnv?.stop(), open?.stop()]);
  });

  it("takes the token from the environment", async () => {
    expect((await fetch(`${withEnv.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${withEnv.url}/v1/models`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(withEnv.output()).not.toContain(TOKEN);
  });

  it("without a token every route is open, and CORS is off", async () => {
    const res = await fetch(`${open.url}/v1/models`, { headers: { origin: "http://viewer.test" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const pre = await fetch(`${open.url}/v1/attribute`, { method: "OPTIONS", headers: { origin: "http://viewer.test", "access-control-request-method": "POST" } });
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
  });
});

// loadModel with a hub id: files come from a local HTTP server standing in for the Hub (never the internet)
// into a temporary Hugging Face cache; offline mode never touches the network.
import { readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel } from "../../lib/index.js";
import { referenceDir, tempDir } from "../helpers.js";

const source = referenceDir("qwen2");
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

describe("loadModel from the hub cache", () => {
  let server: http.Server;
  let endpoint: string;
  const requests: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? "");
      const m = /^\/acme\/tiny-qwen\/resolve\/main\/(.+)$/.exec(req.url ?? "");
      const file = m ? path.join(source, m[1]!) : "";
      if (!m || !readdirSync(source).includes(m[1]!)) {
        res.writeHead(404).end("not found");
        return;
      }
      const body = readFileSync(file);
      res.writeHead(200, { "x-repo-commit": COMMIT, etag: `"etag-${m[1]!.replace(/\W/g, "")}"`, "content-length": body.length });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("downloads into the standard layout, then loads offline from it", async () => {
    const cacheDir = tempDir("hub");
    const model = await loadModel("acme/tiny-qwen", { endpoint, cacheDir, device: "cpu" });
    expect(model.info.path).toBe(path.join(cacheDir, "models--acme--tiny-qwen", "snapshots", COMMIT));
    const online = await model.generate("He was", { maxNewTokens: 5 });
    await model.dispose();
    expect(requests.some((r) => r.endsWith("/model.safetensors"))).toBe(true);

    const before = requests.length;
    const offline = await loadModel("acme/tiny-qwen", { endpoint, cacheDir, device: "cpu", offline: true });
    expect(await offline.generate("He was", { maxNewTokens: 5 })).toEqual(online);
    await offline.dispose();
    expect(requests.length).toBe(before);
  });

  it("offline with an empty cache fails with ERR_OFFLINE and sends nothing", async () => {
    const before = requests.length;
    const saved = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = "1";
    try {
      await expect(loadModel("acme/tiny-qwen", { endpoint, cacheDir: tempDir("hub-off") })).rejects.toMatchObject({ code: "ERR_OFFLINE" });
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = saved;
    }
    expect(requests.length).toBe(before);
  });
});

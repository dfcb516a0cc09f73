// loadModel with a hub id: files come from a local HTTP server standing in for the Hub (never the internet)
// into a temporary Hugging Face cache; offline mode never touches the network.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel } from "../../lib/index.js";
import { makeGenerateCommand } from "../../lib/cli/commands/generate.js";
import { copyModel, expectCode, referenceDir, repoRoot, tempDir } from "../helpers.js";
import { runCommand } from "../helpers/cli.js";

const source = referenceDir("qwen2");
/** Repos the local "Hub" serves. */
const REPOS: Record<string, string> = { "acme/tiny-qwen": source, "acme/tiny-bundle": path.join(repoRoot, "test/fixtures/torchscript/gpt2") };
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** A local "Hub" on a free loopback port serving REPOS; `requests` collects the URLs it is asked for. */
async function serveHub(requests: string[]): Promise<{ server: http.Server; endpoint: string }> {
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    const m = /^\/(acme\/[\w-]+)\/resolve\/main\/(.+)$/.exec(req.url ?? "");
    const dir = m ? REPOS[m[1]!] : undefined;
    if (!m || !dir || !readdirSync(dir).includes(m[2]!)) {
      res.writeHead(404).end("not found");
      return;
    }
    const body = readFileSync(path.join(dir, m[2]!));
    const etag = createHash("sha1").update(body).digest("hex"); // the Hub's etag for small files: the git blob sha1
    res.writeHead(200, { "x-repo-commit": COMMIT, etag: `"${etag}"`, "content-length": body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("loadModel from the hub cache", () => {
  let server: http.Server;
  let endpoint: string;
  const requests: string[] = [];
  beforeAll(async () => {
    ({ server, endpoint } = await serveHub(requests));
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

describe("TorchScript bundles from the hub run code: trustRemoteCode", () => {
  let server: http.Server;
  let endpoint: string;
  const requests: string[] = [];
  beforeAll(async () => {
    ({ server, endpoint } = await serveHub(requests));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("refused with ERR_UNTRUSTED_CODE (the module never downloaded); loads with trustRemoteCode: true", async () => {
    const cacheDir = tempDir("hub-bundle");
    await expectCode(loadModel("acme/tiny-bundle", { endpoint, cacheDir, device: "cpu" }), "ERR_UNTRUSTED_CODE", "trustRemoteCode");
    expect(requests.some((r) => r.endsWith("/model.torchscript"))).toBe(false);
    await expectCode(loadModel("acme/tiny-bundle", { endpoint, cacheDir, device: "cpu", trustRemoteCode: "yes" as unknown as boolean }), "ERR_INVALID_OPTION", "trustRemoteCode");
    const model = await loadModel("acme/tiny-bundle", { endpoint, cacheDir, device: "cpu", trustRemoteCode: true, kind: "decoder-only" });
    try {
      expect(model.info.path).toBe(path.join(cacheDir, "models--acme--tiny-bundle", "snapshots", COMMIT));
      expect((await model.generate("He was", { maxNewTokens: 3 })).length).toBe(1);
    } finally {
      await model.dispose();
    }
    // From the cache, offline: still refused without the option.
    await expectCode(loadModel("acme/tiny-bundle", { cacheDir, device: "cpu", offline: true }), "ERR_UNTRUSTED_CODE", "acme/tiny-bundle");

    // The CLI: refused without --trust-remote-code, runs with it (the cache found through $HF_HUB_CACHE).
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cacheDir;
    try {
      await expectCode(runCommand(makeGenerateCommand, ["He was", "-m", "acme/tiny-bundle", "--offline", "--device", "cpu", "--max-new-tokens", "2"]), "ERR_UNTRUSTED_CODE", "trustRemoteCode");
      const { stdout } = await runCommand(makeGenerateCommand, ["He was", "-m", "acme/tiny-bundle", "--offline", "--device", "cpu", "--max-new-tokens", "2", "--trust-remote-code"]);
      expect(stdout.startsWith("He was")).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = saved;
    }
  });
});

describe("sharded-index entries must stay in the model folder", () => {
  /** A copy of the qwen2 reference split as one shard named `shard` by its index (placed by `place`). */
  function sharded(shard: string, place: (dir: string, weights: string) => void): string {
    const dir = copyModel(source, "sharded");
    const bytes = readFileSync(path.join(dir, "model.safetensors"));
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString("utf8")) as Record<string, unknown>;
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: Object.fromEntries(names.map((n) => [n, shard])) }));
    place(dir, path.join(dir, "model.safetensors"));
    return dir;
  }

  it("a shard inside the folder loads", async () => {
    const dir = sharded("model-00001-of-00001.safetensors", (d, w) => renameSync(w, path.join(d, "model-00001-of-00001.safetensors")));
    const model = await loadModel(dir, { device: "cpu" });
    expect((await model.generate("He was", { maxNewTokens: 2 })).length).toBe(1);
    await model.dispose();
  });

  const outside = path.join(tempDir("outside"), "x.safetensors");
  for (const [what, shard, place] of [
    ["../x.safetensors", "../x.safetensors", (d: string, w: string) => renameSync(w, path.join(d, "..", "x.safetensors"))],
    ["an absolute path", outside, (_d: string, w: string) => renameSync(w, outside)],
    ["a symlink out of the folder", "link.safetensors", (d: string, w: string) => {
      const far = path.join(tempDir("far"), "w.safetensors");
      renameSync(w, far);
      symlinkSync(far, path.join(d, "link.safetensors"));
    }],
  ] as const) {
    it(`${what} -> ERR_BAD_CHECKPOINT before any weight is read`, async () => {
      const dir = sharded(shard, place);
      await expectCode(loadModel(dir, { device: "cpu" }), "ERR_BAD_CHECKPOINT", JSON.stringify(shard));
    });
  }
});

import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../lib/core/errors.js";
import { resolveDatasetParquetFiles } from "../../lib/dataset/hub-dataset.js";
import { checkWeightFiles, hubCacheDir, hubOffline, isHubId, resolveModelFiles } from "../../lib/hub/hub.js";
import { rejection } from "../helpers.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const STORIES = path.resolve(repoRoot, "../shared/fixtures/hf-stories260K");
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const STORIES_FILES = [
  "config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
  "model.safetensors",
];

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const sha1 = (b: Buffer) => createHash("sha1").update(b).digest("hex");

interface FakeHub {
  endpoint: string;
  /** Paths requested so far. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A fake Hub serving `files` at /org/tiny/resolve/main/<file>. Like the real Hub, `*.safetensors` files are "LFS":
 * a 302 to /cdn/<sha256> carrying x-repo-commit and x-linked-etag; other files answer 200 with a quoted etag.
 * `dropAfter` names a file whose body is cut off halfway (connection destroyed).
 */
async function fakeHub(files: Map<string, Buffer>, opts: { dropAfter?: string } = {}): Promise<FakeHub> {
  const requests: string[] = [];
  const blobs = new Map([...files.values()].map((b) => [sha256(b), b]));
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url ?? "");
    requests.push(url);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url);
    if (cdn && blobs.has(cdn[1]!)) {
      const body = blobs.get(cdn[1]!)!;
      res.writeHead(200, { "content-length": body.length });
      res.end(body);
      return;
    }
    const m = /^\/org\/tiny\/resolve\/main\/(.+)$/.exec(url);
    const body = m ? files.get(m[1]!) : undefined;
    if (!m || !body) {
      res.writeHead(404, m ? { "x-repo-commit": COMMIT, "x-error-code": "EntryNotFound" } : {});
      res.end("not found");
      return;
    }
    const file = m[1]!;
    if (file.endsWith(".safetensors")) {
      const h = sha256(body);
      res.writeHead(302, { location: `/cdn/${h}`, "x-repo-commit": COMMIT, "x-linked-etag": `"${h}"`, etag: '"ignored"' });
      res.end();
      return;
    }
    res.writeHead(200, { "content-length": body.length, "x-repo-commit": COMMIT, etag: `"${sha1(body)}"` });
    if (file === opts.dropAfter) {
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function storiesFiles(): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const f of STORIES_FILES) m.set(f, await readFile(path.join(STORIES, f)));
  return m;
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function tempCache(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "inseq-hub-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startHub(files: Map<string, Buffer>, opts?: { dropAfter?: string }): Promise<FakeHub> {
  const hub = await fakeHub(files, opts);
  cleanups.push(() => hub.close());
  return hub;
}

const throwingFetch = (() => {
  throw new Error("fetch must not be called");
}) as unknown as typeof fetch;

/** Every file name under dir, recursively, relative to dir. */
async function listAll(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((e) => e.split(path.sep).join("/")).sort();
}

describe("hub helpers", () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ["HF_HUB_CACHE", "HF_HOME", "HF_HUB_OFFLINE"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it("isHubId", () => {
    for (const ok of ["gpt2", "org/name", "EleutherAI/pythia-70m", "a.b/c_d-e"]) expect(isHubId(ok)).toBe(true);
    for (const bad of ["", "./model", "/abs/path", "a/b/c", "a--b/c", "a/..", "org/-x", "x y", "a\\b"]) {
      expect(isHubId(bad)).toBe(false);
    }
  });

  it("hubCacheDir honours cacheDir, HF_HUB_CACHE, HF_HOME, then ~/.cache/huggingface/hub", () => {
    delete process.env.HF_HUB_CACHE;
    delete process.env.HF_HOME;
    expect(hubCacheDir({})).toBe(path.join(os.homedir(), ".cache", "huggingface", "hub"));
    process.env.HF_HOME = "/x/hf";
    expect(hubCacheDir({})).toBe(path.join("/x/hf", "hub"));
    process.env.HF_HUB_CACHE = "/y/cache";
    expect(hubCacheDir({})).toBe("/y/cache");
    expect(hubCacheDir({ cacheDir: "/z" })).toBe("/z");
  });

  it("hubOffline reads HF_HUB_OFFLINE unless overridden", () => {
    delete process.env.HF_HUB_OFFLINE;
    expect(hubOffline({})).toBe(false);
    for (const v of ["1", "true", "YES", "on"]) {
      process.env.HF_HUB_OFFLINE = v;
      expect(hubOffline({})).toBe(true);
    }
    process.env.HF_HUB_OFFLINE = "0";
    expect(hubOffline({})).toBe(false);
    expect(hubOffline({ offline: true })).toBe(true);
  });
});

describe("resolveModelFiles", () => {
  it("downloads into the standard cache layout, then serves from the cache without requests", async () => {
    const files = await storiesFiles();
    const hub = await startHub(files);
    const cache = await tempCache();
    const progress: string[] = [];
    const snap = await resolveModelFiles("org/tiny", {
      cacheDir: cache,
      endpoint: hub.endpoint,
      onProgress: (p) => progress.push(p.file),
    });
    const repo = path.join(cache, "models--org--tiny");
    expect(snap).toBe(path.join(repo, "snapshots", COMMIT));
    expect(await readFile(path.join(repo, "refs", "main"), "utf8")).toBe(COMMIT);

    for (const [name, body] of files) {
      const link = path.join(snap, name);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
      const target = await readlink(link);
      expect(target.startsWith(`..${path.sep}..${path.sep}blobs${path.sep}`)).toBe(true);
      expect(path.dirname(await realpath(link))).toBe(await realpath(path.join(repo, "blobs")));
      expect(Buffer.compare(await readFile(link), body)).toBe(0);
    }
    // Blob names: git sha1 etag for small files, the LFS sha256 (x-linked-etag) for safetensors.
    const blobs = await readdir(path.join(repo, "blobs"));
    expect(blobs).toContain(sha256(files.get("model.safetensors")!));
    expect(blobs).toContain(sha1(files.get("config.json")!));
    expect(blobs.some((b) => b.endsWith(".incomplete"))).toBe(false);
    expect(progress).toContain("model.safetensors");
    expect(hub.requests).toContain(`/cdn/${sha256(files.get("model.safetensors")!)}`);

    const before = hub.requests.length;
    expect(await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint })).toBe(snap);
    expect(hub.requests.length).toBe(before);
    // Also offline, and by commit hash.
    expect(await resolveModelFiles("org/tiny", { cacheDir: cache, offline: true, fetch: throwingFetch })).toBe(snap);
    expect(await resolveModelFiles("org/tiny", { cacheDir: cache, revision: COMMIT, fetch: throwingFetch })).toBe(snap);
  });

  it("absent optional files are fine, and their absence is cached (.no_exist)", async () => {
    const files = await storiesFiles();
    files.delete("generation_config.json");
    files.delete("special_tokens_map.json");
    const hub = await startHub(files);
    const cache = await tempCache();
    const snap = await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint });
    expect((await readdir(snap)).sort()).toEqual(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    const before = hub.requests.length;
    await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint });
    expect(hub.requests.length).toBe(before);
  });

  it("offline with an empty cache -> ERR_OFFLINE, never calling fetch", async () => {
    const cache = await tempCache();
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, offline: true, fetch: throwingFetch }));
    expect(err.code).toBe(ErrorCode.OFFLINE);
    expect(err.message).toContain("org/tiny");
    expect(err.message).toContain("config.json");
    expect(err.message).toContain(cache);
    expect(err.message).toContain("HF_HUB_OFFLINE");
  });

  it("HF_HUB_OFFLINE=1 behaves the same", async () => {
    const cache = await tempCache();
    const saved = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = "1";
    try {
      const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, fetch: throwingFetch }));
      expect(err.code).toBe(ErrorCode.OFFLINE);
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = saved;
    }
  });

  it("offline with a partial cache names the missing file", async () => {
    const files = await storiesFiles();
    const hub = await startHub(files);
    const cache = await tempCache();
    const snap = await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint });
    await rm(path.join(snap, "tokenizer.json"));
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, offline: true, fetch: throwingFetch }));
    expect(err.code).toBe(ErrorCode.OFFLINE);
    expect(err.message).toContain("tokenizer.json");
    expect(err.message).toContain(snap);
    // Online again: only the missing file is fetched.
    const before = hub.requests.length;
    await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint });
    expect(hub.requests.slice(before)).toEqual(["/org/tiny/resolve/main/tokenizer.json"]);
  });

  it("sharded checkpoints: downloads the index and every shard", async () => {
    const files = await storiesFiles();
    files.delete("model.safetensors");
    const shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
    files.set(shards[0]!, Buffer.from("shard one"));
    files.set(shards[1]!, Buffer.from("shard two"));
    const index = { metadata: { total_size: 18 }, weight_map: { "a.weight": shards[0], "b.weight": shards[1], "c.weight": shards[0] } };
    files.set("model.safetensors.index.json", Buffer.from(JSON.stringify(index)));
    const hub = await startHub(files);
    const cache = await tempCache();
    const snap = await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint });
    expect(await readFile(path.join(snap, shards[0]!), "utf8")).toBe("shard one");
    expect(await readFile(path.join(snap, shards[1]!), "utf8")).toBe("shard two");
    expect(await listAll(snap)).toContain("model.safetensors.index.json");
    const before = hub.requests.length;
    await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint });
    expect(hub.requests.length).toBe(before);
  });

  it("404 on config.json -> ERR_NOT_FOUND naming repo and file", async () => {
    const files = await storiesFiles();
    files.delete("config.json");
    const hub = await startHub(files);
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: await tempCache(), endpoint: hub.endpoint }));
    expect(err.code).toBe(ErrorCode.NOT_FOUND);
    expect(err.message).toContain("org/tiny");
    expect(err.message).toContain("config.json");
  });

  it("no weights at all -> ERR_NOT_FOUND", async () => {
    const files = await storiesFiles();
    files.delete("model.safetensors");
    const hub = await startHub(files);
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: await tempCache(), endpoint: hub.endpoint }));
    expect(err.code).toBe(ErrorCode.NOT_FOUND);
    expect(err.message).toContain("model.safetensors");
  });

  it("Marian repos without tokenizer.json: source.spm / target.spm + vocab.json instead; neither -> ERR_NOT_FOUND", async () => {
    const files = await storiesFiles();
    files.delete("tokenizer.json");
    files.set("source.spm", Buffer.from("spm-source"));
    files.set("target.spm", Buffer.from("spm-target"));
    files.set("vocab.json", Buffer.from("{}"));
    const hub = await startHub(files);
    const snap = await resolveModelFiles("org/tiny", { cacheDir: await tempCache(), endpoint: hub.endpoint });
    expect(await readdir(snap)).toEqual(expect.arrayContaining(["source.spm", "target.spm", "vocab.json", "model.safetensors"]));
    files.delete("source.spm");
    const hub2 = await startHub(files);
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: await tempCache(), endpoint: hub2.endpoint }));
    expect(err.code).toBe(ErrorCode.NOT_FOUND);
    expect(err.message).toContain("source.spm");
  });

  it("401/403 -> ERR_NETWORK about auth/gated repos, sending the token", async () => {
    let auth: string | undefined;
    const server = http.createServer((req, res) => {
      auth = req.headers.authorization;
      res.writeHead(401);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: await tempCache(), endpoint, token: "hf_secret" }));
    expect(err.code).toBe(ErrorCode.NETWORK);
    expect(err.message).toMatch(/gated/);
    expect(err.message).toMatch(/HF_TOKEN/);
    expect(auth).toBe("Bearer hf_secret");
  });

  it("connection refused -> ERR_NETWORK with the cause", async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise<void>((r) => server.close(() => r()));
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: await tempCache(), endpoint }));
    expect(err.code).toBe(ErrorCode.NETWORK);
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("a connection dropped mid-body rejects and leaves no file under a final name", async () => {
    const files = await storiesFiles();
    const hub = await startHub(files, { dropAfter: "tokenizer.json" });
    const cache = await tempCache();
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint }));
    expect(err.code).toBe(ErrorCode.NETWORK);
    expect(err.message).toContain("tokenizer.json");
    const repo = path.join(cache, "models--org--tiny");
    const all = await listAll(repo);
    const tokBlob = sha1(files.get("tokenizer.json")!);
    expect(all).not.toContain(`blobs/${tokBlob}`);
    expect(all).not.toContain(`snapshots/${COMMIT}/tokenizer.json`);
    for (const f of all.filter((f) => f.startsWith("blobs/"))) {
      // Whatever is left in blobs/ is either complete (config.json, fetched before) or marked .incomplete.
      expect(f === `blobs/${sha1(files.get("config.json")!)}` || f.endsWith(".incomplete")).toBe(true);
    }
  });

  it("rejects invalid ids and revisions with ERR_INVALID_OPTION", async () => {
    const cache = await tempCache();
    expect((await rejection(resolveModelFiles("../etc", { cacheDir: cache, fetch: throwingFetch }))).code).toBe(
      ErrorCode.INVALID_OPTION,
    );
    expect(
      (await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, revision: "../x", fetch: throwingFetch }))).code,
    ).toBe(ErrorCode.INVALID_OPTION);
  });
});

/** A loopback server answering with `handler`; records each request's path and Authorization header. */
async function startServer(handler: (url: string, res: http.ServerResponse) => void): Promise<{ endpoint: string; seen: Array<{ url: string; auth: string | undefined }> }> {
  const seen: Array<{ url: string; auth: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? "", auth: req.headers.authorization });
    handler(req.url ?? "", res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** Small made-up repo files (the hub code never parses weights). */
function tinyRepo(): Map<string, Buffer> {
  return new Map([
    ["config.json", Buffer.from('{"model_type": "llama"}')],
    ["tokenizer.json", Buffer.from('{"model": {}}')],
    ["model.safetensors", Buffer.from("not really weights")],
  ]);
}

describe("the token never leaves the endpoint's origin (one helper for models and datasets)", () => {
  const DS_COMMIT = "fedcba9876543210fedcba9876543210fedcba98";
  const parquet = Buffer.from("PAR1 fake parquet PAR1");
  const entry = (name: string) => ({ type: "file", oid: sha1(parquet), size: parquet.length, path: `default/train/${name}`, lfs: { oid: sha256(parquet), size: parquet.length } });

  it("dataset listings: a Link rel=next page on another origin is fetched without the Authorization header", async () => {
    const other = await startServer((url, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify([entry("0001.parquet")]));
    });
    const hub = await startServer((url, res) => {
      if (url === "/api/datasets/org/ds/revision/refs%2Fconvert%2Fparquet") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ sha: DS_COMMIT }));
      }
      if (url === `/api/datasets/org/ds/tree/${DS_COMMIT}/default/train`) {
        res.writeHead(200, { "content-type": "application/json", link: `<${other.endpoint}/page2>; rel="next"` });
        return res.end(JSON.stringify([entry("0000.parquet")]));
      }
      if (url.startsWith(`/datasets/org/ds/resolve/${DS_COMMIT}/default/train/`)) {
        res.writeHead(200, { "content-length": parquet.length });
        return res.end(parquet);
      }
      res.writeHead(404).end();
    });
    const files = await resolveDatasetParquetFiles("org/ds", { split: "train", cacheDir: await tempCache(), endpoint: hub.endpoint, token: "hf_secret", offline: false });
    expect(files.map((f) => path.basename(f))).toEqual(["0000.parquet", "0001.parquet"]);
    expect(other.seen.map((s) => s.url)).toEqual(["/page2"]);
    expect(other.seen[0]!.auth).toBeUndefined();
    expect(hub.seen.length).toBeGreaterThan(0);
    for (const s of hub.seen) expect(s.auth, s.url).toBe("Bearer hf_secret");
  });

  it("model downloads: a redirect to another origin drops the token, the endpoint keeps it", async () => {
    const files = tinyRepo();
    const other = await startServer((url, res) => {
      const body = files.get(url.slice(1))!;
      res.writeHead(200, { "content-length": body.length });
      res.end(body);
    });
    const hub = await startServer((url, res) => {
      const name = /^\/org\/tiny\/resolve\/main\/(.+)$/.exec(url)?.[1];
      const body = name ? files.get(name) : undefined;
      if (!body) return res.writeHead(404, { "x-repo-commit": COMMIT }).end();
      res.writeHead(302, { location: `${other.endpoint}/${name}`, "x-repo-commit": COMMIT, etag: `"${sha1(body)}"` }).end();
    });
    const snap = await resolveModelFiles("org/tiny", { cacheDir: await tempCache(), endpoint: hub.endpoint, token: "hf_secret" });
    expect(await readFile(path.join(snap, "config.json"), "utf8")).toBe('{"model_type": "llama"}');
    expect(other.seen.length).toBe(3);
    for (const s of other.seen) expect(s.auth, s.url).toBeUndefined();
    for (const s of hub.seen) expect(s.auth, s.url).toBe("Bearer hf_secret");
  });
});

describe("blob names are hex digests (git sha1 or sha256)", () => {
  for (const etag of [".", "..", "a".repeat(50), "ABCDEF0123456789ABCDEF0123456789ABCDEF01", "x"]) {
    it(`model download with etag ${JSON.stringify(etag.length > 8 ? `${etag.slice(0, 8)}…` : etag)} -> ERR_NETWORK, nothing cached under that name`, async () => {
      const files = tinyRepo();
      const hub = await startServer((url, res) => {
        const name = /^\/org\/tiny\/resolve\/main\/(.+)$/.exec(url)?.[1];
        const body = name ? files.get(name) : undefined;
        if (!body) return res.writeHead(404, { "x-repo-commit": COMMIT }).end();
        res.writeHead(200, { "content-length": body.length, "x-repo-commit": COMMIT, etag: `"${etag}"` }).end(body);
      });
      const cache = await tempCache();
      const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint }));
      expect(err.code).toBe(ErrorCode.NETWORK);
      expect(err.message).toContain("etag");
      const repo = path.join(cache, "models--org--tiny");
      expect((await listAll(repo)).filter((f) => !f.startsWith(".no_exist"))).toEqual([]);
    });
  }

  it("model downloads accept sha1 (40 hex) and sha256 (64 hex) etags", async () => {
    const files = tinyRepo();
    const hub = await startHub(files); // sha1 etags for small files, sha256 x-linked-etag for safetensors
    const cache = await tempCache();
    await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint });
    const blobs = (await readdir(path.join(cache, "models--org--tiny", "blobs"))).sort();
    expect(blobs).toEqual([sha1(files.get("config.json")!), sha1(files.get("tokenizer.json")!), sha256(files.get("model.safetensors")!)].sort());
  });

  for (const oid of [".", "..", "a".repeat(50)]) {
    it(`dataset file with object id ${JSON.stringify(oid.length > 8 ? `${oid.slice(0, 8)}…` : oid)} and no LFS hash -> ERR_NETWORK`, async () => {
      const hub = await startServer((url, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify([{ type: "file", oid, size: 4, path: "default/train/0000.parquet" }]));
      });
      const err = await rejection(resolveDatasetParquetFiles("org/ds", { split: "train", revision: "fedcba9876543210fedcba9876543210fedcba98", cacheDir: await tempCache(), endpoint: hub.endpoint, offline: false }));
      expect(err.code).toBe(ErrorCode.NETWORK);
      expect(err.message).toContain("0000.parquet");
      expect(hub.seen.some((s) => s.url.includes("/resolve/"))).toBe(false);
    });
  }
});

describe("TorchScript bundles from the hub need trustRemoteCode", () => {
  const bundle = () => new Map([
    ["inseq_bundle.json", Buffer.from(JSON.stringify({ format: "inseq-torchscript-bundle", format_version: 1, model_kind: "decoder-only" }))],
    ["model.torchscript", Buffer.from("PK a TorchScript program")],
    ["tokenizer.json", Buffer.from('{"model": {}}')],
  ]);

  it("refused with ERR_UNTRUSTED_CODE before the module is downloaded, online and from the cache", async () => {
    const hub = await startHub(bundle());
    const cache = await tempCache();
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint }));
    expect(err.code).toBe(ErrorCode.UNTRUSTED_CODE);
    expect(err.message).toContain("org/tiny");
    expect(err.message).toContain("trustRemoteCode");
    expect(hub.requests.some((r) => r.endsWith("model.torchscript"))).toBe(false);

    const snap = await resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint, trustRemoteCode: true });
    expect((await readdir(snap)).sort()).toEqual(["inseq_bundle.json", "model.torchscript", "tokenizer.json"]);
    // Cached now: offline, still refused without the option.
    const cached = await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, offline: true, fetch: throwingFetch }));
    expect(cached.code).toBe(ErrorCode.UNTRUSTED_CODE);
    expect(await resolveModelFiles("org/tiny", { cacheDir: cache, offline: true, fetch: throwingFetch, trustRemoteCode: true })).toBe(snap);
  });
});

describe("sharded-index entries stay inside the model folder", () => {
  async function shardedDir(shard: string, extra?: (dir: string) => Promise<void>): Promise<string> {
    const dir = await tempCache();
    await writeFile(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "a.weight": "model-1.safetensors", "b.weight": shard } }));
    await writeFile(path.join(dir, "model-1.safetensors"), "shard");
    await extra?.(dir);
    return dir;
  }

  it("relative names inside the folder pass, also hub snapshots whose files link to ../../blobs", async () => {
    await expect(checkWeightFiles(await shardedDir("sub/model-2.safetensors"))).resolves.toBeUndefined();
    await expect(checkWeightFiles(await tempCache())).resolves.toBeUndefined(); // no index: nothing to check
    const files = tinyRepo();
    files.delete("model.safetensors");
    files.set("model-00001-of-00001.safetensors", Buffer.from("shard"));
    files.set("model.safetensors.index.json", Buffer.from(JSON.stringify({ weight_map: { "a.weight": "model-00001-of-00001.safetensors" } })));
    const hub = await startHub(files);
    const snap = await resolveModelFiles("org/tiny", { cacheDir: await tempCache(), endpoint: hub.endpoint });
    await expect(checkWeightFiles(snap)).resolves.toBeUndefined();
  });

  for (const [what, shard, extra] of [
    ["../ path", "../x.safetensors", undefined],
    ["absolute path", "/etc/passwd", undefined],
    ["backslash path", "..\\x.safetensors", undefined],
    ["symlink out of the folder", "link.safetensors", async (dir: string) => symlink("/etc/passwd", path.join(dir, "link.safetensors"))],
  ] as const) {
    it(`${what} -> ERR_BAD_CHECKPOINT naming the entry`, async () => {
      const err = await rejection(checkWeightFiles(await shardedDir(shard, extra)));
      expect(err.code).toBe(ErrorCode.BAD_CHECKPOINT);
      expect(err.message).toContain(JSON.stringify(shard));
      expect(err.message).toContain("model.safetensors.index.json");
    });
  }
});

describe("a full disk while downloading is ERR_DISK_FULL, not a network error", () => {
  // `<blob>.incomplete` made a link to /dev/full: every write to it fails with ENOSPC, as on a full disk.
  it("model files", async () => {
    const files = tinyRepo();
    const hub = await startHub(files);
    const cache = await tempCache();
    const blobs = path.join(cache, "models--org--tiny", "blobs");
    await mkdir(blobs, { recursive: true });
    await symlink("/dev/full", path.join(blobs, `${sha1(files.get("config.json")!)}.incomplete`));
    const err = await rejection(resolveModelFiles("org/tiny", { cacheDir: cache, endpoint: hub.endpoint }));
    expect(err.code).toBe(ErrorCode.DISK_FULL);
    expect(err.message).toContain("ENOSPC");
    expect(err.message).toContain(blobs);
    expect(await readdir(blobs)).toEqual([]); // the partial file (here: the link) is removed
  });

  it("dataset files", async () => {
    const parquet = Buffer.from("PAR1 fake parquet PAR1");
    const hub = await startServer((url, res) => {
      if (url.includes("/tree/")) {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify([{ type: "file", oid: sha1(parquet), size: parquet.length, path: "default/train/0000.parquet", lfs: { oid: sha256(parquet), size: parquet.length } }]));
      }
      res.writeHead(200, { "content-length": parquet.length }).end(parquet);
    });
    const cache = await tempCache();
    const blobs = path.join(cache, "datasets--org--ds", "blobs");
    await mkdir(blobs, { recursive: true });
    await symlink("/dev/full", path.join(blobs, `${sha256(parquet)}.incomplete`));
    const err = await rejection(resolveDatasetParquetFiles("org/ds", { split: "train", revision: "fedcba9876543210fedcba9876543210fedcba98", cacheDir: cache, endpoint: hub.endpoint, offline: false }));
    expect(err.code).toBe(ErrorCode.DISK_FULL);
    expect(err.message).toContain("ENOSPC");
  });
});

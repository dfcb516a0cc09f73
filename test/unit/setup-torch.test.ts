/**
 * `setupTorch()` / `inseq setup-torch` against a fake package index on 127.0.0.1 serving tiny fake wheels:
 * flavours, reuse, resumed and restarted downloads, integrity checks, index order and formats, proxies, the CLI.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { makeSetupTorchCommand } from "../../lib/cli/commands/setup-torch.js";
import { ProgressBar } from "../../lib/cli/progress.js";
import { ErrorCode, InseqError } from "../../lib/core/errors.js";
import { downloadFile } from "../../lib/torch/download.js";
import { INSTALL_MANIFEST, type InstallManifest, type LibtorchPin, type PinnedWheel } from "../../lib/torch/pin.js";
import { indexUrls, normalizeProjectName, parseHtmlPage, parseJsonPage } from "../../lib/torch/pypi-index.js";
import { setupTorch, type SetupTorchOptions, type SetupTorchProgress } from "../../lib/torch/setup.js";
import { ZipReader } from "../../lib/torch/zip.js";
import { expectCode, repoRoot, tempDir } from "../helpers.js";
import { deadPort, sha256, startFakeIndex, startLoopbackProxy, type FakeIndex, type ServedWheel } from "../helpers/wheel-index.js";
import { writeZip, type ZipInput } from "../helpers/zip-writer.js";

const text = (s: string) => Buffer.from(s, "utf8");

/** The fake wheels: entry contents, plus what the pin unpacks from each. */
const WHEELS: Array<{ name: string; file: string; entries: ZipInput[]; zip64?: boolean; pin: Pick<PinnedWheel, "cpu" | "cuda" | "dev"> }> = [
  {
    name: "torch",
    file: "torch-9.9.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    entries: [
      { name: "torch/__init__.py", data: text("import torch._C\n") },
      { name: "torch/version.py", data: text("__version__ = '9.9.0'\n") },
      { name: "torch/lib/libc10.so", data: randomBytes(4096), mode: 0o755 },
      { name: "torch/lib/libtorch_cpu.so", data: randomBytes(1 << 20), store: true, mode: 0o755 },
      { name: "torch/lib/libgomp.so.1", data: randomBytes(3000) },
      { name: "torch/lib/libtorch_cuda.so", data: randomBytes(8192) },
      { name: "torch/include/ATen/ATen.h", data: text("#pragma once\n") },
      { name: "torch/include/torch/script.h", data: text("#include <torch/csrc/api/include/torch/all.h>\n") },
      { name: "torch-9.9.0.dist-info/RECORD", data: text("torch/__init__.py,,\n") },
    ],
    pin: {
      cpu: ["torch/lib/libc10.so", "torch/lib/libtorch_cpu.so", "torch/lib/libgomp.so.1", "torch/version.py"],
      cuda: ["torch/lib/libtorch_cuda.so"],
      dev: ["torch/include/"],
    },
  },
  {
    name: "nvidia-cuda-runtime",
    file: "nvidia_cuda_runtime-13.0.1-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    entries: [
      { name: "nvidia/__init__.py", data: text("") },
      { name: "nvidia/cu13/lib/libcudart.so.13", data: randomBytes(5000) },
      { name: "nvidia/cu13/include/cuda_runtime.h", data: text("// cuda\n") },
    ],
    pin: { cpu: ["nvidia/cu13/lib/libcudart.so.13"] },
  },
  {
    name: "nvidia-cuda-cupti",
    file: "nvidia_cuda_cupti-13.0.1-py3-none-manylinux_2_25_x86_64.whl",
    entries: [
      { name: "nvidia/__init__.py", data: text("") },
      { name: "nvidia/cu13/lib/libcupti.so.13", data: randomBytes(2500) },
      { name: "nvidia/cu13/lib/libnvperf_host.so", data: randomBytes(1500) },
      { name: "nvidia/cu13/lib/libpcsamplingutil.so.13.2.1", data: randomBytes(700) },
      { name: "nvidia/cu13/include/cupti.h", data: text("// cupti\n") },
    ],
    pin: { cpu: ["nvidia/cu13/lib/libcupti.so.13"], cuda: ["nvidia/"] },
  },
  {
    name: "nvidia-cublas",
    file: "nvidia_cublas-13.1.0.3-py3-none-manylinux_2_27_x86_64.whl",
    zip64: true,
    entries: [
      { name: "nvidia/cu13/lib/libcublas.so.13", data: randomBytes(6000) },
      { name: "nvidia/cu13/lib/libcublasLt.so.13", data: randomBytes(9000), store: true },
      { name: "nvidia/cu13/include/cublas.h", data: text("// cublas\n") },
    ],
    pin: { cuda: ["nvidia/"] },
  },
];

const served: ServedWheel[] = WHEELS.map((w) => ({ name: w.name, file: w.file, bytes: writeZip(w.entries, { zip64: w.zip64 }) }));
const PIN: LibtorchPin = {
  torch: "9.9.0",
  cuda: "13.0",
  wheels: WHEELS.map((w, i) => ({ name: w.name, version: "1.0", file: w.file, size: served[i]!.bytes.length, sha256: sha256(served[i]!.bytes), ...w.pin })),
};
const TORCH = PIN.wheels[0]!.file;
const CUBLAS = PIN.wheels[3]!.file;
/** Entry name -> content, over all wheels. */
const CONTENT = new Map(WHEELS.flatMap((w) => w.entries.map((e) => [e.name, e.data] as const)));

const CPU_FILES = [
  "nvidia/cu13/lib/libcudart.so.13", "nvidia/cu13/lib/libcupti.so.13",
  "torch/lib/libc10.so", "torch/lib/libgomp.so.1", "torch/lib/libtorch_cpu.so", "torch/version.py",
];
const CUDA_FILES = [
  ...CPU_FILES, "nvidia/cu13/lib/libcublas.so.13", "nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cu13/lib/libnvperf_host.so",
  "nvidia/cu13/lib/libpcsamplingutil.so.13.2.1", "torch/lib/libtorch_cuda.so",
];
const DEV_FILES = ["torch/include/ATen/ATen.h", "torch/include/torch/script.h"];

/** Every file under `dir`, relative, sorted. */
function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(path.join(dir, f)).isFile()).sort();
}

/** Asserts `dir` holds exactly `expected` (plus the manifest), byte-identical to the wheel entries. */
function expectInstall(dir: string, expected: string[]): InstallManifest {
  expect(listFiles(dir)).toEqual([INSTALL_MANIFEST, ...expected].sort());
  for (const f of expected) expect(readFileSync(path.join(dir, f)).equals(CONTENT.get(f)!), f).toBe(true);
  return JSON.parse(readFileSync(path.join(dir, INSTALL_MANIFEST), "utf8")) as InstallManifest;
}

let index: FakeIndex;
let home: string;
const tmpRoots: string[] = [];

beforeAll(async () => {
  index = await startFakeIndex(served);
});
afterAll(async () => {
  await index.close();
  for (const d of tmpRoots) rmSync(d, { recursive: true, force: true });
});
afterEach(() => {
  index.requests.length = 0;
  Object.assign(index.behaviour, {
    html: false, pageStatus: undefined, ignoreRange: false, cutOnce: new Set(), stall: new Set(),
    listedSha256: new Map(), servedBytes: new Map(), unlisted: new Set(),
  });
  vi.restoreAllMocks();
});

/** A fresh INSEQ_HOME, and setupTorch options against the fake index with no proxy and no pip variables. */
function fresh(extra: Partial<SetupTorchOptions> = {}): SetupTorchOptions {
  home = tempDir("setup-torch");
  tmpRoots.push(home);
  return { pin: PIN, indexUrl: index.url, env: { INSEQ_HOME: home }, ...extra };
}

const installDir = (flavor: "cpu" | "cuda") => path.join(home, "libtorch", `9.9.0-${flavor}`);
const requestedWheels = () => index.fileRequests().map((r) => decodeURIComponent(r.url.slice("/files/".length)));

describe("setupTorch: flavours", () => {
  it("a CPU install fetches only torch, cuda-runtime and cupti and unpacks exactly the cpu entries", async () => {
    const progress: SetupTorchProgress[] = [];
    const result = await setupTorch(fresh({ onProgress: (p) => progress.push(p) }));
    expect(result.reused).toBe(false);
    expect(result.dir).toBe(installDir("cpu"));
    expect(requestedWheels().sort()).toEqual(PIN.wheels.slice(0, 3).map((w) => w.file).sort());
    const manifest = expectInstall(result.dir, CPU_FILES);
    expect(manifest).toEqual(result.manifest);
    expect(manifest).toMatchObject({ torch: "9.9.0", cuda: "13.0", flavor: "cpu", dev: false, files: CPU_FILES.length });
    expect(manifest.bytes).toBe(CPU_FILES.reduce((n, f) => n + CONTENT.get(f)!.length, 0));
    expect(manifest.wheels.map((w) => w.file)).toEqual(PIN.wheels.slice(0, 3).map((w) => w.file));
    expect(manifest.wheels[0]!.sha256).toBe(PIN.wheels[0]!.sha256);
    // Shared libraries keep their executable bit; the downloads are gone.
    expect(statSync(path.join(result.dir, "torch/lib/libc10.so")).mode & 0o100).toBe(0o100);
    expect(readdirSync(home)).toEqual(["libtorch"]);
    expect(readdirSync(path.join(home, "libtorch"))).toEqual(["9.9.0-cpu"]);
    // Progress: both phases end at their totals.
    const downloads = progress.filter((p) => p.phase === "download");
    const total = PIN.wheels.slice(0, 3).reduce((n, w) => n + w.size, 0);
    expect(downloads.at(-1)).toMatchObject({ overallDone: total, overallTotal: total });
    expect(downloads.every((p, i) => i === 0 || p.overallDone >= downloads[i - 1]!.overallDone)).toBe(true);
    expect(progress.filter((p) => p.phase === "extract").at(-1)).toMatchObject({ overallDone: manifest.bytes, overallTotal: manifest.bytes });
  });

  it("--cuda adds the cuda entries (every shared library under nvidia/, from a ZIP64 wheel too)", async () => {
    const result = await setupTorch(fresh({ cuda: true }));
    expect(result.dir).toBe(installDir("cuda"));
    expect(requestedWheels().sort()).toEqual(PIN.wheels.map((w) => w.file).sort());
    expect(expectInstall(result.dir, CUDA_FILES)).toMatchObject({ flavor: "cuda", dev: false });
  });

  it("--dev adds the headers; a later run without --dev reuses that install", async () => {
    const options = fresh({ dev: true });
    const result = await setupTorch(options);
    expect(expectInstall(result.dir, [...CPU_FILES, ...DEV_FILES]).dev).toBe(true);
    index.requests.length = 0;
    const again = await setupTorch({ ...options, dev: false });
    expect(again.reused).toBe(true);
    expect(index.requests).toEqual([]);
  });

  it("a second run makes no request; asking for --dev afterwards replaces the install with one with headers", async () => {
    const options = fresh({ keepDownloads: true });
    await setupTorch(options);
    expect(readdirSync(path.join(home, "downloads")).sort()).toEqual(PIN.wheels.slice(0, 3).map((w) => w.file).sort());
    index.requests.length = 0;
    const second = await setupTorch(options);
    expect(second.reused).toBe(true);
    expect(index.requests).toEqual([]);

    const dev = await setupTorch({ ...options, dev: true });
    expect(dev.reused).toBe(false);
    // The kept downloads are used: no wheel is fetched again, not even the index is asked.
    expect(index.requests).toEqual([]);
    expectInstall(dev.dir, [...CPU_FILES, ...DEV_FILES]);
    expect(readdirSync(path.join(home, "libtorch"))).toEqual(["9.9.0-cpu"]);
  });

  it("--dir installs into that directory; a non-empty directory that is not an install is refused untouched", async () => {
    const options = fresh();
    const dir = path.join(home, "custom", "lt");
    const result = await setupTorch({ ...options, dir });
    expect(result.dir).toBe(dir);
    expectInstall(dir, CPU_FILES);
    expect(existsSync(path.join(home, "libtorch"))).toBe(false);

    const other = path.join(home, "mine");
    mkdirSync(other);
    writeFileSync(path.join(other, "notes.txt"), "keep me");
    await expectCode(setupTorch({ ...options, dir: other }), ErrorCode.INVALID_OPTION, other);
    expect(readdirSync(other)).toEqual(["notes.txt"]);
  });

  it("a wheel that lacks a pinned path is refused and nothing is installed", async () => {
    const pin = structuredClone(PIN);
    pin.wheels[1]!.cpu = ["nvidia/cu13/lib/libcudart.so.99"];
    const options = fresh({ pin });
    await expectCode(setupTorch(options), ErrorCode.INTEGRITY, "nvidia/cu13/lib/libcudart.so.99");
    expect(readdirSync(path.join(home, "libtorch"))).toEqual([]);
  });
});

describe("setupTorch: downloads", () => {
  it("an interrupted download keeps a .part, and the next run resumes it with a Range request", async () => {
    const options = fresh();
    index.behaviour.cutOnce.add(TORCH);
    const url = `${index.url.replace(/\/simple$/, "")}/files/${TORCH}`;
    await expectCode(setupTorch(options), ErrorCode.NETWORK, url);
    const part = path.join(home, "downloads", `${TORCH}.part`);
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(PIN.wheels[0]!.size);
    expect(existsSync(installDir("cpu"))).toBe(false);

    index.requests.length = 0;
    const result = await setupTorch(options);
    const torchRequests = index.fileRequests().filter((r) => r.url.endsWith(TORCH));
    expect(torchRequests).toEqual([{ url: `/files/${TORCH}`, range: `bytes=${kept}-`, status: 206 }]);
    expectInstall(result.dir, CPU_FILES);
  });

  it("a server that ignores Range (200) restarts the file and still ends correct", async () => {
    const options = fresh();
    index.behaviour.cutOnce.add(TORCH);
    await expect(setupTorch(options)).rejects.toThrow();
    const kept = statSync(path.join(home, "downloads", `${TORCH}.part`)).size;
    index.behaviour.ignoreRange = true;
    const result = await setupTorch(options);
    expect(index.fileRequests().filter((r) => r.url.endsWith(TORCH)).at(-1)).toMatchObject({ range: `bytes=${kept}-`, status: 200 });
    expectInstall(result.dir, CPU_FILES);
  });

  it("bytes that do not match the sha256 are refused with ERR_INTEGRITY naming file, URL and both hashes", async () => {
    const options = fresh();
    const bad = Buffer.from(served[0]!.bytes);
    bad[bad.length >> 1] ^= 0xff;
    index.behaviour.servedBytes.set(TORCH, bad);
    const err = await setupTorch(options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InseqError);
    expect((err as InseqError).code).toBe(ErrorCode.INTEGRITY);
    for (const s of [TORCH, `/files/${TORCH}`, PIN.wheels[0]!.sha256, sha256(bad)]) expect((err as Error).message).toContain(s);
    expect(readdirSync(path.join(home, "downloads"))).toEqual([]);
    expect(readdirSync(home)).not.toContain("libtorch");
  });

  it("an index whose sha256 differs from the pinned one is refused before downloading", async () => {
    const options = fresh();
    index.behaviour.listedSha256.set(TORCH, "0".repeat(64));
    await expectCode(setupTorch(options), ErrorCode.INTEGRITY, PIN.wheels[0]!.sha256);
    expect(index.fileRequests()).toEqual([]);
    expect(existsSync(installDir("cpu"))).toBe(false);
  });

  it("an abort keeps the .part (ERR_ABORTED)", async () => {
    const controller = new AbortController();
    index.behaviour.stall.add(TORCH);
    const options = fresh({ signal: controller.signal, onProgress: (p) => p.done > 0 && controller.abort() });
    await expectCode(setupTorch(options), ErrorCode.ABORTED, TORCH);
    expect(statSync(path.join(home, "downloads", `${TORCH}.part`)).size).toBeGreaterThan(0);
  });

  it("downloadFile reuses a verified file without network and replaces a corrupt one", async () => {
    const dir = tempDir("download");
    tmpRoots.push(dir);
    const dest = path.join(dir, TORCH);
    const url = `${index.url.replace(/\/simple$/, "")}/files/${TORCH}`;
    const first = await downloadFile({ url, dest, size: PIN.wheels[0]!.size, sha256: PIN.wheels[0]!.sha256, env: {} });
    expect(first).toEqual({ path: dest, reused: false, resumed: false });
    index.requests.length = 0;
    const resolver = vi.fn(async () => url);
    expect(await downloadFile({ url: resolver, dest, size: PIN.wheels[0]!.size, sha256: PIN.wheels[0]!.sha256, env: {} })).toMatchObject({ reused: true });
    expect(resolver).not.toHaveBeenCalled();
    expect(index.requests).toEqual([]);
    writeFileSync(dest, Buffer.alloc(PIN.wheels[0]!.size));
    expect(await downloadFile({ url: resolver, dest, size: PIN.wheels[0]!.size, sha256: PIN.wheels[0]!.sha256, env: {} })).toMatchObject({ reused: false });
    expect(readFileSync(dest).equals(served[0]!.bytes)).toBe(true);
  });
});

describe("setupTorch: package indexes", () => {
  it("a port with nothing listening is ERR_NETWORK naming the URL", async () => {
    const dead = `http://127.0.0.1:${await deadPort()}/simple`;
    await expectCode(setupTorch(fresh({ indexUrl: dead })), ErrorCode.NETWORK, `${dead}/torch/`);
  });

  it("a 404 or a 500 page is ERR_NETWORK naming the page", async () => {
    index.behaviour.pageStatus = 404;
    await expectCode(setupTorch(fresh()), ErrorCode.NETWORK, `${index.url}/torch/`);
    index.behaviour.pageStatus = 500;
    await expectCode(setupTorch(fresh()), ErrorCode.NETWORK, `${index.url}/torch/ answered HTTP 500`);
  });

  it("PIP_INDEX_URL comes first, then PIP_EXTRA_INDEX_URL: a file only on the extra index is found there", async () => {
    const empty = await startFakeIndex(served);
    try {
      for (const w of served) empty.behaviour.unlisted.add(w.file);
      const options = fresh({ indexUrl: undefined });
      options.env = { ...options.env, PIP_INDEX_URL: empty.url, PIP_EXTRA_INDEX_URL: ` ${index.url}\n` };
      const result = await setupTorch(options);
      expectInstall(result.dir, CPU_FILES);
      expect(empty.requests.map((r) => r.url)).toEqual(["/simple/torch/", "/simple/nvidia-cuda-runtime/", "/simple/nvidia-cuda-cupti/"]);
      expect(requestedWheels()).toHaveLength(3);

      // Listed on both: the main index wins and the extra one is never asked.
      empty.behaviour.unlisted.clear();
      index.requests.length = 0;
      const again = fresh({ indexUrl: undefined });
      again.env = { ...again.env, PIP_INDEX_URL: empty.url, PIP_EXTRA_INDEX_URL: index.url };
      await setupTorch(again);
      expect(index.requests).toEqual([]);
      expect(empty.fileRequests()).toHaveLength(3);
    } finally {
      await empty.close();
    }
  });

  it("a file listed nowhere is ERR_NETWORK naming the indexes and the file", async () => {
    index.behaviour.unlisted.add(TORCH);
    const err = (await setupTorch(fresh({ extraIndexUrls: [] })).then(() => null, (e: unknown) => e)) as InseqError;
    expect(err.code).toBe(ErrorCode.NETWORK);
    expect(err.message).toContain(`${TORCH} is not listed on any package index`);
    expect(err.message).toContain(`${index.url}/torch/`);
    expect(index.fileRequests()).toEqual([]);
  });

  it("reads PEP 503 HTML pages (relative links, #sha256 fragments, entities)", async () => {
    index.behaviour.html = true;
    const result = await setupTorch(fresh());
    expectInstall(result.dir, CPU_FILES);
    const files = parseHtmlPage(
      `<a href="../../f/a-1.whl#sha256=${"AB".repeat(32)}">a-1.whl</a>\n<A HREF='https://h/x/b%2B1.whl?x=1&amp;y=2'></A>`,
      "https://idx/simple/a/",
    );
    expect(files).toEqual([
      { filename: "a-1.whl", url: "https://idx/f/a-1.whl", sha256: "ab".repeat(32) },
      { filename: "b+1.whl", url: "https://h/x/b%2B1.whl?x=1&y=2", sha256: undefined },
    ]);
  });

  it("parses PEP 691 JSON, normalizes names and splits PIP_EXTRA_INDEX_URL on whitespace", () => {
    expect(parseJsonPage(JSON.stringify({ files: [{ filename: "a.whl", url: "../a.whl#x", hashes: { sha256: "CD" }, size: 3 }] }), "http://i/s/a/")).toEqual([
      { filename: "a.whl", url: "http://i/s/a.whl", sha256: "cd", size: 3 },
    ]);
    expect(normalizeProjectName("Nvidia_CUDA..Runtime")).toBe("nvidia-cuda-runtime");
    expect(indexUrls({ env: {} })).toEqual(["https://pypi.org/simple"]);
    expect(indexUrls({ env: { PIP_INDEX_URL: "http://a/simple", PIP_EXTRA_INDEX_URL: "http://b  http://c\n" } })).toEqual(["http://a/simple", "http://b", "http://c"]);
  });
});

describe("setupTorch: robustness", () => {
  it("a temporary directory left by a killed run never counts as an install and is cleaned up", async () => {
    const options = fresh();
    const libtorch = path.join(home, "libtorch");
    const stale = path.join(libtorch, ".9.9.0-cpu.tmp-2147483600-deadbeef");
    mkdirSync(path.join(stale, "torch/lib"), { recursive: true });
    writeFileSync(path.join(stale, "torch/lib/libc10.so"), "half");
    // Not an install: the run downloads and unpacks, and the leftover is removed.
    const result = await setupTorch(options);
    expect(result.reused).toBe(false);
    expectInstall(result.dir, CPU_FILES);
    expect(readdirSync(libtorch)).toEqual(["9.9.0-cpu"]);
  });

  it("uses HTTP_PROXY (the proxy sees the requests) and skips it for NO_PROXY hosts", async () => {
    const proxy = await startLoopbackProxy();
    try {
      const options = fresh();
      options.env = { ...options.env, HTTP_PROXY: proxy.url };
      expectInstall((await setupTorch(options)).dir, CPU_FILES);
      const host = new URL(index.url).host;
      expect(proxy.seen.length).toBeGreaterThan(0);
      expect(proxy.seen.every((h) => h === host)).toBe(true);

      proxy.seen.length = 0;
      const direct = fresh();
      direct.env = { ...direct.env, http_proxy: proxy.url, NO_PROXY: "127.0.0.1" };
      expectInstall((await setupTorch(direct)).dir, CPU_FILES);
      expect(proxy.seen).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it("the zip reader checks CRC-32s", async () => {
    const dir = tempDir("zip");
    tmpRoots.push(dir);
    const file = path.join(dir, "bad.whl");
    writeFileSync(file, writeZip([{ name: "a.so", data: randomBytes(100), crc32: 1 }]));
    const zip = await ZipReader.open(file);
    try {
      expect(zip.entries.map((e) => e.name)).toEqual(["a.so"]);
      await expectCode(zip.extract(zip.entries[0]!, path.join(dir, "a.so")), ErrorCode.INTEGRITY, "a.so");
    } finally {
      await zip.close();
    }
  });
});

describe("inseq setup-torch", () => {
  /** Runs the command in-process with the fake pin, capturing stdout. */
  async function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
    let stdout = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
    try {
      await makeSetupTorchCommand({ pin: PIN, env }).exitOverride().parseAsync(args, { from: "user" });
    } finally {
      vi.mocked(process.stdout.write).mockRestore();
    }
    return stdout;
  }

  it("installs, prints where, and with --dir says to set INSEQ_LIBTORCH", async () => {
    const { env } = fresh();
    const dir = path.join(home, "lt");
    const out = await run(["--index-url", index.url, "--dir", dir], env!);
    expect(out).toContain(`Installed LibTorch 9.9.0 (cpu) in ${dir}`);
    expect(out).toContain(`INSEQ_LIBTORCH=${dir}`);
    expectInstall(dir, CPU_FILES);
    const json = JSON.parse(await run(["--index-url", index.url, "--dir", dir, "--json"], env!));
    expect(json).toMatchObject({ dir, reused: true, env: { INSEQ_LIBTORCH: dir }, manifest: { flavor: "cpu" } });
  });

  it("--extra-index-url is used after --index-url", async () => {
    const { env } = fresh();
    const dead = `http://127.0.0.1:${await deadPort()}/simple`;
    index.behaviour.pageStatus = 404;
    const err = (await run(["--index-url", index.url, "--extra-index-url", dead], env!).then(() => null, (e: unknown) => e)) as InseqError;
    expect(err.code).toBe(ErrorCode.NETWORK);
    expect(err.message).toContain(`${dead}/torch/`);
    expect(index.requests.map((r) => r.url)).toEqual(["/simple/torch/"]);
  });

  it("the built CLI exits 1 with ERR_NETWORK naming a dead --index-url", async () => {
    const entry = path.join(repoRoot, "dist/cli/commands/setup-torch.js");
    expect(existsSync(entry), "run `npm run build:ts` first").toBe(true);
    const dead = `http://127.0.0.1:${await deadPort()}/simple`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(https?_proxy|no_proxy|all_proxy|pip_.*)$/i.test(k)));
    fresh();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [path.join(repoRoot, "dist/cli/index.js"), "setup-torch", "--index-url", dead], { env: { ...env, INSEQ_HOME: home } }, (_err, _out, stderr) =>
        resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(code).toBe(1);
    expect(stderr).toContain("[ERR_NETWORK]");
    expect(stderr).toContain(`${dead}/torch/`);
    expect(existsSync(path.join(home, "libtorch"))).toBe(false);
  });

  it("ProgressBar shows byte counts as MB and MB/s, other units unchanged", () => {
    let out = "";
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
    new ProgressBar("downloading", { enabled: true, bytes: true }).update(5_000_000, 12_500_000, "B", "torch.whl");
    expect(out).toMatch(/downloading .* 5\.0\/12\.5 MB [\d.]+ MB\/s eta \S+ torch\.whl/);
    out = "";
    new ProgressBar("generating", { enabled: true }).update(3, 8, "tok");
    expect(out).toMatch(/ 3\/8 [\d.]+ tok\/s eta /);
  });
});

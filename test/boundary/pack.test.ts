// The path a user of the published package takes: npm pack, npm install of the tarball in an empty folder with
// no compiler reachable, LibTorch only from `inseq setup-torch` (the cache scripts/setup.sh filled), then the CLI
// and the library. Also the two CUDA-less cases of one prebuilt addon: libtorch_cuda.so present without the CUDA
// libraries it needs, and the whole CUDA install on a machine without a GPU.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

import { libtorchInstallDir, libtorchPin } from "../../lib/torch/pin.js";
import { repoRoot, tempDir } from "../helpers.js";

const platform = `${process.platform}-${process.arch}`;
const pinned = libtorchPin().torch;
const cpuInstall = libtorchInstallDir(pinned, "cpu");
const cudaInstall = libtorchInstallDir(pinned, "cuda");
const COMPILERS = ["cc", "c++", "gcc", "g++", "clang", "clang++", "cmake", "ninja", "make", "node-gyp"];

let app = "";
let files = "";
let compilerLog = "";
// The consumer's environment: none of our development overrides, no compiler on PATH.
let env: NodeJS.ProcessEnv = {};

/** Runs a module script in the app folder; returns its last stdout line parsed as JSON. */
function runInApp(script: string, extraEnv: NodeJS.ProcessEnv = {}): any {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: app, encoding: "utf8", env: { ...env, ...extraEnv } });
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

const PROBE = `
  import { readFileSync } from "node:fs";
  import { loadModel, runtimeInfo } from "inseq";
  const model = await loadModel("default", { device: "auto" });
  const [text] = await model.generate("the doctor , a woman from the hospital , said that", { maxNewTokens: 6 });
  const out = await model.attribute("the nurse , a man ,", { method: "saliency", generationArgs: { maxNewTokens: 3 } });
  const maps = readFileSync("/proc/self/maps", "utf8").split("\\n").map((l) => l.slice(l.indexOf("/"))).filter((f) => /lib(torch|c10)/.test(f));
  const info = runtimeInfo();
  console.log(JSON.stringify({ info, text, device: model.info.device, shape: out.sequenceAttributions[0].targetAttributions.shape, maps: [...new Set(maps)] }));
  await model.dispose();`;

beforeAll(() => {
  for (const dir of [cpuInstall, cudaInstall]) {
    if (!existsSync(path.join(dir, "inseq-libtorch.json"))) {
      throw new Error(`${dir} is missing: scripts/setup.sh --tests installs LibTorch with inseq setup-torch (--dev, and --cuda for these tests)`);
    }
  }
  const packDir = tempDir("pack");
  // The prepack hook (tsc + prebuild copy) would rewrite dist/ under the feet of tests running in parallel:
  // run its prebuild half here and pack without scripts (dist/ is already built by npm run build).
  execFileSync(process.execPath, [path.join(repoRoot, "scripts/make-prebuild.mjs")], { cwd: repoRoot, stdio: "pipe" });
  execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", packDir], { cwd: repoRoot, stdio: "pipe" });
  const tarball = path.join(packDir, readdirSync(packDir).find((f) => f.endsWith(".tgz"))!);
  files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" });

  // Every compiler and build tool on PATH is a shim that records its call and fails.
  const shims = tempDir("no-compiler");
  compilerLog = path.join(shims, "calls.log");
  for (const tool of COMPILERS) {
    writeFileSync(path.join(shims, tool), `#!/bin/sh\necho "${tool} $*" >> "${compilerLog}"\nexit 1\n`, { mode: 0o755 });
  }
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(INSEQ_LIBTORCH|INSEQ_ADDON_DIR|PREBUILDS_ONLY|LD_LIBRARY_PATH|LD_PRELOAD)$/.test(k)));
  env = { ...clean, PATH: `${shims}:${process.env.PATH}`, INSEQ_PYTHON: "/nonexistent/python3" };

  app = tempDir("app");
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--foreground-scripts", tarball], { cwd: app, stdio: "pipe", env });
});

describe("published package", () => {
  it("ships the prebuilt addon, its loader, its build facts and the LibTorch pin, and installs without a compiler", () => {
    for (const f of ["inseq.napi.node", "inseq-loader.napi.node", "inseq.build.json"]) expect(files).toContain(`package/prebuilds/${platform}/${f}`);
    expect(files).toContain("package/libtorch.json");
    expect(files).toContain("package/models/default/model.safetensors");
    expect(files).toContain("package/dist/cli/index.js");
    // The exporter the unsupported-model error names (lib/models/model-types.ts), runnable from the install.
    for (const f of ["tools/export-torchscript", "tools/export_torchscript.py"]) expect(files).toContain(`package/${f}`);
    expect(statSync(path.join(app, "node_modules/inseq/tools/export-torchscript")).mode & 0o111).not.toBe(0);
    expect(files).not.toContain("package/build/");
    expect(existsSync(compilerLog), "a compiler or build tool ran during npm install").toBe(false);
    expect(existsSync(path.join(app, "node_modules/inseq/build"))).toBe(false);
    const readelf = execFileSync("readelf", ["-d", path.join(app, "node_modules/inseq/prebuilds", platform, "inseq.napi.node")], { encoding: "utf8" });
    expect(readelf).toContain("[libtorch_cpu.so]");
    expect(readelf).not.toMatch(/RPATH|RUNPATH/); // LibTorch is found at run time, never through a build machine's path
  });

  it("needs at most glibc 2.28 (as PyPI's manylinux_2_28 torch wheel) and libstdc++ GLIBCXX_3.4.21 (GCC 5)", () => {
    const newest = (file: string, prefix: string) => {
      const versions = execFileSync("objdump", ["-T", file], { encoding: "utf8" }).match(new RegExp(`\\b${prefix}_[0-9.]+`, "g")) ?? [];
      return versions.map((v) => v.slice(prefix.length + 1).split(".").map(Number)).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || (a[2] ?? 0) - (b[2] ?? 0)).at(-1)!;
    };
    for (const f of ["inseq.napi.node", "inseq-loader.napi.node"]) {
      const file = path.join(app, "node_modules/inseq/prebuilds", platform, f);
      const glibc = newest(file, "GLIBC");
      expect(glibc[0] * 100 + glibc[1]!, `${f} needs glibc ${glibc.join(".")}`).toBeLessThanOrEqual(228);
      const glibcxx = newest(file, "GLIBCXX");
      expect(glibcxx.join("."), f).toMatch(/^3\.4(\.([0-9]|1[0-9]|2[01]))?$/);
    }
  });

  it("generates and attributes from the CLI and the library with the setup-torch LibTorch only", () => {
    const bin = path.join(app, "node_modules/.bin/inseq");
    const gen = execFileSync(bin, ["generate", "--max-new-tokens", "4", "mary went to"], { cwd: app, encoding: "utf8", env });
    expect(gen.startsWith("mary went to ")).toBe(true);
    const attr = execFileSync(bin, ["attribute", "-i", "the nurse , a man ,", "-a", "saliency", "--generation-kwargs", '{"max_new_tokens": 2}', "-o", "out.json", "--hide"], { cwd: app, encoding: "utf8", env });
    expect(attr).toBe("");
    expect(JSON.parse(readFileSync(path.join(app, "out.json"), "utf8")).attributes.sequence_attributions).toHaveLength(1);

    const r = runInApp(PROBE);
    expect(r.text).toBe("the doctor , a woman from the hospital , said that she was angry .");
    expect(r.shape[1]).toBe(3);
    expect(r.info.addon).toMatchObject({ kind: "prebuild", path: path.join(app, "node_modules/inseq/prebuilds", platform, "inseq.napi.node") });
    expect(r.info.torchVersion.startsWith("2.")).toBe(true);
    expect(r.info.torchVersion).toBe(pinned);
    expect(r.info.libtorch).toMatchObject({ source: "setup-torch cache", libDir: path.join(cpuInstall, "torch/lib") });
    // The process maps LibTorch from the setup-torch cache and nothing of Debian's (libtorch_cpu.so.1.13 in /usr/lib).
    expect(r.maps).toContain(path.join(cpuInstall, "torch/lib/libtorch_cpu.so"));
    expect(r.maps.filter((f: string) => !f.startsWith(cpuInstall))).toEqual([]);
    expect(r.info.cuda).toBe(false);
    expect(r.info.cudaReason).toMatch(/no libtorch_cuda\.so/);
    expect(r.device).toBe("cpu");
  });

  it("with libtorch_cuda.so but not the CUDA libraries it needs: loads, says which library is missing, runs on CPU", () => {
    // The torch wheel's libraries with only the two nvidia-* libraries libtorch_cpu needs (cudart, cupti).
    const root = tempDir("libtorch-no-cuda-libs");
    mkdirSync(path.join(root, "torch/lib"), { recursive: true });
    mkdirSync(path.join(root, "nvidia/cu13/lib"), { recursive: true });
    for (const f of readdirSync(path.join(cudaInstall, "torch/lib"))) symlinkSync(path.join(cudaInstall, "torch/lib", f), path.join(root, "torch/lib", f));
    for (const f of ["libcudart.so.13", "libcupti.so.13"]) symlinkSync(path.join(cudaInstall, "nvidia/cu13/lib", f), path.join(root, "nvidia/cu13/lib", f));
    symlinkSync(path.join(cudaInstall, "torch/version.py"), path.join(root, "torch/version.py"));
    const r = runInApp(PROBE, { INSEQ_LIBTORCH: root });
    expect(r.info.libtorch).toMatchObject({ source: "INSEQ_LIBTORCH", hasCudaLibraries: true });
    expect(r.info.cuda).toBe(false);
    expect(r.info.torchCuda).toBe(false);
    expect(r.info.cudaReason).toMatch(/^libtorch_cuda\.so could not be loaded: lib[\w.]+\.so[.\d]*: cannot open shared object file/);
    expect(r.info.cudaRuntimeVersion).toBe(libtorchPin().cuda);
    expect(r.device).toBe("cpu");
    expect(r.text).toBe("the doctor , a woman from the hospital , said that she was angry .");
  });

  it("with the whole CUDA install on a machine without a GPU: loads the CUDA libraries, reports no visible GPU, runs on CPU", () => {
    const r = runInApp(PROBE, { INSEQ_LIBTORCH: cudaInstall });
    expect(r.info.libtorch).toMatchObject({ source: "INSEQ_LIBTORCH", libDir: path.join(cudaInstall, "torch/lib") });
    expect(r.info.torchCuda).toBe(true);
    expect(r.maps).toContain(path.join(cudaInstall, "torch/lib/libtorch_cuda.so"));
    expect(r.info.cuda).toBe(false);
    expect(r.info.cudaReason).toMatch(/^no visible GPU/);
    expect(r.device).toBe("cpu");
    expect(r.text).toBe("the doctor , a woman from the hospital , said that she was angry .");
    // "cuda" asked for explicitly is a clear error naming why.
    const err = runInApp(`
      import { loadModel } from "inseq";
      try { await loadModel("default", { device: "cuda" }); console.log(JSON.stringify({})); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`, { INSEQ_LIBTORCH: cudaInstall });
    expect(err.code).toBe("ERR_DEVICE");
    expect(err.message).toMatch(/CUDA is unavailable \(no visible GPU/);
  });
});

// The run-time LibTorch lookup (lib/native/libtorch.ts) on fake LibTorch directories: order, version checks,
// layouts, and the explicit INSEQ_LIBTORCH never being replaced by another LibTorch. No addon is loaded.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { detectLibtorchVersion, findLibtorch, nvidiaDriverPresent, type AddonBuildInfo } from "../../lib/native/libtorch.js";
import { libtorchInstallDir } from "../../lib/torch/pin.js";
import { tempDir } from "../helpers.js";

const build: AddonBuildInfo = { torch: "2.15.0", libtorchSoname: "libtorch_cpu.so", builtAgainst: "test", compiler: "GNU 12", cxxStandard: 20 };

/** A fake LibTorch: `<root>/<libSub>/{libc10.so, libtorch_cpu.so}` plus optional version files. */
function fakeLibtorch(root: string, opts: { libSub?: string; versionPy?: string; manifest?: string; cuda?: boolean; noC10?: boolean } = {}): string {
  const lib = path.join(root, opts.libSub ?? "torch/lib");
  mkdirSync(lib, { recursive: true });
  writeFileSync(path.join(lib, "libtorch_cpu.so"), "");
  if (!opts.noC10) writeFileSync(path.join(lib, "libc10.so"), "");
  if (opts.cuda) writeFileSync(path.join(lib, "libtorch_cuda.so"), "");
  if (opts.versionPy) writeFileSync(path.join(path.dirname(lib), "version.py"), `__version__ = '${opts.versionPy}'\ncuda = '13.2'\n`);
  if (opts.manifest) writeFileSync(path.join(root, "inseq-libtorch.json"), JSON.stringify({ torch: opts.manifest, flavor: "cpu" }));
  return lib;
}

/** An environment whose cache, python and explicit choice are all ours. */
function env(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { INSEQ_HOME: home, INSEQ_PYTHON: "/nonexistent/python3", ...extra };
}

describe("LibTorch lookup", () => {
  it("takes the setup-torch cache, the CUDA install first only with an NVIDIA driver, and preloads libc10 then libtorch_cpu", () => {
    const home = tempDir("home");
    const cpu = fakeLibtorch(libtorchInstallDir("2.15.0", "cpu", { INSEQ_HOME: home }), { manifest: "2.15.0" });
    const cuda = fakeLibtorch(libtorchInstallDir("2.15.0", "cuda", { INSEQ_HOME: home }), { manifest: "2.15.0", cuda: true });
    const first = nvidiaDriverPresent() ? cuda : cpu;
    const r = findLibtorch(build, { env: env(home) });
    expect(r.chosen).toMatchObject({ source: "setup-torch cache", libDir: first, version: "2.15.0", usable: true });
    expect(r.chosen!.hasCudaLibraries).toBe(first === cuda);
    expect(r.chosen!.preload).toEqual([path.join(first, "libc10.so"), path.join(first, "libtorch_cpu.so")]);
    // INSEQ_LIBTORCH was reported as not set and nothing after the first usable one was probed.
    expect(r.candidates.map((c) => c.source)).toEqual(["INSEQ_LIBTORCH", "setup-torch cache"]);
  });

  it("INSEQ_LIBTORCH wins, in any of the accepted layouts, and is never silently replaced", () => {
    const home = tempDir("home");
    fakeLibtorch(libtorchInstallDir("2.15.0", "cpu", { INSEQ_HOME: home }), { manifest: "2.15.0" });
    for (const libSub of ["lib", "torch/lib"]) {
      const root = tempDir("explicit");
      const lib = fakeLibtorch(root, { libSub, versionPy: "2.15.0+cu132" });
      const r = findLibtorch(build, { env: env(home, { INSEQ_LIBTORCH: root }) });
      expect(r.chosen).toMatchObject({ source: "INSEQ_LIBTORCH", libDir: lib, version: "2.15.0+cu132" });
    }
    const wrong = tempDir("explicit-wrong");
    fakeLibtorch(wrong, { versionPy: "2.14.1+cpu" });
    const r = findLibtorch(build, { env: env(home, { INSEQ_LIBTORCH: wrong }) });
    expect(r.chosen).toBeUndefined();
    expect(r.candidates).toHaveLength(1);
    expect(r.candidates[0]!.reason).toBe("LibTorch 2.14.1+cpu, but this addon was built against 2.15.0");
    const missing = findLibtorch(build, { env: env(home, { INSEQ_LIBTORCH: path.join(wrong, "nope") }) });
    expect(missing.chosen).toBeUndefined();
    expect(missing.candidates[0]!.reason).toBe("not found");
    // With `all` (inseq doctor) the others are still listed, but not chosen.
    const all = findLibtorch(build, { env: env(home, { INSEQ_LIBTORCH: wrong }), all: true });
    expect(all.chosen).toBeUndefined();
    expect(all.candidates.find((c) => c.source === "setup-torch cache" && c.usable)).toBeDefined();
  });

  it("reads the version from the install manifest, version.py, build-version or the headers, and refuses other versions", () => {
    const a = tempDir("v");
    expect(detectLibtorchVersion(fakeLibtorch(a, { manifest: "2.15.0" }))).toBe("2.15.0");
    const b = tempDir("v");
    expect(detectLibtorchVersion(fakeLibtorch(b, { versionPy: "2.15.0+cu132" }))).toBe("2.15.0+cu132");
    const c = tempDir("v");
    const cLib = fakeLibtorch(c, { libSub: "libtorch/lib" });
    writeFileSync(path.join(c, "libtorch/build-version"), "2.15.0+cpu\n");
    expect(detectLibtorchVersion(cLib)).toBe("2.15.0+cpu");
    const d = tempDir("v");
    const dLib = fakeLibtorch(d, { libSub: "lt/lib" });
    mkdirSync(path.join(d, "lt/include/torch/headeronly"), { recursive: true });
    writeFileSync(path.join(d, "lt/include/torch/headeronly/version.h"), "#define TORCH_VERSION_MAJOR 2\n#define TORCH_VERSION_MINOR 15\n#define TORCH_VERSION_PATCH 0\n");
    expect(detectLibtorchVersion(dLib)).toBe("2.15.0");
    expect(detectLibtorchVersion(fakeLibtorch(tempDir("v")))).toBeUndefined();

    const home = tempDir("home");
    fakeLibtorch(libtorchInstallDir("2.15.0", "cpu", { INSEQ_HOME: home }), { manifest: "2.14.0" });
    const r = findLibtorch(build, { env: env(home) });
    expect(r.chosen).toBeUndefined();
    expect(r.candidates.find((x) => x.source === "setup-torch cache" && x.location.endsWith("-cpu"))!.reason).toBe(
      "LibTorch 2.14.0, but this addon was built against 2.15.0",
    );
  });

  it("an unknown version is used on trust and says so; a missing libc10 is not usable", () => {
    const root = tempDir("unknown");
    fakeLibtorch(root);
    const r = findLibtorch(build, { env: env(tempDir("home"), { INSEQ_LIBTORCH: root }) });
    expect(r.chosen?.usable).toBe(true);
    expect(r.chosen?.reason).toMatch(/version is unknown/);
    const noC10 = tempDir("noc10");
    fakeLibtorch(noC10, { versionPy: "2.15.0", noC10: true });
    const r2 = findLibtorch(build, { env: env(tempDir("home"), { INSEQ_LIBTORCH: noC10 }) });
    expect(r2.chosen).toBeUndefined();
    expect(r2.candidates[0]!.reason).toMatch(/libc10\.so is missing/);
  });

  it("a Debian-style LibTorch (versioned files behind a dev symlink) is refused for a 2.15 build and taken for a 1.13 one", () => {
    const root = tempDir("debian");
    const lib = path.join(root, "lib");
    mkdirSync(lib, { recursive: true });
    for (const f of ["libtorch_cpu.so.1.13.1", "libc10.so.1.13.1"]) writeFileSync(path.join(lib, f), "");
    symlinkSync("libtorch_cpu.so.1.13.1", path.join(lib, "libtorch_cpu.so.1.13"));
    symlinkSync("libtorch_cpu.so.1.13", path.join(lib, "libtorch_cpu.so"));
    symlinkSync("libc10.so.1.13.1", path.join(lib, "libc10.so.1.13"));
    symlinkSync("libc10.so.1.13", path.join(lib, "libc10.so"));
    const r = findLibtorch(build, { env: env(tempDir("home"), { INSEQ_LIBTORCH: root }) });
    expect(r.chosen).toBeUndefined();
    expect(r.candidates[0]!.reason).toBe("LibTorch 1.13.1, but this addon was built against 2.15.0");
    const debianBuild: AddonBuildInfo = { ...build, torch: "1.13.0", libtorchSoname: "libtorch_cpu.so.1.13" };
    const r2 = findLibtorch(debianBuild, { env: env(tempDir("home"), { INSEQ_LIBTORCH: root }) });
    expect(r2.chosen).toMatchObject({ version: "1.13", preload: [path.join(lib, "libc10.so.1.13"), path.join(lib, "libtorch_cpu.so.1.13")] });
  });

  it("a Python torch of the same version is found without importing torch", () => {
    const site = tempDir("site");
    const lib = fakeLibtorch(site, { versionPy: "2.15.0+cu132" });
    // A stand-in interpreter: answers the find_spec probe with the fake site-packages/torch.
    const bin = path.join(tempDir("bin"), "python3");
    writeFileSync(bin, `#!/bin/sh\necho "${path.join(site, "torch")}"\n`, { mode: 0o755 });
    const r = findLibtorch(build, { env: { INSEQ_HOME: tempDir("home"), INSEQ_PYTHON: bin } });
    expect(r.chosen).toMatchObject({ source: "python torch", libDir: lib, version: "2.15.0+cu132" });
    const none = findLibtorch(build, { env: env(tempDir("home")), all: true });
    expect(none.candidates.find((c) => c.source === "python torch")!.reason).toMatch(/could not be run \(ENOENT\)/);
  });
});

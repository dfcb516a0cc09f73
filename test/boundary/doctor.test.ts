// `inseq doctor`: proves which LibTorch the suite runs on (2.x, the pinned version), and, when no LibTorch can be
// found, fails with one message listing what was looked at and how to get one.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { libtorchPin } from "../../lib/torch/pin.js";
import { readJson, repoRoot, tempDir } from "../helpers.js";

const cli = path.join(repoRoot, "dist/cli/index.js");
const doctor = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [cli, "doctor", ...args], { cwd: repoRoot, encoding: "utf8", env });

describe("inseq doctor", () => {
  it("reports the suite's runtime: the pinned LibTorch 2.x, where it was found, CUDA status and why", () => {
    const r = doctor(["--json"]);
    expect(r.status, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.error).toBeUndefined();
    // The suite runs on the pinned LibTorch; scripts/gpu-check builds against the GPU host's pip torch instead.
    const expected = process.env.INSEQ_TEST_DEVICE ? d.runtime.addon.build.torch : libtorchPin().torch;
    expect(d.runtime.torchVersion).toBe(expected);
    expect(Number(d.runtime.torchVersion.split(".")[0])).toBeGreaterThanOrEqual(2);
    expect(d.runtime.addon.build).toMatchObject({ torch: expected, libtorchSoname: "libtorch_cpu.so" });
    expect(["setup-torch cache", "INSEQ_LIBTORCH", "python torch"]).toContain(d.runtime.libtorch.source);
    expect(d.runtime.libtorchFiles.some((f: string) => f.startsWith(d.runtime.libtorch.libDir))).toBe(true);
    expect(d.runtime.libtorchFiles.some((f: string) => /\.so\.1\.13/.test(f))).toBe(false);
    expect(d.runtime.cuda || d.runtime.cudaReason.length > 0).toBe(true);
    expect(d.runtime.dtypes.cpu).toEqual(["float32", "float16", "bfloat16"]);  // LibTorch 2: half precision on the CPU too
    expect(d.candidates.map((c: { source: string }) => c.source)).toEqual(
      expect.arrayContaining(["INSEQ_LIBTORCH", "setup-torch cache", "python torch", "debian"]),
    );
    const text = doctor([]);
    expect(text.stdout).toMatch(new RegExp(`^libtorch +${expected.replace(/\./g, "\\.")} from `, "m"));
    expect(text.stdout).toContain("LibTorch lookup (in order):");
    expect(text.stdout).toMatch(/USED/);
  });

  it("without any usable LibTorch: exit 1, ERR_ADDON_LOAD, every place looked at and the ways to get one", () => {
    const env = { ...process.env, INSEQ_HOME: tempDir("empty-home"), INSEQ_PYTHON: "/nonexistent/python3" };
    delete env.INSEQ_LIBTORCH;
    const r = doctor(["--json"], env);
    expect(r.status).toBe(1);
    const d = JSON.parse(r.stdout);
    expect(d.runtime).toBeUndefined();
    expect(d.error.code).toBe("ERR_ADDON_LOAD");
    // The version the addon was built against: the pinned one, except under scripts/gpu-check (the host's pip
    // torch), where setup-torch cannot fetch it and the message says to rebuild instead.
    const buildInfo = path.join(repoRoot, "build/Release/inseq.build.json");
    const built = existsSync(buildInfo) ? readJson<{ torch: string }>(buildInfo).torch : libtorchPin().torch;
    expect(d.error.message).toContain(`no usable LibTorch ${built} was found`);
    expect(d.error.message).toContain(built === libtorchPin().torch ? "npx inseq setup-torch" : "npm run build:native");
    expect(d.error.message).toContain("INSEQ_LIBTORCH");
    for (const source of ["setup-torch cache", "python torch", "debian"]) expect(d.error.message).toContain(`- ${source}: `);
    // The library says the same through the error it throws.
    const lib = spawnSync(process.execPath, ["--input-type=module", "-e", `
      import { loadModel } from ${JSON.stringify(path.join(repoRoot, "dist/index.js"))};
      try { await loadModel("default"); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`], { encoding: "utf8", env });
    const e = JSON.parse(lib.stdout.trim().split("\n").at(-1)!);
    expect(e.code).toBe("ERR_ADDON_LOAD");
    expect(e.message).toContain("Possible solutions:");
  });
});

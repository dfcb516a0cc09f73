/**
 * Finds, at run time, the LibTorch the addon was built against. In order:
 *   1. `INSEQ_LIBTORCH` (authoritative when set: a dir with lib/libtorch_cpu.so, or a setup-torch install dir),
 *   2. the `inseq setup-torch` cache (`$INSEQ_HOME/libtorch/<torch>-cuda`, then `-cpu`; `-cpu` first where no
 *      NVIDIA driver is loaded),
 *   3. a Python torch of the same version (`$INSEQ_PYTHON` or `python3`, located without importing torch),
 *   4. Debian's libtorch (`/usr/lib/x86_64-linux-gnu`, LibTorch 1.13: only for an addon built against it).
 * Pure: reads files and may spawn python; loading is lib/native/load.ts's job.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";

import { INSTALL_MANIFEST, libtorchInstallDir, publicVersion } from "../torch/pin.js";

/** What the addon was built against (`inseq.build.json`, written by CMake beside the .node file). */
export interface AddonBuildInfo {
  /** MAJOR.MINOR.PATCH of the LibTorch headers. */
  torch: string;
  /** The libtorch_cpu file name the addon links (`libtorch_cpu.so` for PyPI/zip LibTorch, `libtorch_cpu.so.1.13` for Debian's). */
  libtorchSoname: string;
  builtAgainst: string;
  compiler: string;
  cxxStandard: number;
}

export type LibtorchSource = "INSEQ_LIBTORCH" | "setup-torch cache" | "python torch" | "debian";

export interface LibtorchCandidate {
  source: LibtorchSource;
  /** The place looked at (directory, or a description when there is none). */
  location: string;
  /** Directory holding libtorch_cpu (set when one was found). */
  libDir?: string;
  /** Its torch version when known (`2.15.0+cu132`). */
  version?: string;
  /** `cpu`, `cuda` (libtorch_cuda.so present) when a libDir was found. */
  hasCudaLibraries?: boolean;
  usable: boolean;
  /** Why it was not used (or a caveat when usable). */
  reason?: string;
  /** Libraries to dlopen, in order, before the addon (libc10, libtorch_cpu). */
  preload?: string[];
}

export interface LibtorchLookup {
  build: AddonBuildInfo;
  chosen?: LibtorchCandidate;
  candidates: LibtorchCandidate[];
}

const DEBIAN_LIB_DIR = "/usr/lib/x86_64-linux-gnu";

/** The suffix after `libtorch_cpu.so` in the linked file name (`""` or `.1.13`). */
function sonameSuffix(build: AddonBuildInfo): string {
  return build.libtorchSoname.slice("libtorch_cpu.so".length);
}

/** Version of a LibTorch whose libraries are in `libDir`, from the files that usually sit around it. */
export function detectLibtorchVersion(libDir: string): string | undefined {
  const torchDir = path.dirname(libDir);
  const manifest = path.join(path.dirname(torchDir), INSTALL_MANIFEST);
  if (existsSync(manifest)) {
    try {
      return String((JSON.parse(readFileSync(manifest, "utf8")) as { torch: string }).torch);
    } catch {
      // fall through to the other files
    }
  }
  const versionPy = path.join(torchDir, "version.py");
  if (existsSync(versionPy)) {
    const m = /__version__\s*=\s*['"]([^'"]+)['"]/.exec(readFileSync(versionPy, "utf8"));
    if (m) return m[1];
  }
  const buildVersion = path.join(torchDir, "build-version"); // unpacked libtorch zips
  if (existsSync(buildVersion)) return readFileSync(buildVersion, "utf8").trim();
  for (const header of ["include/torch/headeronly/version.h", "include/torch/csrc/api/include/torch/version.h"]) {
    const file = path.join(torchDir, header);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    const part = (p: string) => new RegExp(`#define TORCH_VERSION_${p} (\\d+)`).exec(text)?.[1];
    if (part("MAJOR") && part("MINOR") && part("PATCH")) return `${part("MAJOR")}.${part("MINOR")}.${part("PATCH")}`;
  }
  return undefined;
}

/** The lib dir of a LibTorch root in any of the layouts we accept, or undefined. */
function libDirOf(root: string, soname: string): string | undefined {
  for (const sub of ["lib", "torch/lib", "lib/x86_64-linux-gnu", "."]) {
    const dir = path.join(root, sub);
    if (existsSync(path.join(dir, soname))) return dir;
  }
  return undefined;
}

/** Judges one LibTorch directory against the build. */
function examine(source: LibtorchSource, location: string, build: AddonBuildInfo): LibtorchCandidate {
  const suffix = sonameSuffix(build);
  const libDir = libDirOf(location, build.libtorchSoname);
  if (!libDir) {
    // The other kind of LibTorch: PyPI's unversioned libtorch_cpu.so or Debian's libtorch_cpu.so.1.13.
    const other = libDirOf(location, suffix ? "libtorch_cpu.so" : "libtorch_cpu.so.1.13");
    const reason = existsSync(location)
      ? other
        ? `has a different LibTorch (no ${build.libtorchSoname}; this addon was built against LibTorch ${build.torch})`
        : `no ${build.libtorchSoname} under ${location}`
      : "not found";
    return { source, location, usable: false, reason };
  }
  const candidate: LibtorchCandidate = {
    source,
    location,
    libDir,
    hasCudaLibraries: existsSync(path.join(libDir, `libtorch_cuda.so${suffix}`)),
    usable: true,
    preload: [path.join(libDir, `libc10.so${suffix}`), path.join(libDir, `libtorch_cpu.so${suffix}`)],
  };
  if (!existsSync(candidate.preload![0]!)) return { ...candidate, usable: false, reason: `libc10.so${suffix} is missing from ${libDir}` };
  if (suffix) {
    // A versioned soname (Debian's) pins the version by itself.
    candidate.version = suffix.slice(1);
    return candidate;
  }
  // A dev symlink to a versioned file (Debian's libtorch_cpu.so -> libtorch_cpu.so.1.13.1) names its version.
  const real = path.basename(realpathSync(path.join(libDir, build.libtorchSoname)));
  candidate.version = real.startsWith("libtorch_cpu.so.") ? real.slice("libtorch_cpu.so.".length) : detectLibtorchVersion(libDir);
  if (candidate.version === undefined) {
    candidate.reason = `its version is unknown (no ${INSTALL_MANIFEST}, version.py, build-version or headers); loaded on trust`;
  } else if (publicVersion(candidate.version) !== build.torch) {
    return { ...candidate, usable: false, reason: `LibTorch ${candidate.version}, but this addon was built against ${build.torch}` };
  }
  return candidate;
}

/** An NVIDIA kernel driver is loaded (the files its device nodes and proc entry create). */
export function nvidiaDriverPresent(): boolean {
  return existsSync("/proc/driver/nvidia/version") || existsSync("/dev/nvidiactl");
}

/** The site-packages/torch dir of `python` without importing torch (fast), or a reason. */
function pythonTorchDir(python: string): { dir?: string; reason?: string } {
  const probe = spawnSync(
    python,
    ["-c", "import importlib.util as u; s = u.find_spec('torch'); print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')"],
    { encoding: "utf8", timeout: 15_000 },
  );
  if (probe.error) return { reason: `${python} could not be run (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message})` };
  if (probe.status !== 0) return { reason: `${python} failed: ${probe.stderr.trim().split("\n").pop()}` };
  const dir = probe.stdout.trim();
  return dir ? { dir } : { reason: `no torch installed for ${python}` };
}

/**
 * Looks for a LibTorch the addon can use. Stops at the first usable one unless `all` (for `inseq doctor`,
 * which reports why the others were not used).
 */
export function findLibtorch(build: AddonBuildInfo, options: { env?: NodeJS.ProcessEnv; all?: boolean } = {}): LibtorchLookup {
  const env = options.env ?? process.env;
  const lookup: LibtorchLookup = { build, candidates: [] };
  const consider = (c: LibtorchCandidate): boolean => {
    lookup.candidates.push(c);
    if (c.usable && !lookup.chosen) lookup.chosen = c;
    return Boolean(lookup.chosen) && !options.all;
  };
  const explicit = env.INSEQ_LIBTORCH;
  if (explicit) {
    // An explicit choice is never silently replaced by another LibTorch.
    consider(examine("INSEQ_LIBTORCH", path.resolve(explicit), build));
    if (!options.all) return lookup;
  } else {
    lookup.candidates.push({ source: "INSEQ_LIBTORCH", location: "(not set)", usable: false, reason: "not set" });
  }
  // The CUDA install is a superset of the CPU one but maps ~350 MB more: prefer it only where a GPU can be used.
  for (const flavor of nvidiaDriverPresent() ? (["cuda", "cpu"] as const) : (["cpu", "cuda"] as const)) {
    if (consider(examine("setup-torch cache", libtorchInstallDir(build.torch, flavor, env), build))) return lookup;
  }
  const python = env.INSEQ_PYTHON || "python3";
  const py = pythonTorchDir(python);
  if (py.dir) {
    if (consider(examine("python torch", py.dir, build))) return lookup;
  } else {
    lookup.candidates.push({ source: "python torch", location: python, usable: false, reason: py.reason });
  }
  consider(examine("debian", DEBIAN_LIB_DIR, build));
  if (explicit && lookup.chosen?.source !== "INSEQ_LIBTORCH") lookup.chosen = undefined;
  return lookup;
}

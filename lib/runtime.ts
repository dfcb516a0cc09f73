/** Facts about the native runtime (what `inseq doctor` prints) and global settings. */
import os from "node:os";

import { InseqError, invalidOption } from "./core/errors.js";
import { packageVersion } from "./core/paths.js";
import { findLibtorch, type AddonBuildInfo, type LibtorchCandidate } from "./native/libtorch.js";
import {
  loadedAddon, locateAddon, mappedLibraries, nativeGpuMemory, nativeListGpus, nativeRuntimeInfo, resetNativeGpuPeak, setNativeThreads,
} from "./native/addon.js";

export interface GpuReport {
  index: number;
  name: string;
  freeBytes: number;
  totalBytes: number;
}

export interface RuntimeReport {
  inseqVersion: string;
  node: string;
  platform: string;
  /** glibc of this process (undefined on other C libraries). */
  glibc: string | undefined;
  cpus: number;
  /** The addon file in use: a local build from source or the prebuild shipped in the package. */
  addon: { kind: "build" | "prebuild"; path: string; build: AddonBuildInfo };
  /** The LibTorch in use and where it was found (INSEQ_LIBTORCH, setup-torch cache, python torch, debian). */
  libtorch: LibtorchCandidate;
  torchVersion: string;
  /** CUDA usable: libtorch_cuda.so loaded and a GPU visible. */
  cuda: boolean;
  cudaDevices: number;
  /** Why CUDA is unavailable ("" when it is available). */
  cudaReason: string;
  /** libtorch_cuda.so is loaded (CUDA kernels present), whether or not a GPU is visible. */
  torchCuda: boolean;
  /** CUDA runtime and driver versions as "13.2" (undefined when unknown / no driver). */
  cudaRuntimeVersion: string | undefined;
  cudaDriverVersion: string | undefined;
  /** Visible GPUs with free memory (only with `{ gpus: true }`: it creates a CUDA context on each). */
  gpus: GpuReport[] | undefined;
  /** Model dtypes per device kind. */
  dtypes: { cpu: string[]; cuda: string[] };
  defaultDevice: "cuda" | "cpu";
  threads: number;
  interopThreads: number;
  /** BLAS shared libraries mapped into this process (the one LibTorch actually calls). */
  blas: string[];
  /** LibTorch shared libraries mapped into this process. */
  libtorchFiles: string[];
  /** MemAvailable of the host, bytes. */
  hostAvailableBytes: number;
  /** Natively implemented config.json `model_type` values, by model kind. */
  modelTypes: Record<"decoder-only" | "encoder-decoder", string[]>;
}

const HALF_TOO = ["float32", "float16", "bfloat16"];

function cudaVersion(v: number): string | undefined {
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : undefined;
}

/** The runtime in use; loads the addon (ERR_ADDON_LOAD when it cannot). */
export function runtimeInfo(options: { gpus?: boolean } = {}): RuntimeReport {
  const r = nativeRuntimeInfo();
  const { files, libtorch } = loadedAddon()!;
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  return {
    inseqVersion: packageVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    glibc,
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    addon: { kind: files.kind, path: files.addon, build: files.build },
    libtorch,
    torchVersion: r.torchVersion,
    cuda: r.cuda,
    cudaDevices: r.cudaDevices,
    cudaReason: r.cudaReason,
    torchCuda: r.torchCuda,
    cudaRuntimeVersion: cudaVersion(r.cudaRuntimeVersion),
    cudaDriverVersion: cudaVersion(r.cudaDriverVersion),
    gpus: options.gpus ? nativeListGpus() : undefined,
    dtypes: { cpu: r.cpuHalfPrecision ? HALF_TOO : ["float32"], cuda: r.cuda ? HALF_TOO : [] },
    defaultDevice: r.cuda ? "cuda" : "cpu",
    threads: r.threads,
    interopThreads: r.interopThreads,
    blas: mappedLibraries(/^lib(open)?blas|mkl|lapack|blis/i),
    libtorchFiles: mappedLibraries(/^lib(torch|c10)/),
    hostAvailableBytes: r.hostAvailableBytes,
    modelTypes: r.modelTypes,
  };
}

/** What `inseq doctor` reports: the runtime when it loads, else why not; every LibTorch looked at either way. */
export interface Diagnosis {
  runtime: RuntimeReport | undefined;
  /** The load failure (code and message) when the addon could not be loaded. */
  error: { code: string; message: string } | undefined;
  /** Every LibTorch candidate in lookup order, with why it was not used. */
  candidates: LibtorchCandidate[];
}

/** Never throws: for `inseq doctor`. */
export function diagnose(options: { gpus?: boolean } = {}): Diagnosis {
  let runtime: RuntimeReport | undefined;
  let error: Diagnosis["error"];
  try {
    runtime = runtimeInfo(options);
  } catch (err) {
    error = { code: err instanceof InseqError ? err.code : "ERR_NATIVE", message: err instanceof Error ? err.message : String(err) };
  }
  let candidates: LibtorchCandidate[] = [];
  try {
    candidates = findLibtorch(runtime?.addon.build ?? locateAddon().build, { all: true }).candidates;
  } catch {
    // no addon at all: the error above says so
  }
  return { runtime, error, candidates };
}

/** Free and peak-allocated memory of a CUDA device (bytes), as LibTorch's caching allocator sees it. */
export function cudaMemory(deviceIndex = 0): { freeBytes: number; peakAllocatedBytes: number } {
  return nativeGpuMemory(deviceIndex);
}

/** Starts a new peak for cudaMemory().peakAllocatedBytes. */
export function resetCudaPeakMemory(deviceIndex = 0): void {
  resetNativeGpuPeak(deviceIndex);
}

/** LibTorch intra-op threads for native jobs (default: LibTorch's choice, the physical core count). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw invalidOption("threads", "a positive integer", n);
  setNativeThreads(n);
}

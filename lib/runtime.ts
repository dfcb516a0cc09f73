/** Facts about the native runtime (what `inseq doctor` prints) and global settings. */
import os from "node:os";

import { invalidOption } from "./core/errors.js";
import { packageVersion } from "./core/paths.js";
import { addonPath, mappedLibraries, native } from "./native/load.js";

export interface RuntimeReport {
  inseqVersion: string;
  node: string;
  platform: string;
  cpus: number;
  torchVersion: string;
  cuda: boolean;
  cudaDevices: number;
  defaultDevice: "cuda" | "cpu";
  threads: number;
  interopThreads: number;
  /** BLAS shared libraries mapped into this process (the one LibTorch actually calls). */
  blas: string[];
  addonPath: string | undefined;
  modelTypes: string[];
}

export function runtimeInfo(): RuntimeReport {
  const n = native();
  const r = n.runtimeInfo();
  return {
    inseqVersion: packageVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    torchVersion: r.torchVersion,
    cuda: r.cuda,
    cudaDevices: r.cudaDevices,
    defaultDevice: r.cuda ? "cuda" : "cpu",
    threads: r.threads,
    interopThreads: r.interopThreads,
    blas: mappedLibraries(/(blas|mkl|lapack)/i),
    addonPath: addonPath(),
    modelTypes: r.modelTypes,
  };
}

/** LibTorch intra-op threads for native jobs (default: LibTorch's choice, the physical core count). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw invalidOption("threads", "a positive integer", n);
  native().setNumThreads(n);
}

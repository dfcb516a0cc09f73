/**
 * The addon's functions as the rest of lib/ calls them: loading a model of a given kind and the runtime facts
 * and settings. Nothing outside lib/native/ calls native() itself.
 */
import type { NativeGpu, NativeModel, NativeRuntimeInfo, NativeSeq2SeqModel } from "./binding-types.js";
import { runNativeJob } from "./jobs.js";
import { native } from "./load.js";

export { loadedAddon, locateAddon, mappedLibraries } from "./load.js";

/** The native loader's options: the kind is decided in TS (lib/models/model-kind.ts), never again natively. */
export interface NativeLoadOptions {
  device: string;
  dtype: string;
  signal?: AbortSignal;
}

/** Loads a checkpoint directory or TorchScript bundle of the given kind (queued as a native job). */
export function loadNativeModel(dir: string, kind: "decoder-only", options: NativeLoadOptions): Promise<NativeModel>;
export function loadNativeModel(dir: string, kind: "encoder-decoder", options: NativeLoadOptions): Promise<NativeSeq2SeqModel>;
export function loadNativeModel(dir: string, kind: "decoder-only" | "encoder-decoder", options: NativeLoadOptions): Promise<NativeModel | NativeSeq2SeqModel> {
  const binding = native();
  return runNativeJob(() => binding.loadModel(dir, { kind, device: options.device, dtype: options.dtype }), options.signal);
}

/** The runtime facts of the loaded addon (loads it; ERR_ADDON_LOAD when it cannot). */
export function nativeRuntimeInfo(): NativeRuntimeInfo {
  return native().runtimeInfo();
}

/** Visible GPUs with their free memory (creates a CUDA context on each). */
export function nativeListGpus(): NativeGpu[] {
  return native().listGpus();
}

/** Free and peak-allocated memory of a CUDA device (bytes). */
export function nativeGpuMemory(deviceIndex: number): { freeBytes: number; peakAllocatedBytes: number } {
  return native().gpuMemory(deviceIndex);
}

/** Starts a new peak for nativeGpuMemory().peakAllocatedBytes. */
export function resetNativeGpuPeak(deviceIndex: number): void {
  native().resetGpuPeak(deviceIndex);
}

/** LibTorch intra-op threads for native jobs. */
export function setNativeThreads(n: number): void {
  native().setNumThreads(n);
}

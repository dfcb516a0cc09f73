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
  /** Bytes of the checkpoint's tensors loaded so far, of all of them; ends with (total, total). */
  onProgress?: (loadedBytes: number, totalBytes: number) => void;
}

/** Loads a checkpoint directory or TorchScript bundle of the given kind (queued as a native job). */
export function loadNativeModel(dir: string, kind: "decoder-only", options: NativeLoadOptions): Promise<NativeModel>;
export function loadNativeModel(dir: string, kind: "encoder-decoder", options: NativeLoadOptions): Promise<NativeSeq2SeqModel>;
export function loadNativeModel(dir: string, kind: "decoder-only" | "encoder-decoder", options: NativeLoadOptions): Promise<NativeModel | NativeSeq2SeqModel> {
  const binding = native();
  const progress = options.onProgress === undefined ? undefined : loadProgress(options.onProgress);
  return runNativeJob(async () => {
    const model = await binding.loadModel(dir, { kind, device: options.device, dtype: options.dtype, onProgress: progress?.report });
    progress?.finish();
    return model;
  }, options.signal);
}

/**
 * The native side reports per tensor from a worker thread (dropping updates while the JS thread is busy, which
 * may also deliver one after the promise settles) and calls (total, total) on the JS thread just before it
 * resolves: this keeps the calls increasing, ignores late ones, and is a fallback for that last call.
 */
function loadProgress(onProgress: (loadedBytes: number, totalBytes: number) => void) {
  let last = -1, total = -1, done = false;
  return {
    report: (loaded: number, of: number) => {
      if (done || loaded <= last) return;
      [last, total] = [loaded, of];
      onProgress(loaded, of);
    },
    finish: () => {
      if (total >= 0 && last < total) onProgress(total, total);
      done = true;
    },
  };
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

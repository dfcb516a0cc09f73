/**
 * The models of a server: loaded on request (or at start) when the allow-list allows them, one bounded queue
 * each, unloaded on request or when the server closes.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import { loadModel, type AnyModel, type DeviceOption, type DtypeOption } from "../models/load-model.js";
import { AllowList, modelRef, type ModelRef } from "./allow-list.js";
import { JobQueue } from "./job-queue.js";

/** The kind as the HTTP contract names it. */
export type ApiModelKind = "decoder" | "encoder-decoder";

export interface PoolEntry {
  ref: ModelRef;
  queue: JobQueue;
  loading: Promise<AnyModel> | null;
  model: AnyModel | null;
}

export interface ModelPoolOptions {
  allow: readonly string[];
  queueSize: number;
  concurrency: number;
  device?: DeviceOption;
  dtype?: DtypeOption;
  offline?: boolean;
}

export function apiKind(model: AnyModel | null): ApiModelKind | null {
  if (!model) return null;
  return model.kind === "encoder-decoder" ? "encoder-decoder" : "decoder";
}

export class ModelPool {
  readonly allowList: AllowList;
  readonly #entries = new Map<string, PoolEntry>();

  constructor(readonly options: ModelPoolOptions) {
    this.allowList = new AllowList(options.allow);
  }

  /** The allowed ref of `name`, or ERR_FORBIDDEN. */
  resolve(name: string): ModelRef {
    const ref = modelRef(name);
    if (!this.allowList.allows(ref)) {
      throw new InseqError(ErrorCode.FORBIDDEN, `Expected a model the server allows for model but received ${JSON.stringify(name)}; allowed: ${this.allowList.entries.join(", ")}`);
    }
    return ref;
  }

  #entry(ref: ModelRef): PoolEntry {
    let e = this.#entries.get(ref.id);
    if (!e) {
      e = { ref, queue: new JobQueue(ref.id, this.options.queueSize, this.options.concurrency), loading: null, model: null };
      this.#entries.set(ref.id, e);
    }
    return e;
  }

  /** The loaded model `name` (loading it first when allowed and not loaded yet). */
  async get(name: string, load: { device?: DeviceOption; dtype?: DtypeOption } = {}): Promise<{ entry: PoolEntry; model: AnyModel }> {
    const entry = this.#entry(this.resolve(name));
    if (entry.model) return { entry, model: entry.model };
    if (!entry.loading) {
      const ref = entry.ref;
      entry.loading = loadModel(ref.id, {
        device: load.device ?? this.options.device, dtype: load.dtype ?? this.options.dtype, offline: this.options.offline,
      });
      entry.loading.then((m) => {
        entry.model = m;
        entry.loading = null;
      }, () => {
        entry.loading = null;
        if (!entry.model && entry.queue.running === 0 && entry.queue.depth === 0) this.#entries.delete(ref.id);
      });
    }
    return { entry, model: await entry.loading };
  }

  /** Disposes the model `name` (waiting for its running jobs); a no-op when it is not loaded. */
  async unload(name: string): Promise<ModelRef> {
    const ref = this.resolve(name);
    const entry = this.#entries.get(ref.id);
    if (!entry) return ref;
    const model = entry.model ?? (await entry.loading?.catch(() => null)) ?? null;
    entry.model = null;
    this.#entries.delete(ref.id);
    await model?.dispose();
    return ref;
  }

  /** Every entry (loaded or loading) and the allowed exact ids not loaded. */
  list(): Array<{ id: string; model: AnyModel | null }> {
    const out = new Map<string, AnyModel | null>();
    for (const id of this.allowList.exactIds()) out.set(id, null);
    for (const [id, e] of this.#entries) out.set(id, e.model);
    return [...out].map(([id, model]) => ({ id, model }));
  }

  entries(): PoolEntry[] {
    return [...this.#entries.values()];
  }

  async close(): Promise<void> {
    const models = [...this.#entries.values()].map((e) => e.model ?? e.loading?.catch(() => null));
    this.#entries.clear();
    await Promise.all(models.map(async (m) => (await m)?.dispose()));
  }
}

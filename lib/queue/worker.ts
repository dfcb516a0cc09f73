/**
 * `inseq worker`: one BullMQ worker that attributes the jobs of `attribute-dataset --queue` runs. Concurrency 1
 * (the addon runs one native job at a time per process anyway); each (model, load options) is loaded once and
 * kept for the worker's life. A job's records are its return value, which the producer writes. A failed job is
 * retried with exponential backoff (jobs.ts JOB_OPTIONS) unless its error cannot change on a retry (bad options,
 * bad rows); a worker that dies mid-job stops renewing its lock, and after `lockMs` another worker's stalled-job
 * check puts the job back in the queue.
 */
import { UnrecoverableError, Worker, type Job } from "bullmq";

import { ErrorCode, InseqError } from "../core/errors.js";
import { attributeExamples } from "../dataset/attribute-dataset.js";
import type { DatasetRecord } from "../dataset/records.js";
import { loadModel, type AnyModel, type DeviceOption } from "../models/load-model.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import { connectQueue, type QueueConnection } from "./connection.js";
import { DEFAULT_QUEUE_NAME, describeRows, type QueueJobData, type QueueJobResult } from "./jobs.js";

export interface RunWorkerOptions {
  connection: QueueConnection;
  queueName?: string;
  device?: DeviceOption;
  offline?: boolean;
  trustRemoteCode?: boolean;
  /** Model ids or directories as the producer gave them → directories on this machine. */
  modelDirMap?: Readonly<Record<string, string>>;
  /** Stop after this many jobs (completed or failed). */
  maxJobs?: number;
  /** Stop after this long without a job (ms). */
  idleExitMs?: number;
  /** BullMQ lock duration and stalled-job check interval (ms, default 30 s): how soon a dead worker's job is taken over. */
  lockMs?: number;
  /** One line per event (job started, done, failed, stalled; already redacted). */
  log?: (line: string) => void;
  /**
   * Applies a job's `aggregation` to each example's output before its record is made (the CLI passes its
   * --attribution-aggregators step). A job with an aggregation fails when there is none.
   */
  transform?: (out: FeatureAttributionOutput, job: QueueJobData) => FeatureAttributionOutput;
  /** Aborting closes the worker after its current job. */
  signal?: AbortSignal;
}

export interface WorkerStats {
  completed: number;
  failed: number;
  modelsLoaded: number;
}

/** Errors a retry cannot fix: the job fails at once (the producer then reports it, or skips its rows). */
const PERMANENT = new Set<string>([
  ErrorCode.INVALID_OPTION, ErrorCode.UNKNOWN_OPTION, ErrorCode.BAD_DATASET, ErrorCode.NOT_FOUND, ErrorCode.BAD_MODEL,
  ErrorCode.BAD_CHECKPOINT, ErrorCode.UNSUPPORTED_MODEL, ErrorCode.BAD_TOKENIZER, ErrorCode.UNTRUSTED_CODE, ErrorCode.LIMIT,
]);

/** Runs a worker until it is aborted, reaches maxJobs or idles past idleExitMs. */
export async function runWorker(opts: RunWorkerOptions): Promise<WorkerStats> {
  const conn = opts.connection;
  const log = (line: string) => opts.log?.(conn.redact(line));
  const client = await connectQueue(conn);
  const stats: WorkerStats = { completed: 0, failed: 0, modelsLoaded: 0 };
  const models = new Map<string, Promise<AnyModel>>();
  const modelFor = (d: QueueJobData): Promise<AnyModel> => {
    const dir = opts.modelDirMap?.[d.model] ?? d.model;
    const key = JSON.stringify({ dir, load: d.load });
    let p = models.get(key);
    if (!p) {
      p = loadModel(dir, { ...d.load, device: opts.device ?? "auto", offline: opts.offline, trustRemoteCode: opts.trustRemoteCode });
      models.set(key, p);
      p.then(() => void stats.modelsLoaded++, () => models.delete(key)); // a failed load is tried again by the next job
    }
    return p;
  };
  let idleTimer: NodeJS.Timeout | undefined;
  let worker!: Worker<QueueJobData, QueueJobResult>;
  let finished = 0;
  let closing = false;
  const close = () => {
    if (closing) return;
    closing = true;
    clearTimeout(idleTimer);
    void worker.close();
  };
  const idle = () => {
    clearTimeout(idleTimer);
    if (opts.idleExitMs !== undefined && !closing) {
      idleTimer = setTimeout(() => {
        log(`idle for ${opts.idleExitMs! / 1000}s; stopping`);
        close();
      }, opts.idleExitMs);
    }
  };

  const processJob = async (job: Job<QueueJobData, QueueJobResult>): Promise<QueueJobResult> => {
    clearTimeout(idleTimer);
    const d = job.data;
    const what = `job ${job.id} (${describeRows({ start: d.examples[0]?.index ?? 0, end: (d.examples.at(-1)?.index ?? 0) + 1 })}, attempt ${job.attemptsMade + 1})`;
    log(`${what}: started`);
    const t0 = performance.now();
    try {
      const transform = opts.transform;
      if (d.aggregation !== undefined && !transform) throw new InseqError(ErrorCode.INVALID_OPTION, `Job ${job.id} asks for an aggregation before saving, but this worker has no transform for it`);
      const model = await modelFor(d);
      const records: DatasetRecord[] = [];
      const res = await attributeExamples(model, d.examples, { path: `queue job ${job.id}`, write: (r) => void records.push(r) }, {
        batchSize: d.batchSize,
        onError: d.onError,
        attributeOptions: d.attributeOptions,
        config: d.config,
        previousConfig: d.previousConfig,
        ...(d.aggregation !== undefined ? { transform: (o: FeatureAttributionOutput) => transform!(o, d) } : {}),
      });
      log(`${what}: done in ${((performance.now() - t0) / 1000).toFixed(2)}s (${records.length} records${res.skipped.length ? `, ${res.skipped.length} skipped` : ""})`);
      return { records, skipped: res.skipped };
    } catch (err) {
      const message = err instanceof InseqError ? `${err.message} [${err.code}]` : err instanceof Error ? err.message : String(err);
      log(`${what}: failed: ${message}`);
      if (err instanceof InseqError && PERMANENT.has(err.code)) throw new UnrecoverableError(message);
      throw new Error(message);
    } finally {
      if (opts.maxJobs !== undefined && ++finished >= opts.maxJobs) {
        log(`${finished} job${finished === 1 ? "" : "s"} done (--max-jobs); stopping`);
        close();
      }
    }
  };

  const lockMs = opts.lockMs ?? 30_000;
  worker = new Worker<QueueJobData, QueueJobResult>(opts.queueName ?? DEFAULT_QUEUE_NAME, processJob, {
    connection: client,
    concurrency: 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: 2,
    autorun: false,
  });
  worker.on("completed", () => {
    stats.completed++;
    idle();
  });
  worker.on("failed", () => {
    stats.failed++;
    idle();
  });
  worker.on("stalled", (jobId) => log(`job ${jobId} stalled (its worker stopped renewing the lock): back in the queue`));
  worker.on("error", (err) => log(`queue error: ${err.message}`));
  const onAbort = () => close();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) close();
  idle();
  log(`ready (pid ${globalThis.process.pid}): waiting for jobs on queue ${opts.queueName ?? DEFAULT_QUEUE_NAME} at ${conn.display}`);
  try {
    await worker.run();
    await worker.close();
  } finally {
    clearTimeout(idleTimer);
    opts.signal?.removeEventListener("abort", onAbort);
    for (const p of models.values()) await p.then((m) => m.dispose(), () => undefined);
    client.disconnect();
  }
  return stats;
}

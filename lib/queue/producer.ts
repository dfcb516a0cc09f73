/**
 * `attribute-dataset --queue`: enqueues the jobs of the rows still to attribute (jobs.ts), waits for workers to
 * finish them, and writes their records with the run's RecordWriter in dataset order, each row once. Results
 * that finish out of order wait in memory for the jobs before them; a row already written (a job finished twice,
 * a stale job holding rows of an earlier run) is not written again. A job written is removed from Redis; a
 * producer stopped at any point leaves a resumable output, and its jobs (finished or not) stay in the queue for
 * `--resume` to collect.
 */
import { Job, Queue } from "bullmq";

import { abortError, ErrorCode, InseqError } from "../core/errors.js";
import type { Example, SkippedRow } from "../dataset/attribute-dataset.js";
import type { RecordWriter } from "../dataset/records.js";
import { connectQueue, type QueueConnection } from "./connection.js";
import {
  DEFAULT_QUEUE_NAME, describeRows, JOB_OPTIONS, planJobs, runKey,
  type PlannedJob, type QueueJobData, type QueueJobResult,
} from "./jobs.js";

/** Everything in a job's data besides the run key and its examples. */
export type JobTemplate = Omit<QueueJobData, "run" | "examples">;

export interface EnqueueStats {
  /** Jobs added now. */
  added: number;
  /** Jobs already in the queue (waiting, running, finished, or failed and now retried). */
  existing: number;
}

/**
 * Adds the jobs that are not in the queue yet (same id: same run and rows), and puts failed ones back for
 * another round of attempts. Enqueueing the same jobs again adds nothing.
 */
export async function enqueueJobs(queue: Queue, key: string, jobs: readonly PlannedJob[], template: JobTemplate): Promise<EnqueueStats> {
  const stats: EnqueueStats = { added: 0, existing: 0 };
  const missing: PlannedJob[] = [];
  for (const job of jobs) {
    const existing = await queue.getJob(job.id);
    if (!existing) {
      missing.push(job);
      continue;
    }
    stats.existing++;
    if ((await existing.getState()) === "failed") await existing.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
  }
  const CHUNK = 500;
  for (let i = 0; i < missing.length; i += CHUNK) {
    await queue.addBulk(
      missing.slice(i, i + CHUNK).map((job) => ({
        name: "attribute",
        data: { ...template, run: key, examples: job.examples } satisfies QueueJobData,
        opts: { jobId: job.id },
      })),
    );
  }
  stats.added = missing.length;
  return stats;
}

export interface RunOnQueueOptions {
  connection: QueueConnection;
  queueName?: string;
  /** Rows of the split per job. */
  jobRows: number;
  /** The dataset's sources and split name (part of the run key). */
  dataset: { source: string; split: string };
  /** The rows [start, end) of the split that the run selects. */
  range: { start: number; end: number };
  /** The rows to attribute (selectExamples: not done yet), in index order. */
  examples: readonly Example[];
  template: JobTemplate;
  writer: RecordWriter;
  /** Rows already in the output (never written again). */
  done?: ReadonlySet<number>;
  /** "stop": a job that failed after its retries throws ERR_QUEUE naming its rows; "skip": its rows are skipped. */
  onError?: "stop" | "skip";
  onProgress?: (done: number, total: number) => void;
  onSkip?: (row: SkippedRow) => void;
  /** Lines for stderr (the password already masked). */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** How often the finished jobs are looked up (ms, default 200). */
  pollMs?: number;
}

export interface RunOnQueueStats extends EnqueueStats {
  written: number;
  skipped: SkippedRow[];
  wallMs: number;
}

/** Jobs looked up per poll, from the next one to write: far more than a poll interval's worth of finished jobs. */
const LOOKAHEAD = 32;

type Outcome = { kind: "done"; result: QueueJobResult } | { kind: "failed"; reason: string; attempts: number };

/** A finished job's outcome, or null while it is waiting, running or waiting for a retry. */
async function outcome(job: Job<QueueJobData, QueueJobResult>): Promise<Outcome | null> {
  if (!job.finishedOn) return null;
  const state = await job.getState();
  if (state === "completed") return { kind: "done", result: job.returnvalue };
  if (state === "failed") return { kind: "failed", reason: job.failedReason, attempts: job.attemptsMade };
  return null;
}

export async function runOnQueue(opts: RunOnQueueOptions): Promise<RunOnQueueStats> {
  const started = performance.now();
  const log = (line: string) => opts.log?.(opts.connection.redact(line));
  if (!Number.isInteger(opts.jobRows) || opts.jobRows < 1) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a positive integer for --job-rows but received ${opts.jobRows}`);
  }
  const client = await connectQueue(opts.connection);
  const name = opts.queueName ?? DEFAULT_QUEUE_NAME;
  const queue = new Queue<QueueJobData, QueueJobResult>(name, { connection: client, defaultJobOptions: JOB_OPTIONS });
  queue.on("error", () => undefined); // failed commands reject where they are awaited
  try {
    const key = runKey(opts.dataset, opts.template.config);
    const jobs = planJobs(key, opts.examples, opts.range, opts.jobRows);
    const enq = await enqueueJobs(queue, key, jobs, opts.template);
    log(`queue ${name} at ${opts.connection.display}: ${jobs.length} job${jobs.length === 1 ? "" : "s"} of run ${key}, ${enq.added} enqueued, ${enq.existing} already in the queue`);
    const stats: RunOnQueueStats = { ...enq, written: 0, skipped: [], wallMs: 0 };
    const written = new Set<number>(opts.done ?? []);
    const total = opts.examples.length;
    const outcomes = new Map<string, Outcome>();
    let next = 0;
    let settled = 0; // examples written or skipped
    opts.onProgress?.(0, total);
    const skip = (row: SkippedRow) => {
      stats.skipped.push(row);
      opts.onSkip?.(row);
    };
    while (next < jobs.length) {
      if (opts.signal?.aborted) throw abortError(opts.signal, "attribute-dataset --queue was aborted; rerun it with --resume to continue");
      // Look up the next jobs not finished yet (a window: polling every pending job would cost the workers' cores).
      for (let j = next; j < Math.min(jobs.length, next + LOOKAHEAD); j++) {
        const planned = jobs[j]!;
        if (outcomes.has(planned.id)) continue;
        const job = await Job.fromId<QueueJobData, QueueJobResult>(queue, planned.id);
        if (!job) {
          // Removed behind our back (or Redis lost it): add it again.
          await enqueueJobs(queue, key, [planned], opts.template);
          continue;
        }
        const o = await outcome(job);
        if (o) outcomes.set(planned.id, o);
      }
      // Write, in dataset order, every job whose predecessors are written.
      const before = next;
      while (next < jobs.length && outcomes.has(jobs[next]!.id)) {
        const planned = jobs[next]!;
        const o = outcomes.get(planned.id)!;
        const mine = new Set(planned.examples.map((e) => e.index));
        if (o.kind === "failed") {
          const what = `Job ${planned.id} (${describeRows(planned)}) failed after ${o.attempts} attempt${o.attempts === 1 ? "" : "s"}: ${o.reason}`;
          if ((opts.onError ?? "stop") === "stop") {
            throw new InseqError(ErrorCode.QUEUE, `${what} (--on-error skip leaves its rows out; --resume retries it)`);
          }
          for (const e of planned.examples) if (!written.has(e.index)) skip({ index: e.index, reason: `${o.reason} [${ErrorCode.QUEUE}]` });
          settled += planned.examples.length;
        } else {
          const records = [...o.result.records].sort((a, b) => a.index - b.index);
          for (const r of records) {
            if (!mine.has(r.index) || written.has(r.index)) continue;
            opts.writer.write(r);
            written.add(r.index);
            stats.written++;
          }
          for (const s of o.result.skipped) if (mine.has(s.index)) skip(s);
          settled += planned.examples.length;
          await queue.remove(planned.id);
        }
        outcomes.delete(planned.id);
        next++;
      }
      if (next > before) opts.onProgress?.(settled, total);
      else await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
    }
    stats.wallMs = performance.now() - started;
    return stats;
  } catch (err) {
    if (err instanceof InseqError) throw err;
    throw new InseqError(ErrorCode.QUEUE, `Job queue at ${opts.connection.display} failed: ${opts.connection.redact((err as Error).message ?? String(err))}`, { cause: err });
  } finally {
    await queue.close().catch(() => undefined);
    client.disconnect();
  }
}

/**
 * The jobs of a dataset run on the queue: one per cell of `jobRows` consecutive rows of the split, holding the
 * cell's examples (their texts, so workers need no access to the dataset and Redis holds a few KB per job) and
 * everything a worker needs to attribute them exactly as a single-process run would. Job ids are
 * `<run key>-<first row>-<end row>`, the run key hashing the dataset, its split and the run's configuration, so
 * enqueueing the same rows again (a second producer, a resumed run) finds the job already there.
 */
import { createHash } from "node:crypto";

import type { DefaultJobOptions } from "bullmq";

import type { Example, SkippedRow } from "../dataset/attribute-dataset.js";
import type { DatasetRecord } from "../dataset/records.js";
import type { RunConfig } from "../dataset/run-config.js";
import type { LoadModelOptions } from "../models/load-model.js";

/** The queue `inseq worker` and `attribute-dataset --queue` use unless --queue-name says otherwise. */
export const DEFAULT_QUEUE_NAME = "inseq-dataset";

/** Rows of the split per job (--job-rows). */
export const DEFAULT_JOB_ROWS = 8;

/** Retries with exponential backoff (1 s, 2 s, ...); finished jobs stay until the producer has written them. */
export const JOB_OPTIONS: DefaultJobOptions = {
  attempts: 3,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: false,
  removeOnFail: false,
};

export interface QueueJobData {
  /** The run key (runKey()). */
  run: string;
  /** Model id or directory, as given to the producer (workers may map it with --model-dir-map). */
  model: string;
  /** loadModel options from --model-kwargs / --tokenizer-kwargs (dtype, revision); the device is the worker's. */
  load: Partial<LoadModelOptions>;
  /** model.attribute() options (JSON). */
  attributeOptions: Record<string, unknown>;
  /** The run configuration stored in every record (without model_revision, which the worker adds). */
  config: RunConfig;
  /** The configuration of the records already in a resumed output (a moved hub revision is refused). */
  previousConfig: RunConfig | null;
  /** The aggregation applied before saving (the CLI's --attribution-aggregators, ...), run by the worker's `transform`. */
  aggregation?: unknown;
  batchSize: number;
  onError: "stop" | "skip";
  /** The cell's rows still to attribute, in index order. */
  examples: Example[];
}

/** What a worker returns for a job: the records of its rows (index order) and the rows it skipped. */
export interface QueueJobResult {
  records: DatasetRecord[];
  skipped: SkippedRow[];
}

/** 16 hex digits of sha256 over the dataset (its sources and split) and the run configuration. */
export function runKey(dataset: { source: string; split: string }, config: RunConfig): string {
  return createHash("sha256").update(JSON.stringify({ source: dataset.source, split: dataset.split, config })).digest("hex").slice(0, 16);
}

export interface PlannedJob {
  id: string;
  /** Rows [start, end) of the split that the job covers. */
  start: number;
  end: number;
  examples: Example[];
}

/**
 * The jobs of a run: the rows [start, end) cut into cells of `jobRows` rows from `start`, keeping the cells that
 * hold examples to attribute. With --job-rows a multiple of --batch-size and no row left out, the batches are
 * those of a single-process run.
 */
export function planJobs(key: string, examples: readonly Example[], range: { start: number; end: number }, jobRows: number): PlannedJob[] {
  const jobs = new Map<number, PlannedJob>();
  for (const e of examples) {
    const cell = Math.floor((e.index - range.start) / jobRows);
    let job = jobs.get(cell);
    if (!job) {
      const start = range.start + cell * jobRows;
      const end = Math.min(start + jobRows, range.end);
      job = { id: `${key}-${start}-${end}`, start, end, examples: [] };
      jobs.set(cell, job);
    }
    job.examples.push(e);
  }
  return [...jobs.values()].sort((a, b) => a.start - b.start);
}

/** "rows 16-23" for messages (inclusive). */
export function describeRows(job: { start: number; end: number }): string {
  return job.end - job.start === 1 ? `row ${job.start}` : `rows ${job.start}-${job.end - 1}`;
}

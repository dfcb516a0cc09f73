// `attribute-dataset --queue` and `inseq worker` end to end, as child processes of the built CLI (dist/) against a
// redis-server of their own on a loopback port: 300 WinoMT rows with the bundled model and saliency, compared
// with a single-process run (same records in the same order, numbers within 1e-5 relative); a worker killed with
// SIGKILL mid-job; resuming; failing jobs; an unreachable or password-protected Redis.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { scanRecords, type DatasetRecord } from "../../lib/dataset/records.js";
import { parseQueueUrl } from "../../lib/queue/connection.js";
import { planJobs } from "../../lib/queue/jobs.js";
import { enqueueJobs } from "../../lib/queue/producer.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { repoRoot, sharedFixtures, tempDir } from "../helpers.js";
import { freePort, redisAvailable, startRedis, type RedisServer } from "../helpers/redis.js";

const CLI = path.join(repoRoot, "dist/cli/index.js");
const WINOMT = path.join(sharedFixtures, "winomt/en.txt");
const ROWS = 300;
const DATA = ["--dataset", WINOMT, "--no-header", "--column-names", "gender,index,sentence,noun", "--input-text-field", "sentence", "--dataset-split", `train[:${ROWS}]`];
const RUN = [...DATA, "--model", "default", "--attribution-method", "saliency", "--generation-kwargs", '{"max_new_tokens": 3}', "--batch-size", "8"];
const ENV = { ...process.env, OMP_NUM_THREADS: "1" };

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  /** When each stderr chunk arrived (ms) and its text. */
  chunks: Array<{ t: number; text: string }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let stderr = "";
  const chunks: Proc["chunks"] = [];
  child.stderr!.on("data", (d) => {
    stderr += d;
    chunks.push({ t: Date.now(), text: String(d) });
  });
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, stderr: () => stderr, chunks, exited };
}

async function run(args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  const p = start(args);
  const { code } = await p.exited;
  return { code, stderr: p.stderr(), ms: Date.now() - t0 };
}

async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Workers on `queue`, ready (connected and waiting) when this resolves. */
async function startWorkers(n: number, url: string, queue: string, extra: string[] = []): Promise<Proc[]> {
  const workers = Array.from({ length: n }, () => start(["worker", "--queue", url, "--queue-name", queue, "--device", "cpu", ...extra]));
  await waitFor("the workers", () => workers.every((w) => w.stderr().includes("waiting for jobs")));
  return workers;
}

async function stopWorkers(workers: Proc[]): Promise<void> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGTERM");
  await Promise.all(workers.map((w) => w.exited));
}

/** The records in file order (the order is part of what is compared). */
function recordList(file: string): DatasetRecord[] {
  const out: DatasetRecord[] = [];
  scanRecords(file, (r) => void out.push(r));
  return out;
}

/** Every number within 1e-5 relative (Float32Arrays included), everything else equal; exec_time aside. */
function expectClose(a: unknown, b: unknown, where: string): void {
  const close = (x: number, y: number) => (Number.isNaN(x) && Number.isNaN(y)) || Math.abs(x - y) <= 1e-5 * Math.max(Math.abs(x), Math.abs(y)) + 1e-30;
  if (a instanceof Float32Array || b instanceof Float32Array) {
    expect(a, where).toBeInstanceOf(Float32Array);
    expect(b, where).toBeInstanceOf(Float32Array);
    const [x, y] = [a as Float32Array, b as Float32Array];
    expect(x.length, where).toBe(y.length);
    for (let i = 0; i < x.length; i++) if (!close(x[i]!, y[i]!)) expect(x[i], `${where}[${i}]`).toBe(y[i]);
  } else if (typeof a === "number" && typeof b === "number") {
    if (!close(a, b)) expect(a, where).toBe(b);
  } else if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => k !== "exec_time"));
    expect(Object.keys(a).filter((k) => k !== "exec_time").sort(), where).toEqual([...keys].sort());
    for (const k of keys) expectClose((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`);
  } else {
    expect(a, where).toEqual(b);
  }
}

/** Same records in the same order: index, texts, config, and the attribution's tensors and info. */
function expectSameOutput(file: string, expected: DatasetRecord[]): void {
  const actual = recordList(file);
  expect(actual.map((r) => r.index)).toEqual(expected.map((r) => r.index));
  actual.forEach((r, k) => {
    const e = expected[k]!;
    expect([r.input_text, r.generated_text, r.config], `row ${r.index}`).toEqual([e.input_text, e.generated_text, e.config]);
    expectClose(FeatureAttributionOutput.fromJSON(r.attribution), FeatureAttributionOutput.fromJSON(e.attribution), `row ${r.index}`);
  });
}

describe.skipIf(!redisAvailable)("dataset runs on a job queue (BullMQ on a local redis-server)", () => {
  let redis: RedisServer;
  const tmp = tempDir("queue");
  const single = path.join(tmp, "single.jsonl");
  let expected: DatasetRecord[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const r = await run(["attribute-dataset", ...RUN, "--device", "cpu", "-o", single]);
    expect(r.code, r.stderr).toBe(0);
    expected = recordList(single);
    expect(expected.map((x) => x.index)).toEqual(Array.from({ length: ROWS }, (_, i) => i));
  });
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("1 producer + 3 workers write what a single process writes", async () => {
    const out = path.join(tmp, "three.jsonl");
    const workers = await startWorkers(3, redis.url, "three");
    const r = await run(["attribute-dataset", ...RUN, "--queue", redis.url, "--queue-name", "three", "-o", out]);
    await stopWorkers(workers);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/38 jobs of run [0-9a-f]{16}, 38 enqueued, 0 already in the queue/);
    expect(r.stderr).toContain(`wrote ${ROWS} records`);
    expectSameOutput(out, expected);
    // Every worker took jobs, each loaded the model once, and no job ran twice.
    const done = workers.map((w) => [...w.stderr().matchAll(/job (\S+) \(rows [\d-]+, attempt \d\): done/g)].map((m) => m[1]!));
    for (const [k, w] of workers.entries()) {
      expect(done[k]!.length, w.stderr()).toBeGreaterThan(0);
      expect(w.stderr()).toMatch(/, 1 model load\n/);
    }
    expect(new Set(done.flat()).size).toBe(38);
    expect(done.flat().length).toBe(38);
    // Written jobs are removed from Redis.
    const client = new Redis(redis.port, "127.0.0.1");
    expect(await client.keys("bull:three:*-*-*")).toEqual([]);
    client.disconnect();
  });

  it("a worker killed with SIGKILL mid-job: its job is taken over, nothing lost or written twice", async () => {
    const out = path.join(tmp, "killed.jsonl");
    const [victim, survivor] = await startWorkers(2, redis.url, "killed", ["--lock-ms", "1000"]);
    const producer = start(["attribute-dataset", ...RUN, "--queue", redis.url, "--queue-name", "killed", "-o", out]);
    // The victim's first job starts with the model load (~1 s): killed right then, it is mid-job.
    let killedJob = "";
    await waitFor("the victim's first job", () => {
      const m = /job (\S+) \(rows [\d-]+, attempt 1\): started/.exec(victim!.stderr());
      if (m) killedJob = m[1]!;
      return m !== null;
    });
    victim!.child.kill("SIGKILL");
    expect((await victim!.exited).signal).toBe("SIGKILL");
    expect(victim!.stderr()).not.toMatch(/: done in/);
    const { code } = await producer.exited;
    await stopWorkers([survivor!]);
    expect(code, producer.stderr()).toBe(0);
    // The survivor's stalled-job check put the job back, and the survivor did it.
    expect(survivor!.stderr()).toContain(`job ${killedJob} stalled`);
    expect(survivor!.stderr()).toMatch(new RegExp(`job ${killedJob} \\(rows [\\d-]+, attempt \\d\\): done`));
    expectSameOutput(out, expected); // each index exactly once, in order
  });

  it("enqueueing the same rows again adds nothing; --resume enqueues only the rows not in the output", async () => {
    // Idempotent job ids: two rounds of enqueueing, one set of jobs.
    const conn = parseQueueUrl(redis.url);
    const client = new Redis({ ...conn.options, maxRetriesPerRequest: null });
    const queue = new Queue("twice", { connection: client });
    const examples = Array.from({ length: 20 }, (_, index) => ({ index, input: `row ${index}` }));
    const jobs = planJobs("feedc0de", examples, { start: 0, end: 20 }, 8);
    const template = { model: "default", load: {}, attributeOptions: {}, config: {}, previousConfig: null, batchSize: 8, onError: "stop" as const };
    expect(await enqueueJobs(queue, "feedc0de", jobs, template)).toEqual({ added: 3, existing: 0 });
    expect(await enqueueJobs(queue, "feedc0de", jobs, template)).toEqual({ added: 0, existing: 3 });
    expect(await queue.getJobCounts("waiting")).toEqual({ waiting: 3 });
    expect((await queue.getJob("feedc0de-16-20"))!.data.examples.map((e: { index: number }) => e.index)).toEqual([16, 17, 18, 19]);
    await queue.obliterate({ force: true });
    await queue.close();
    client.disconnect();

    // An output holding the first 100 records (and part of the next): --resume enqueues rows 100.. only, in the
    // cells of a fresh run (rows 96-103 holding 100-103, then 104-111, ..., 296-299).
    const out = path.join(tmp, "resumed.jsonl");
    const lines = readFileSync(single, "utf8").split("\n");
    writeFileSync(out, lines.slice(0, 100).join("\n") + "\n" + lines[100]!.slice(0, 200));
    const workers = await startWorkers(1, redis.url, "resume");
    const r = await run(["attribute-dataset", ...RUN, "--queue", redis.url, "--queue-name", "resume", "-o", out, "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/26 jobs of run [0-9a-f]{16}, 26 enqueued, 0 already in the queue/);
    expect(r.stderr).toContain("wrote 200 records");
    expect(r.stderr).toContain("dropped an interrupted last record (200 bytes)");
    expectSameOutput(out, expected);
    // Everything done: a second --resume has nothing to enqueue and leaves the file as it is.
    const before = readFileSync(out);
    const again = await run(["attribute-dataset", ...RUN, "--queue", redis.url, "--queue-name", "resume", "-o", out, "--resume"]);
    await stopWorkers(workers);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`wrote 0 records`);
    expect(again.stderr).toContain(`${ROWS} already done`);
    expect(readFileSync(out).equals(before)).toBe(true);
  });

  it("a producer killed mid-run: --resume collects what the workers finished meanwhile, and writes each row once", async () => {
    const out = path.join(tmp, "producer-killed.jsonl");
    const workers = await startWorkers(2, redis.url, "producer-killed");
    const args = ["attribute-dataset", ...RUN, "--queue", redis.url, "--queue-name", "producer-killed", "-o", out];
    const first = start(args);
    await waitFor("40 records", () => {
      try {
        return readFileSync(out, "utf8").split("\n").length > 40;
      } catch {
        return false;
      }
    });
    first.child.kill("SIGKILL");
    await first.exited;
    const partial = recordList(out).length;
    expect(partial).toBeGreaterThanOrEqual(40);
    expect(partial).toBeLessThan(ROWS);
    await new Promise((r) => setTimeout(r, 1500)); // the workers go on with the queue meanwhile
    const r = await run([...args, "--resume"]);
    await stopWorkers(workers);
    expect(r.code, r.stderr).toBe(0);
    const m = /(\d+) jobs of run [0-9a-f]{16}, (\d+) enqueued, (\d+) already in the queue/.exec(r.stderr)!;
    expect(Number(m[3])).toBeGreaterThan(0); // jobs of the killed run, collected rather than enqueued again
    expect(Number(m[2]) + Number(m[3])).toBe(Number(m[1]));
    expectSameOutput(out, expected);
    // Every job ran once across both producers: the jobs already finished were not recomputed.
    const done = workers.flatMap((w) => [...w.stderr().matchAll(/job (\S+) \(rows [\d-]+, attempt \d\): done/g)].map((x) => x[1]!));
    expect(done.length).toBe(38);
    expect(new Set(done).size).toBe(38);
  });

  it("--model-dir-map and --attribution-aggregators: workers load the mapped directory and aggregate before saving", async () => {
    const agg = ["--dataset-split", "train[:24]", "--attribution-aggregators", "mean"];
    const ref = path.join(tmp, "agg-single.jsonl");
    const single1 = await run(["attribute-dataset", ...RUN, ...agg, "--device", "cpu", "-o", ref]);
    expect(single1.code, single1.stderr).toBe(0);
    const out = path.join(tmp, "agg-queue.jsonl");
    const workers = await startWorkers(1, redis.url, "mapped", ["--model-dir-map", "team/tiny-model=default"]);
    const r = await run(["attribute-dataset", ...RUN.map((a) => (a === "default" ? "team/tiny-model" : a)), ...agg, "--queue", redis.url, "--queue-name", "mapped", "-o", out]);
    await stopWorkers(workers);
    expect(r.code, r.stderr).toBe(0);
    const want = recordList(ref).map((x) => ({ ...x, config: { ...x.config, model: "team/tiny-model" } }));
    expect(want[0]!.config!.attribution_aggregators).toEqual(["mean"]);
    expectSameOutput(out, want);
  });

  it("a job that fails on the workers: ERR_QUEUE naming its rows, or its rows skipped with --on-error skip", async () => {
    const missing = path.join(tmp, "no-such-model");
    const args = [...DATA, "--dataset-split", "train[:12]", "--model", missing, "--queue", redis.url, "--queue-name", "failing"];
    const workers = await startWorkers(1, redis.url, "failing");
    const stop = await run(["attribute-dataset", ...args, "-o", path.join(tmp, "failing.jsonl")]);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toMatch(/Job [0-9a-f]{16}-0-8 \(rows 0-7\) failed after 1 attempt: .*no-such-model.* \[ERR_NOT_FOUND\] .*\[ERR_QUEUE\]/);
    const skip = await run(["attribute-dataset", ...args, "-o", path.join(tmp, "skipped.jsonl"), "--on-error", "skip", "--queue-name", "failing"]);
    await stopWorkers(workers);
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.stderr).toMatch(/skipped row 0: .*\[ERR_QUEUE\]/);
    expect(skip.stderr).toContain("wrote 0 records");
    expect(skip.stderr).toContain("12 skipped");
  });

  it("a job failing on a worker is retried with exponential backoff, then ERR_QUEUE after its 3 attempts", async () => {
    // A device no machine has: ERR_DEVICE, which a retry could fix on another worker, so it is retried.
    const [flaky] = await startWorkers(1, redis.url, "retried", ["--device", "cuda:99"]); // the last --device counts
    const r = await run(["attribute-dataset", ...DATA, "--dataset-split", "train[:8]", "--model", "default", "--queue", redis.url, "--queue-name", "retried", "-o", path.join(tmp, "retried.jsonl")]);
    await stopWorkers([flaky!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Job [0-9a-f]{16}-0-8 \(rows 0-7\) failed after 3 attempts: .*cuda:99.*\[ERR_DEVICE\] .*\[ERR_QUEUE\]/);
    const started = (n: number) => flaky!.chunks.find((c) => c.text.includes(`attempt ${n}): started`))!.t;
    expect(started(2) - started(1)).toBeGreaterThanOrEqual(900); // backoff 1 s
    expect(started(3) - started(2)).toBeGreaterThanOrEqual(1900); // then 2 s
    expect(flaky!.stderr()).not.toContain("attempt 4");
  });

  it("an unreachable Redis fails at once with ERR_QUEUE; passwords never reach a message", async () => {
    const port = await freePort();
    const url = `redis://ann:Sup3rS3cret@127.0.0.1:${port}`;
    for (const args of [["attribute-dataset", ...RUN, "--queue", url, "-o", path.join(tmp, "unreachable.jsonl")], ["worker", "--queue", url]]) {
      const r = await run(args);
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(5_000); // no retry loop (about 0.4 s here)
      expect(r.stderr).toContain(`Cannot reach Redis at redis://ann:***@127.0.0.1:${port}`);
      expect(r.stderr).toContain("[ERR_QUEUE]");
      expect(r.stderr).not.toContain("Sup3rS3cret");
    }
    // A Redis with a password: a wrong one is refused (ERR_QUEUE, not echoed), the right one connects.
    const locked = await startRedis(["--requirepass", "R1ghtPw"]);
    try {
      const wrong = await run(["worker", "--queue", `redis://:Wr0ngPw@127.0.0.1:${locked.port}`]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: .*(WRONGPASS|invalid password).*\[ERR_QUEUE\]/);
      expect(wrong.stderr).not.toContain("Wr0ngPw");
      const right = await run(["worker", "--queue", `redis://:R1ghtPw@127.0.0.1:${locked.port}`, "--idle-exit", "0.5"]);
      expect(right.code, right.stderr).toBe(0);
      expect(right.stderr).toContain(`waiting for jobs on queue inseq-dataset at redis://:***@127.0.0.1:${locked.port}`);
      expect(right.stderr).toContain("0 jobs done, 0 failed, 0 model loads");
      expect(right.stderr).not.toContain("R1ghtPw");
    } finally {
      await locked.stop();
    }
  });
});

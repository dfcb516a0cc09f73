import { Command, Option } from "commander";

import { ErrorCode, InseqError } from "../../core/errors.js";
import type { DeviceOption } from "../../models/load-model.js";
import { parseQueueUrl } from "../../queue/connection.js";
import { DEFAULT_QUEUE_NAME } from "../../queue/jobs.js";
import { runWorker } from "../../queue/worker.js";
import { intOption, numberOption } from "../parse.js";
import { trustRemoteCodeOption } from "../model-options.js";
import { applySaveAggregation, type SaveAggregation } from "../save-aggregation.js";

/** `--model-dir-map id=dir` (repeatable): the producer's model id or path → a directory on this machine. */
function collectModelDir(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0 || eq === value.length - 1) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected id=dir (the producer's --model, then a directory here) for --model-dir-map but received ${JSON.stringify(value)}`);
  }
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export function makeWorkerCommand(): Command {
  return new Command("worker")
    .description("attribute the jobs that `attribute-dataset --queue` enqueues (run any number, on any machines); one model load per worker")
    .requiredOption("--queue <url>", "the Redis of the queue: redis://[user:password@]host[:port][/db] or rediss://; without a password in the URL, $INSEQ_QUEUE_PASSWORD")
    .option("--queue-name <name>", "the BullMQ queue (the producer's --queue-name)", DEFAULT_QUEUE_NAME)
    .option("--model-dir-map <id=dir>", "load the producer's --model ID from DIR on this machine (repeatable)", collectModelDir)
    .addOption(new Option("--device <device>", "device").default("auto"))
    .option("--offline", "never touch the network (also HF_HUB_OFFLINE=1)")
    .addOption(trustRemoteCodeOption())
    .option("--max-jobs <n>", "stop after N jobs", intOption)
    .option("--idle-exit <seconds>", "stop after this many seconds without a job", numberOption)
    .option("--lock-ms <ms>", "job lock and stalled-check interval: a dead worker's job goes back to the queue after about twice this", intOption, 30_000)
    .action(async (opts) => {
      const conn = parseQueueUrl(opts.queue);
      if (opts.maxJobs !== undefined && opts.maxJobs < 1) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a positive integer for --max-jobs but received ${opts.maxJobs}`);
      if (opts.idleExit !== undefined && !(opts.idleExit > 0)) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a positive number of seconds for --idle-exit but received ${opts.idleExit}`);
      if (!(opts.lockMs >= 100)) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected at least 100 (ms) for --lock-ms but received ${opts.lockMs}`);
      // SIGINT / SIGTERM: finish the current job, then stop; a second signal stops at once (the job is taken over).
      const ac = new AbortController();
      const stop = (sig: NodeJS.Signals) => {
        if (ac.signal.aborted) process.exit(128 + (sig === "SIGINT" ? 2 : 15));
        process.stderr.write(`inseq worker: ${sig}: stopping after the current job (again to stop now)\n`);
        ac.abort();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      const stats = await runWorker({
        connection: conn, queueName: opts.queueName, device: opts.device as DeviceOption, offline: opts.offline,
        trustRemoteCode: opts.trustRemoteCode, modelDirMap: opts.modelDirMap, maxJobs: opts.maxJobs,
        idleExitMs: opts.idleExit !== undefined ? opts.idleExit * 1000 : undefined, lockMs: opts.lockMs,
        transform: (out, job) => applySaveAggregation(out, job.aggregation as SaveAggregation),
        signal: ac.signal, log: (line) => void process.stderr.write(`inseq worker: ${line}\n`),
      });
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.stderr.write(`inseq worker: ${stats.completed} job${stats.completed === 1 ? "" : "s"} done, ${stats.failed} failed, ${stats.modelsLoaded} model load${stats.modelsLoaded === 1 ? "" : "s"}\n`);
    });
}

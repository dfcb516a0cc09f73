/**
 * `inseq serve`: the HTTP server of lib/serve (docs/serve.md). Loopback by default; the token comes from a file
 * or INSEQ_SERVE_TOKEN, never from a flag value that `ps` and shell histories show.
 */
import { readFileSync } from "node:fs";

import { Command, Option } from "commander";

import { ErrorCode, InseqError } from "../../core/errors.js";
import type { DeviceOption, DtypeOption } from "../../models/load-model.js";
import { DEFAULT_LIMITS } from "../../serve/limits.js";
import { createServer, type ServeOptions } from "../../serve/server.js";
import { intOption } from "../parse.js";

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The token: --token-file's first line, else INSEQ_SERVE_TOKEN; none = no auth. */
export function readToken(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (cause) {
      throw new InseqError(ErrorCode.NOT_FOUND, `Expected a readable file for --token-file but received ${JSON.stringify(file)} (${(cause as Error).message})`, { cause });
    }
    const token = text.split(/\r?\n/)[0]!.trim();
    if (token.length === 0) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a token on the first line of --token-file but received an empty line (${file})`);
    return token;
  }
  const env_ = env.INSEQ_SERVE_TOKEN;
  return env_ !== undefined && env_.length > 0 ? env_ : undefined;
}

export function makeServeCommand(): Command {
  return new Command("serve")
    .description("serve models over HTTP: generate, attribute (JSON or server-sent events), attribute-context, aggregate, results (docs/serve.md)")
    .option("--host <host>", "address to bind (0.0.0.0 exposes the server to the network)", "127.0.0.1")
    .option("--port <n>", "port (0 = a free port; the URL is logged)", intOption, 8080)
    .option("--model <id|dir>", "model to load at start (repeatable; also allowed)", collect, [])
    .option("--allow <id|dir|glob>", "model id, directory or glob a request may load (repeatable; \"default\" is always allowed unless --no-default)", collect, [])
    .option("--no-default", "do not allow the bundled default model")
    .option("--token-file <file>", "require `Authorization: Bearer <token>` with the token on this file's first line (or set INSEQ_SERVE_TOKEN)")
    .option("--cors <origin>", "allow this origin by CORS (repeatable; default: CORS off)", collect, undefined)
    .option("--queue-size <n>", "requests waiting per model before 429", intOption, 8)
    .option("--concurrency <n>", "requests running per model", intOption, 1)
    .option("--max-input-tokens <n>", "tokens of one request's texts", intOption, DEFAULT_LIMITS.maxInputTokens)
    .option("--max-new-tokens <n>", "maxNewTokens of one request", intOption, DEFAULT_LIMITS.maxNewTokens)
    .option("--max-n-steps <n>", "nSteps / nSamples of one request's method arguments", intOption, DEFAULT_LIMITS.maxNSteps)
    .option("--max-batch <n>", "inputs of one request", intOption, DEFAULT_LIMITS.maxBatch)
    .option("--request-timeout <ms>", "time limit of one request, queueing included (ms)", intOption, DEFAULT_LIMITS.requestTimeoutMs)
    .option("--max-results <n>", "results kept for download", intOption, 256)
    .addOption(new Option("--device <device>", "device of the models").default("auto"))
    .addOption(new Option("--dtype <dtype>", "weights dtype").choices(["float32", "float16", "bfloat16"]).default("float32"))
    .option("--offline", "never touch the network (also HF_HUB_OFFLINE=1)")
    .addOption(new Option("--log-level <level>", "log level").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"))
    .action(async (opts) => {
      const options: ServeOptions = {
        models: opts.model, allow: opts.allow, allowDefault: opts.default !== false,
        token: readToken(opts.tokenFile), cors: opts.cors,
        queueSize: opts.queueSize, concurrency: opts.concurrency,
        maxInputTokens: opts.maxInputTokens, maxNewTokens: opts.maxNewTokens, maxNSteps: opts.maxNSteps, maxBatch: opts.maxBatch,
        requestTimeoutMs: opts.requestTimeout, maxResults: opts.maxResults,
        device: opts.device as DeviceOption, dtype: opts.dtype as DtypeOption, offline: opts.offline, logLevel: opts.logLevel,
      };
      const server = await createServer(options);
      const stop = () => {
        server.app.log.info("inseq serve stopping");
        server.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await server.listen({ host: opts.host, port: opts.port });
    });
}

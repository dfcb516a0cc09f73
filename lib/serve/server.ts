/**
 * createServer(): the library behind HTTP (Fastify). Schema-validated bodies, one bounded queue per model,
 * cancellation when a client goes away, request timeouts, optional bearer auth, CORS off by default, pino JSON
 * logs with request ids, /healthz, /metrics, /openapi.json. `inseq serve` is this plus flags; an application can
 * embed it (`server.app` is the Fastify instance).
 *
 * @example
 * const server = await createServer({ allow: ["default"], token: process.env.INSEQ_SERVE_TOKEN });
 * const url = await server.listen({ port: 8080 });   // http://127.0.0.1:8080
 * ...
 * await server.close();                              // stops listening and disposes the models
 */
import { randomUUID } from "node:crypto";

import cors from "@fastify/cors";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";

import { ErrorCode, InseqError } from "../core/errors.js";
import { packageVersion } from "../core/paths.js";
import type { DeviceOption, DtypeOption } from "../models/load-model.js";
import { cudaMemory } from "../runtime.js";
import { bearerChecker, isPublicRoute, unauthorized } from "./auth.js";
import type { ServeContext } from "./context.js";
import { errorBody, toHttpError } from "./errors.js";
import { DEFAULT_LIMITS, type ServeLimits } from "./limits.js";
import { ModelPool } from "./model-pool.js";
import { ResultsStore } from "./results-store.js";
import { registerInfoRoutes } from "./routes-info.js";
import { registerWorkRoutes } from "./routes-work.js";
import { createServeMetrics } from "./serve-metrics.js";
import { registerViewerRoutes } from "./viewer-route.js";
import { routeLabel } from "./work.js";

export interface ServeOptions extends Partial<ServeLimits> {
  /** Models loaded at start (and allowed). */
  models?: readonly string[];
  /** Model ids, directories or globs a request may load. "default" (the bundled model) is allowed unless `allowDefault: false`. */
  allow?: readonly string[];
  allowDefault?: boolean;
  /** Jobs waiting per model beyond the running ones (default 8); one more is ERR_QUEUE_FULL (429). */
  queueSize?: number;
  /** Jobs running at once per model (default 1; native jobs of a process run one at a time anyway). */
  concurrency?: number;
  /** Bearer token required on every route but /healthz and the viewer's files; none: no auth. */
  token?: string;
  /** Origins allowed by CORS (default none: CORS off). */
  cors?: string | readonly string[];
  /** Results kept for download (default 256) and their total bytes (default 256 MiB); the oldest go first. */
  maxResults?: number;
  maxResultBytes?: number;
  /** Largest request body (default 16 MiB: /v1/aggregate takes whole documents). */
  bodyLimit?: number;
  device?: DeviceOption;
  dtype?: DtypeOption;
  offline?: boolean;
  /** pino level (default "info"); "silent" for none. */
  logLevel?: string;
  /** Where the JSON log lines go (default stdout). */
  logStream?: NodeJS.WritableStream;
}

export interface InseqServer {
  /** The Fastify instance (routes registered, not listening). */
  readonly app: FastifyInstance;
  readonly context: ServeContext;
  /** Listens (default 127.0.0.1, port 8080; 0 = a free port) and resolves to the URL. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /** Stops listening, then disposes the loaded models. */
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 0) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected an integer >= 0 for ${name} but received ${String(value)}`);
  return v;
}

/** Memory per device in use by the loaded models (cpu: the resident set). */
function deviceMemory(pool: ModelPool): Array<{ device: string; bytes: number }> {
  const out = [{ device: "cpu", bytes: process.memoryUsage.rss() }];
  const cuda = new Set(pool.entries().map((e) => e.model?.info.device).filter((d): d is string => typeof d === "string" && d.startsWith("cuda")));
  for (const d of cuda) {
    try {
      out.push({ device: d, bytes: cudaMemory(Number(d.split(":")[1] ?? 0)).peakAllocatedBytes });
    } catch {
      // a LibTorch without CUDA memory stats: no sample
    }
  }
  return out;
}

export async function createServer(options: ServeOptions = {}): Promise<InseqServer> {
  const limits: ServeLimits = {
    maxInputTokens: positive("maxInputTokens", options.maxInputTokens, DEFAULT_LIMITS.maxInputTokens),
    maxNewTokens: positive("maxNewTokens", options.maxNewTokens, DEFAULT_LIMITS.maxNewTokens),
    maxNSteps: positive("maxNSteps", options.maxNSteps, DEFAULT_LIMITS.maxNSteps),
    maxBatch: positive("maxBatch", options.maxBatch, DEFAULT_LIMITS.maxBatch),
    requestTimeoutMs: positive("requestTimeoutMs", options.requestTimeoutMs, DEFAULT_LIMITS.requestTimeoutMs),
  };
  const preload = [...(options.models ?? [])];
  const allow = [...(options.allowDefault === false ? [] : ["default"]), ...(options.allow ?? []), ...preload];
  const pool = new ModelPool({
    allow, queueSize: positive("queueSize", options.queueSize, 8), concurrency: Math.max(1, positive("concurrency", options.concurrency, 1)),
    device: options.device, dtype: options.dtype, offline: options.offline,
  });
  const store = new ResultsStore(positive("maxResults", options.maxResults, 256), positive("maxResultBytes", options.maxResultBytes, 256 * 2 ** 20));
  const metrics = createServeMetrics(pool, store, () => deviceMemory(pool));
  const context: ServeContext = { pool, store, limits, metrics, startedAt: Date.now() };
  const checkToken = options.token !== undefined ? bearerChecker(options.token) : null;

  const logger: FastifyServerOptions["logger"] = {
    level: options.logLevel ?? "info",
    redact: { paths: ["req.headers.authorization", "headers.authorization", "authorization"], censor: "[redacted]" },
    ...(options.logStream ? { stream: options.logStream } : {}),
  };
  const app = Fastify({
    logger,
    bodyLimit: options.bodyLimit ?? 16 * 2 ** 20,
    requestIdHeader: false,
    genReqId: (req) => {
      const h = req.headers["x-request-id"];
      return typeof h === "string" && REQUEST_ID.test(h) ? h : randomUUID();
    },
    // Bodies as sent: no coercion, no silent removal of unknown properties (they are ERR_UNKNOWN_OPTION).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, verbose: true, strict: false } },
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "inseq serve", version: packageVersion(), description: "Feature attribution for sequence generation models over HTTP (docs/serve.md)" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      ...(checkToken ? { security: [{ bearer: [] }] } : {}),
    },
  });
  if (options.cors !== undefined) {
    await app.register(cors, { origin: typeof options.cors === "string" ? options.cors : [...options.cors], exposedHeaders: ["x-request-id", "retry-after"] });
  }

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
    if (checkToken && !isPublicRoute(request.method, request.url) && !checkToken(request.headers.authorization)) {
      reply.header("www-authenticate", 'Bearer realm="inseq"');
      throw unauthorized();
    }
  });
  app.addHook("onResponse", async (request, reply) => {
    metrics.requestDuration.observe({ route: routeLabel(request), status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler(async (err, request, reply) => {
    const e = toHttpError(err);
    if (e.status >= 500) request.log.error({ err }, "request failed");
    if (e.retryAfterS !== undefined) reply.header("retry-after", String(e.retryAfterS));
    return reply.code(e.status).send(errorBody(e, request.id));
  });
  app.setNotFoundHandler(async (request, reply) => {
    const e = toHttpError(new InseqError(ErrorCode.NOT_FOUND, `Expected a route of inseq serve for ${request.method} but received ${JSON.stringify(request.url.split("?")[0])}`));
    return reply.code(404).send(errorBody(e, request.id));
  });

  registerInfoRoutes(app, context);
  registerWorkRoutes(app, context);
  registerViewerRoutes(app);
  app.get("/openapi.json", { schema: { summary: "This API as an OpenAPI 3 document" } }, async () => app.swagger());
  app.addHook("onClose", async () => pool.close());

  for (const name of preload) await pool.get(name);

  return {
    app,
    context,
    async listen({ host = "127.0.0.1", port = 8080 } = {}) {
      await app.listen({ host, port });
      const addr = app.server.address();
      const actual = typeof addr === "object" && addr ? addr.port : port;
      const shownHost = host.includes(":") ? `[${host}]` : host;
      const url = `http://${shownHost}:${actual}`;
      app.log.info({ url, models: preload, auth: checkToken !== null, cors: options.cors ?? false }, "inseq serve listening");
      return url;
    },
    close: () => app.close(),
  };
}

/**
 * One model job of a request, from admission to answer: the bounded queue (429 before anything is sent), an
 * AbortSignal fired by a client that goes away or by the request timeout, progress and the result as
 * server-sent events (`Accept: text/event-stream`) or one JSON reply.
 */
import type { FastifyReply, FastifyRequest } from "fastify";

import { ErrorCode, InseqError } from "../core/errors.js";
import type { ServeContext } from "./context.js";
import { toHttpError } from "./errors.js";
import type { PoolEntry } from "./model-pool.js";
import { openEventStream, wantsEventStream, type SseStream } from "./sse.js";

export interface JobControl {
  signal: AbortSignal;
  onProgress: (done: number, total: number) => void;
}

export interface WorkSpec {
  entry: PoolEntry;
  /** Runs the job; resolves to the reply's JSON text. */
  job: (control: JobControl) => Promise<string>;
}

const CLIENT_GONE = "client disconnected";

/** The route label of metrics. */
export function routeLabel(request: FastifyRequest): string {
  return request.routeOptions.url ?? "unknown";
}

export async function runWork(ctx: ServeContext, request: FastifyRequest, reply: FastifyReply, spec: WorkSpec): Promise<void> {
  const t0 = performance.now();
  const route = routeLabel(request);
  const model = spec.entry.ref.id;
  const controller = new AbortController();
  let disconnectedAt = 0;
  let timedOut = false;
  // A response closed before it finished: the client went away.
  const onClose = () => {
    if (reply.raw.writableFinished || controller.signal.aborted) return;
    disconnectedAt = performance.now();
    controller.abort(new InseqError(ErrorCode.ABORTED, CLIENT_GONE));
  };
  reply.raw.on("close", onClose);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new InseqError(ErrorCode.TIMEOUT, "request timeout"));
  }, ctx.limits.requestTimeoutMs);
  const sse: { stream: SseStream | null } = { stream: null };
  const wantsSse = wantsEventStream(request);
  const outcome = (o: string) => ctx.metrics.jobs.inc({ model, route, outcome: o });
  // Gone already (while its model loaded or its texts were counted): no job.
  if (request.raw.socket?.destroyed) {
    clearTimeout(timer);
    reply.raw.off("close", onClose);
    outcome("aborted");
    request.log.info({ model, abortMs: 0 }, "job aborted: client disconnected");
    return;
  }
  try {
    const json = await spec.entry.queue.run(
      () => spec.job({
        signal: controller.signal,
        onProgress: (done, total) => sse.stream?.send("progress", { done, total }),
      }),
      controller.signal,
      {
        onQueued: (position) => {
          if (wantsSse && !sse.stream) sse.stream = openEventStream(request, reply, ctx.sseHeartbeatMs);
          sse.stream?.send("queued", { requestId: request.id, position });
        },
        onStarted: () => sse.stream?.send("started", { requestId: request.id }),
      },
    );
    outcome("ok");
    if (sse.stream) {
      sse.stream.sendRaw("result", json);
      sse.stream.end();
      ctx.metrics.requestDuration.observe({ route, status: "200" }, (performance.now() - t0) / 1000);
    } else {
      await reply.type("application/json; charset=utf-8").send(json);
    }
  } catch (err) {
    let e: unknown = err;
    if (disconnectedAt > 0) {
      outcome("aborted");
      request.log.info({ model, abortMs: Math.round(performance.now() - disconnectedAt) }, "job aborted: client disconnected");
      return;
    }
    if (timedOut) {
      e = new InseqError(ErrorCode.TIMEOUT, `Expected an answer within the server's requestTimeoutMs (${ctx.limits.requestTimeoutMs} ms) for the request but received none in time`);
      outcome("timeout");
    } else {
      outcome((err as InseqError)?.code === ErrorCode.QUEUE_FULL ? "rejected" : "error");
    }
    if (!sse.stream) throw e;
    const h = toHttpError(e);
    if (h.status >= 500) request.log.error({ err: e }, "job failed");
    sse.stream.send("error", { code: h.code, message: h.message });
    sse.stream.end();
    ctx.metrics.requestDuration.observe({ route, status: String(h.status) }, (performance.now() - t0) / 1000);
  } finally {
    clearTimeout(timer);
    reply.raw.off("close", onClose);
  }
}

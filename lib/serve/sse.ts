/**
 * Server-sent events for the long routes (`Accept: text/event-stream`): the reply is taken over from Fastify
 * (hijacked), each event is `event: <name>\ndata: <json>\n\n`, and the stream ends after `result` or `error`.
 */
import type { FastifyReply, FastifyRequest } from "fastify";

export interface SseStream {
  send(event: string, data: unknown): void;
  /** Sends a pre-serialised JSON payload (the result document is not parsed again). */
  sendRaw(event: string, json: string): void;
  end(): void;
  readonly closed: boolean;
}

export function wantsEventStream(request: FastifyRequest): boolean {
  return /\btext\/event-stream\b/.test(request.headers.accept ?? "");
}

/** Starts the event stream on `reply` (status 200, no buffering). */
export function openEventStream(request: FastifyRequest, reply: FastifyReply, headers: Record<string, string> = {}): SseStream {
  // Headers already set on the reply (CORS, x-request-id) go out with the stream.
  const set = Object.fromEntries(Object.entries(reply.getHeaders()).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    ...set,
    ...headers,
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
    "x-request-id": request.id,
  });
  res.flushHeaders();
  let closed = false;
  res.on("close", () => (closed = true));
  const write = (event: string, json: string) => {
    if (closed || res.writableEnded) return;
    res.write(`event: ${event}\ndata: ${json}\n\n`);
  };
  return {
    send: (event, data) => write(event, JSON.stringify(data)),
    sendRaw: write,
    end: () => {
      if (!res.writableEnded) res.end();
    },
    get closed() {
      return closed;
    },
  };
}

/**
 * A fake "simple" package index on 127.0.0.1 for setup-torch tests: PEP 691 JSON or PEP 503 HTML project pages,
 * wheel files with Range support, a request log and switchable faults; plus a loopback-only forward proxy.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface ServedWheel {
  /** Project name as listed (`nvidia-cuda-runtime`). */
  name: string;
  file: string;
  bytes: Buffer;
}

export interface LoggedRequest {
  url: string;
  range?: string;
  status: number;
}

/** Faults and variants, changeable between requests. */
export interface IndexBehaviour {
  /** Serve PEP 503 HTML pages instead of PEP 691 JSON. */
  html: boolean;
  /** Answer every project page with this status (404, 500). */
  pageStatus?: number;
  /** Files whose next download is cut (socket destroyed) after half the body; consumed once. */
  cutOnce: Set<string>;
  /** Files whose download sends half the body and then stalls (never ends by itself). */
  stall: Set<string>;
  /** Answer Range requests with 200 and the whole file. */
  ignoreRange: boolean;
  /** sha256 the pages list for a file, instead of the served bytes' one. */
  listedSha256: Map<string, string>;
  /** Bytes served for a file instead of the listed ones (same size). */
  servedBytes: Map<string, Buffer>;
  /** Files left out of the pages. */
  unlisted: Set<string>;
}

export interface FakeIndex {
  /** `http://127.0.0.1:<port>/simple` */
  url: string;
  requests: LoggedRequest[];
  behaviour: IndexBehaviour;
  /** Requests for wheel files only. */
  fileRequests(): LoggedRequest[];
  close(): Promise<void>;
}

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

const normalize = (n: string) => n.toLowerCase().replace(/[-_.]+/g, "-");

function listing(wheels: ServedWheel[], b: IndexBehaviour): { json: string; html: string } {
  const files = wheels
    .filter((w) => !b.unlisted.has(w.file))
    .map((w) => ({ filename: w.file, url: `../../files/${w.file}`, hash: b.listedSha256.get(w.file) ?? sha256(w.bytes), size: w.bytes.length }));
  const json = JSON.stringify({
    meta: { "api-version": "1.1" },
    name: wheels[0]?.name ?? "",
    files: files.map((f) => ({ filename: f.filename, url: f.url, hashes: { sha256: f.hash }, size: f.size })),
  });
  const anchors = files.map((f) => `    <a href='${f.url}#sha256=${f.hash}' data-requires-python="&gt;=3.10">${f.filename}</a><br/>`);
  const html = `<!DOCTYPE html>\n<html>\n  <body>\n    <h1>Links</h1>\n${anchors.join("\n")}\n  </body>\n</html>\n`;
  return { json, html };
}

function serveFile(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, file: string, b: IndexBehaviour, log: LoggedRequest): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  let start = 0;
  if (range && !b.ignoreRange) {
    start = Number(range[1]);
    if (start >= body.length) {
      log.status = 416;
      res.writeHead(416, { "Content-Range": `bytes */${body.length}` }).end();
      return;
    }
    log.status = 206;
    res.writeHead(206, { "Content-Length": body.length - start, "Content-Range": `bytes ${start}-${body.length - 1}/${body.length}`, "Accept-Ranges": "bytes" });
  } else {
    log.status = 200;
    res.writeHead(200, { "Content-Length": body.length, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream" });
  }
  const rest = body.subarray(start);
  const half = rest.subarray(0, Math.floor(rest.length / 2));
  if (b.cutOnce.delete(file)) {
    res.write(half, () => setTimeout(() => res.socket?.destroy(), 20));
  } else if (b.stall.has(file)) {
    res.write(half);
  } else {
    res.end(rest);
  }
}

/** Starts an index serving `wheels` on 127.0.0.1. */
export async function startFakeIndex(wheels: ServedWheel[]): Promise<FakeIndex> {
  const requests: LoggedRequest[] = [];
  const behaviour: IndexBehaviour = {
    html: false, cutOnce: new Set(), stall: new Set(), ignoreRange: false, listedSha256: new Map(), servedBytes: new Map(), unlisted: new Set(),
  };
  const server = http.createServer((req, res) => {
    const log: LoggedRequest = { url: req.url ?? "", range: req.headers.range, status: 0 };
    requests.push(log);
    const page = /^\/simple\/([^/]+)\/$/.exec(req.url ?? "");
    const file = /^\/files\/([^/]+)$/.exec(req.url ?? "");
    if (page) {
      const project = wheels.filter((w) => normalize(w.name) === page[1]);
      log.status = behaviour.pageStatus ?? (project.length ? 200 : 404);
      if (log.status !== 200) return void res.writeHead(log.status).end("not here");
      const { json, html } = listing(project, behaviour);
      const wantsJson = (req.headers.accept ?? "").includes("application/vnd.pypi.simple.v1+json") && !behaviour.html;
      res.writeHead(200, { "Content-Type": wantsJson ? "application/vnd.pypi.simple.v1+json" : "text/html; charset=utf-8" });
      return void res.end(wantsJson ? json : html);
    }
    const wheel = file && wheels.find((w) => w.file === decodeURIComponent(file[1]!));
    if (!wheel) {
      log.status = 404;
      return void res.writeHead(404).end();
    }
    serveFile(req, res, behaviour.servedBytes.get(wheel.file) ?? wheel.bytes, wheel.file, behaviour, log);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/simple`,
    requests,
    behaviour,
    fileRequests: () => requests.filter((r) => r.url.startsWith("/files/")),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A loopback port with nothing listening on it. */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A forward proxy (CONNECT tunnels and absolute-form requests) that only reaches 127.0.0.1; logs its targets. */
export async function startLoopbackProxy(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const target = new URL(req.url ?? "");
    seen.push(target.host);
    if (target.hostname !== "127.0.0.1") return void res.writeHead(403).end();
    const upstream = http.request({ host: "127.0.0.1", port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host, port] = (req.url ?? "").split(":");
    seen.push(req.url ?? "");
    if (host !== "127.0.0.1") return void client.end("HTTP/1.1 403 Forbidden\r\n\r\n");
    const upstream = net.connect(Number(port), "127.0.0.1", () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => (s === client ? upstream : client).destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * The web viewer: GET / serves dist/viewer/index.html (built from lib/viewer) and GET /viewer/* its assets; until
 * it is built, a small page that says so.
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";

import type { FastifyInstance } from "fastify";

import { ErrorCode, InseqError } from "../core/errors.js";
import { packageRoot } from "../core/paths.js";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".map": "application/json",
};

const PLACEHOLDER = `<!doctype html><html><head><meta charset="utf-8"><title>inseq serve</title></head>
<body><h1>inseq serve</h1><p>The web viewer is not built in this installation. The API is under <code>/v1</code>;
its description is <a href="/openapi.json">/openapi.json</a>.</p></body></html>\n`;

export function viewerDir(): string {
  return path.join(packageRoot(), "dist", "viewer");
}

export function registerViewerRoutes(app: FastifyInstance, dir = viewerDir()): void {
  app.get("/", { schema: { summary: "The web viewer (text/html)" } }, async (_request, reply) => {
    const index = path.join(dir, "index.html");
    const html = existsSync(index) ? await readFile(index, "utf8") : PLACEHOLDER;
    return reply.type("text/html; charset=utf-8").send(html);
  });

  app.get<{ Params: { "*": string } }>("/viewer/*", { schema: { summary: "The viewer's assets" } }, async (request, reply) => {
    const rel = request.params["*"];
    const file = path.resolve(dir, rel);
    if (!file.startsWith(dir + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      throw new InseqError(ErrorCode.NOT_FOUND, `Expected a viewer asset for path but received ${JSON.stringify(rel)}`);
    }
    return reply.type(TYPES[path.extname(file)] ?? "application/octet-stream").send(await readFile(file));
  });
}

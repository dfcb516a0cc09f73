/** GET / and /viewer/* serve the built viewer (dist/viewer) when there is one, a placeholder page otherwise. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import Fastify from "fastify";
import { afterAll, describe, expect, it } from "vitest";

import { registerViewerRoutes } from "../../lib/serve/viewer-route.js";

const dir = mkdtempSync(path.join(tmpdir(), "inseq-viewer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("viewer routes", () => {
  it("serves index.html and assets from the viewer folder, and nothing outside it", async () => {
    writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>viewer</title>");
    mkdirSync(path.join(dir, "assets"));
    writeFileSync(path.join(dir, "assets", "app.js"), "console.log(1)");
    writeFileSync(path.join(path.dirname(dir), `${path.basename(dir)}-secret.txt`), "TOP-SECRET-CONTENT");
    const app = Fastify();
    registerViewerRoutes(app, dir);
    const index = await app.inject({ url: "/" });
    expect(index.statusCode).toBe(200);
    expect(index.headers["content-type"]).toMatch(/^text\/html/);
    expect(index.body).toBe("<!doctype html><title>viewer</title>");
    const js = await app.inject({ url: "/viewer/assets/app.js" });
    expect(js.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(js.body).toBe("console.log(1)");
    for (const url of ["/viewer/../" + `${path.basename(dir)}-secret.txt`, "/viewer/%2e%2e/" + `${path.basename(dir)}-secret.txt`, "/viewer/assets", "/viewer/missing.js"]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).not.toBe(200);
      expect(res.body).not.toContain("TOP-SECRET-CONTENT");
    }
    rmSync(path.join(path.dirname(dir), `${path.basename(dir)}-secret.txt`));
    await app.close();
  });

  it("serves a placeholder page when the viewer is not built", async () => {
    const app = Fastify();
    registerViewerRoutes(app, path.join(dir, "none"));
    const res = await app.inject({ url: "/" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/openapi\.json/);
    await app.close();
  });
});

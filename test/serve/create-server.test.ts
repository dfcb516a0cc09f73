/** The library form: createServer() embedded in-process (Fastify's inject and a real listen), and its option checks. */
import { describe, expect, it } from "vitest";

import { createServer } from "../../lib/serve/index.js";

describe("createServer", () => {
  it("serves the API in-process and on a free loopback port, then closes and disposes its models", async () => {
    const server = await createServer({ logLevel: "silent", models: ["default"], maxNewTokens: 4 });
    try {
      const gen = await server.app.inject({ method: "POST", url: "/v1/generate", payload: { model: "default", inputs: "mary went to", options: { maxNewTokens: 3 } } });
      expect(gen.statusCode).toBe(200);
      expect(JSON.parse(gen.body).texts[0]).toMatch(/^mary went to \S+/);
      const over = await server.app.inject({ method: "POST", url: "/v1/generate", payload: { model: "default", inputs: "a", options: { maxNewTokens: 5 } } });
      expect(over.statusCode).toBe(413);
      expect(JSON.parse(over.body).error.code).toBe("ERR_LIMIT");
      const url = await server.listen({ port: 0 });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const models = await (await fetch(`${url}/v1/models`)).json();
      expect(models.models[0]).toMatchObject({ id: "default", loaded: true });
    } finally {
      await server.close();
    }
    expect(server.context.pool.entries()).toHaveLength(0);
  });

  it("refuses bad options with ERR_INVALID_OPTION", async () => {
    await expect(createServer({ logLevel: "silent", queueSize: -1 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: "Expected an integer >= 0 for queueSize but received -1" });
    await expect(createServer({ logLevel: "silent", token: "" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("allows only the default model unless told otherwise, and nothing with allowDefault: false", async () => {
    const server = await createServer({ logLevel: "silent", allowDefault: false });
    try {
      const res = await server.app.inject({ method: "POST", url: "/v1/models/load", payload: { model: "default" } });
      expect(res.statusCode).toBe(403);
      expect(JSON.parse(res.body).error.code).toBe("ERR_FORBIDDEN");
    } finally {
      await server.close();
    }
  });
});

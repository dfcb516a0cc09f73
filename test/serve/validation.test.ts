/**
 * Bad bodies against a real `inseq serve`: schema rejections carry the library's codes (ERR_UNKNOWN_OPTION for an
 * unknown property, ERR_INVALID_OPTION for a bad value) and message form, and the same code as the library gives
 * for the same mistake; per-request limits answer 413 ERR_LIMIT naming the limit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { InseqError } from "../../lib/core/errors.js";
import { loadModel } from "../../lib/models/load-model.js";
import type { Model } from "../../lib/models/model.js";
import { postJson, startServe, type ServeProcess } from "../helpers/serve-process.js";

let server: ServeProcess;
let model: Model;

beforeAll(async () => {
  [server, model] = await Promise.all([startServe(["--max-batch", "2", "--max-input-tokens", "40"]), loadModel("default")]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), model?.dispose()]);
});

/** The code the library rejects `options` with. */
async function libraryCode(options: Record<string, unknown>): Promise<string> {
  const err = await model.attribute("mary went to", { generationArgs: { maxNewTokens: 2 }, ...options } as never).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InseqError);
  return (err as InseqError).code;
}

async function expectError(route: string, body: unknown, status: number, code: string, message?: RegExp): Promise<void> {
  const res = await postJson(`${server.url}${route}`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.requestId).toBe(res.headers.get("x-request-id"));
  if (message) expect(res.body.error.message).toMatch(message);
  // Each refusal is logged with its code, under the request's id.
  const logged = await server.waitForLog((l) => l.reqId === res.headers.get("x-request-id") && l.msg === "request refused", 5000);
  expect(logged).toMatchObject({ code, status });
}

describe("inseq serve: schema rejections with the library's codes", () => {
  it("an unknown top-level property is ERR_UNKNOWN_OPTION listing the valid ones", async () => {
    await expectError("/v1/attribute", { model: "default", inputs: "a", nSteps: 5 }, 400, "ERR_UNKNOWN_OPTION",
      /^Unknown option "nSteps" for the request body; valid options are: model, inputs, method, options, aggregate$/);
  });

  it("an unknown attribute option is ERR_UNKNOWN_OPTION, as in the library", async () => {
    await expectError("/v1/attribute", { model: "default", inputs: "a", options: { nStep: 5 } }, 400, "ERR_UNKNOWN_OPTION", /Unknown option "nStep" for options/);
    expect(await libraryCode({ nStep: 5 })).toBe("ERR_UNKNOWN_OPTION");
  });

  it("options the server keeps to itself (signal, memoryBudget) are unknown options", async () => {
    await expectError("/v1/attribute", { model: "default", inputs: "a", options: { memoryBudget: 1e12 } }, 400, "ERR_UNKNOWN_OPTION");
    await expectError("/v1/generate", { model: "default", inputs: "a", options: { returnIds: true } }, 400, "ERR_UNKNOWN_OPTION");
  });

  it("an unknown method argument is refused by the library's own check, with its code", async () => {
    const code = await libraryCode({ method: "integrated_gradients", methodArgs: { nStepz: 3 } });
    await expectError("/v1/attribute", { model: "default", inputs: "mary went to", method: "integrated_gradients", options: { methodArgs: { nStepz: 3 }, generationArgs: { maxNewTokens: 2 } } }, 400, code);
  });

  it("a value of the wrong type is ERR_INVALID_OPTION in the form `Expected <what> for <option> but received <value>`", async () => {
    await expectError("/v1/attribute", { model: "default", inputs: 5 }, 400, "ERR_INVALID_OPTION",
      /^Expected a string or a non-empty array of strings for inputs but received 5$/);
    await expectError("/v1/attribute", { model: "default", inputs: "a", options: { methodArgs: { nSteps: "5" } } }, 400, "ERR_INVALID_OPTION",
      /^Expected an integer for options\.methodArgs\.nSteps but received "5"$/);
    await expectError("/v1/attribute", { model: "default", inputs: "a", options: { methodArgs: { nSteps: 0 } } }, 400, "ERR_INVALID_OPTION",
      /^Expected an integer >= 1 for options\.methodArgs\.nSteps but received 0$/);
    await expectError("/v1/attribute", { model: "default", inputs: ["a", 3] }, 400, "ERR_INVALID_OPTION", /for inputs but received/);
    await expectError("/v1/attribute", { model: "default", inputs: "a", options: { generationArgs: { maxNewTokens: -1 } } }, 400, "ERR_INVALID_OPTION",
      /^Expected an integer >= 0 for options\.generationArgs\.maxNewTokens but received -1$/);
  });

  it('a flag given the string "false" is refused (never read as true), by the library and the server alike', async () => {
    for (const methodArgs of [{ multiplyByInputs: "false" }, { returnConvergenceDelta: "no" }]) {
      expect(await libraryCode({ method: "integrated_gradients", methodArgs })).toBe("ERR_INVALID_OPTION");
      await expectError("/v1/attribute", { model: "default", inputs: "mary went to", method: "integrated_gradients", options: { methodArgs, generationArgs: { maxNewTokens: 2 } } }, 400, "ERR_INVALID_OPTION",
        /^Expected a boolean for options\.methodArgs\.(multiplyByInputs|returnConvergenceDelta) but received "(false|no)"$/);
    }
  });

  it("an integer option given 1.5 is ERR_INVALID_OPTION, as in the library", async () => {
    await expectError("/v1/attribute", { model: "default", inputs: "a", options: { attrPosStart: 1.5 } }, 400, "ERR_INVALID_OPTION", /for options\.attrPosStart but received 1\.5$/);
    expect(await libraryCode({ attrPosStart: 1.5 })).toBe("ERR_INVALID_OPTION");
  });

  it("an unknown method is ERR_INVALID_OPTION naming the methods, as in the library", async () => {
    await expectError("/v1/attribute", { model: "default", inputs: "a", method: "nope" }, 400, "ERR_INVALID_OPTION", /^Expected one of "dummy", "saliency", .* for method but received "nope"$/);
    expect(await libraryCode({ method: "nope" })).toBe("ERR_INVALID_OPTION");
  });

  it("a missing required property is ERR_INVALID_OPTION naming it", async () => {
    await expectError("/v1/attribute", { model: "default" }, 400, "ERR_INVALID_OPTION", /^Expected a value for inputs but received undefined$/);
    await expectError("/v1/models/load", {}, 400, "ERR_INVALID_OPTION", /^Expected a value for model but received undefined$/);
  });

  it("a value the library checks (a forced target not starting with its prompt) is the library's error", async () => {
    const options = { generatedTexts: "john said" };
    const code = await libraryCode(options);
    await expectError("/v1/attribute", { model: "default", inputs: "mary went to", options }, 400, code, /generatedTexts\[0\]/);
  });

  it("bodies that are not JSON objects are ERR_INVALID_OPTION", async () => {
    for (const [type, body] of [["application/json", "{not json"], ["text/plain", "hello"], ["application/json", "[1,2]"]] as const) {
      const res = await fetch(`${server.url}/v1/attribute`, { method: "POST", headers: { "content-type": type }, body });
      expect(res.status, `${type} ${body}`).toBe(400);
      expect((await res.json()).error.code).toBe("ERR_INVALID_OPTION");
    }
  });

  it("the other routes validate their bodies too", async () => {
    await expectError("/v1/models/load", { model: "default", device: "gpu" }, 400, "ERR_INVALID_OPTION", /^Expected "auto", "cpu", "cuda" or "cuda:N" for device but received "gpu"$/);
    await expectError("/v1/models/unload", { model: "default", force: true }, 400, "ERR_UNKNOWN_OPTION");
    await expectError("/v1/aggregate", { aggregate: "sum" }, 400, "ERR_INVALID_OPTION", /^Expected an object with either id or output for the request body/);
    await expectError("/v1/aggregate", { id: "x", aggregate: 7 }, 400, "ERR_INVALID_OPTION", /for aggregate but received 7$/);
    await expectError("/v1/attribute-context", { model: "default", inputCurrentText: "went to", handleOutputContextStrategy: "manual" }, 400, "ERR_INVALID_OPTION");
    await expectError("/v1/attribute-context", { model: "default", inputCurrentText: "went to", onProgress: 1 }, 400, "ERR_UNKNOWN_OPTION");
    await expectError("/v1/generate", { model: "default", inputs: "a", options: { topP: 2 } }, 400, "ERR_INVALID_OPTION", /^Expected a number <= 1 for options\.topP but received 2$/);
  });
});

describe("inseq serve: per-request limits", () => {
  it("caps the library's defaults at the limits when a request leaves them out", async () => {
    const capped = await startServe(["--max-new-tokens", "5", "--max-n-steps", "10"]);
    try {
      const res = await postJson(`${capped.url}/v1/attribute`, { model: "default", inputs: "mary went to", method: "integrated_gradients" });
      expect(res.status).toBe(200);
      const info = res.body.output.attributes.info;
      expect(info.attr_pos_end - info.attr_pos_start).toBe(5);
      expect(info.attribution_args).toEqual({ n_steps: 10 });
      const gen = await postJson(`${capped.url}/v1/generate`, { model: "default", inputs: "mary went to" });
      expect(gen.body.texts[0].split(" ").length).toBe(3 + 5);
      // The library's warning (IG with 10 steps does not add up) is a JSON log line, not stderr text.
      const warning = await capped.waitForLog((l) => l.code === "INSEQ_COMPLETENESS");
      expect(warning.level).toBe(40);
      expect(capped.output()).not.toMatch(/^\(node:\d+\)/m);
    } finally {
      await capped.stop();
    }
  });

  it("nSteps over --max-n-steps is 413 ERR_LIMIT naming maxNSteps", async () => {
    await expectError("/v1/attribute", { model: "default", inputs: "a", method: "integrated_gradients", options: { methodArgs: { nSteps: 513 } } }, 413, "ERR_LIMIT",
      /^Expected at most 512 \(the server's maxNSteps\) for options\.methodArgs\.nSteps but received 513$/);
  });

  it("maxNewTokens over --max-new-tokens is ERR_LIMIT, for generate and attribute", async () => {
    await expectError("/v1/generate", { model: "default", inputs: "a", options: { maxNewTokens: 257 } }, 413, "ERR_LIMIT", /maxNewTokens/);
    await expectError("/v1/attribute", { model: "default", inputs: "a", options: { generationArgs: { maxNewTokens: 1000 } } }, 413, "ERR_LIMIT", /maxNewTokens/);
  });

  it("more inputs than --max-batch is ERR_LIMIT naming maxBatch", async () => {
    await expectError("/v1/attribute", { model: "default", inputs: ["a", "b", "c"] }, 413, "ERR_LIMIT", /the server's maxBatch\) for inputs but received array of length 3/);
  });

  it("texts over --max-input-tokens (counted with the tokenizer) are ERR_LIMIT naming maxInputTokens", async () => {
    const long = Array.from({ length: 25 }, () => "mary went").join(" ");
    await expectError("/v1/attribute", { model: "default", inputs: long }, 413, "ERR_LIMIT", /maxInputTokens\) for the request's texts but received "\d+ tokens"/);
    // Just under the limit runs.
    const ok = await postJson(`${server.url}/v1/attribute`, { model: "default", inputs: "mary went to", options: { generationArgs: { maxNewTokens: 2 } } });
    expect(ok.status).toBe(200);
  });
});

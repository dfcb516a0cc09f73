/** The model routes: generate, attribute, attribute-context, and aggregate (no model: a stored or posted result). */
import type { FastifyInstance } from "fastify";

import type { AggregatorInput } from "../aggregators/pipeline.js";
import { ATTRIBUTE_OPTIONS, SEQ2SEQ_OPTIONS, type AttributeOptions } from "../attribution/options.js";
import { methodOrDefault } from "../attribution/registry.js";
import { attributeContext } from "../context/attribute-context.js";
import type { AttributeContextOptions } from "../context/types.js";
import { ErrorCode, InseqError } from "../core/errors.js";
import { checkOptions } from "../core/options.js";
import type { AnyModel } from "../models/load-model.js";
import { FeatureAttributionOutput, type OutputAggregateOptions } from "../results/attribution.js";
import type { ServeContext } from "./context.js";
import { capMethodArgs, capNewTokens, checkBatch, checkInputTokens, checkMethodArgs, checkNewTokens } from "./limits.js";
import { AGGREGATE_BODY, ATTRIBUTE_BODY, ATTRIBUTE_CONTEXT_BODY, ERROR_RESPONSE, GENERATE_BODY } from "./schemas.js";
import { runWork } from "./work.js";

interface GenerateBody { model: string; inputs: string | string[]; options?: Record<string, unknown> }
interface AttributeBody { model: string; inputs: string | string[]; method?: string; options?: Omit<AttributeOptions, "signal" | "onProgress">; aggregate?: AggregatorInput }
type AttributeContextBody = { model: string } & Omit<AttributeContextOptions, "signal" | "onProgress">;
interface AggregateBody { id?: string; output?: Record<string, unknown>; aggregate: AggregatorInput; options?: OutputAggregateOptions }

const list = (x: string | string[]): string[] => (typeof x === "string" ? [x] : x);

/** What the routes call on either model kind (both classes have these; the union's overloads do not merge). */
interface Callable {
  generate(texts: string[], options: Record<string, unknown>): Promise<string[]>;
  attribute(texts: string[], options: Record<string, unknown>): Promise<FeatureAttributionOutput>;
}
const callable = (m: AnyModel): Callable => m as unknown as Callable;

const encoder = (m: AnyModel) => (texts: string[]) => m.tokenizer.encodeBatch(texts);

/** The model at the time a queued job starts: unloaded meanwhile, it is loaded again (the request was accepted). */
async function current(ctx: ServeContext, name: string, model: AnyModel): Promise<AnyModel> {
  return model.disposed ? (await ctx.pool.get(name)).model : model;
}

/** `{"id":…,"output":<document>}` without parsing the document again. */
const resultJson = (id: string, json: string): string => `{"id":${JSON.stringify(id)},"output":${json}}`;

/** Generated tokens attributed: the attributed steps of every sequence. */
function attributedSteps(out: FeatureAttributionOutput): number {
  return out.sequenceAttributions.reduce((n, s) => n + Math.max(0, s.attrPosEnd - s.attrPosStart), 0);
}

const reply200 = (description: string) => ({ 200: { description, type: "object", additionalProperties: true }, "4xx": ERROR_RESPONSE, "5xx": ERROR_RESPONSE });

export function registerWorkRoutes(app: FastifyInstance, ctx: ServeContext): void {
  const { limits, pool, store } = ctx;

  app.post<{ Body: GenerateBody }>("/v1/generate", {
    schema: { summary: "Continue prompts", body: GENERATE_BODY, response: reply200("{ texts }") },
  }, async (request, reply) => {
    const { model: name, inputs } = request.body;
    const texts = list(inputs);
    checkBatch(limits, texts);
    checkNewTokens(limits, "options.maxNewTokens", request.body.options?.maxNewTokens);
    const options = capNewTokens(limits, request.body.options as { maxNewTokens?: number }) ?? {};
    const { entry, model } = await pool.get(name);
    await checkInputTokens(limits, encoder(model), texts);
    await runWork(ctx, request, reply, {
      entry,
      job: async ({ signal, onProgress }) => JSON.stringify({ texts: await callable(await current(ctx, name, model)).generate(texts, { ...options, signal, onProgress }) }),
    });
  });

  app.post<{ Body: AttributeBody }>("/v1/attribute", {
    schema: { summary: "Attribute generated tokens to their inputs (JSON, or SSE progress with Accept: text/event-stream)", body: ATTRIBUTE_BODY, response: reply200("{ id, output }") },
  }, async (request, reply) => {
    const { model: name, inputs, method, aggregate } = request.body;
    const options = { ...(request.body.options ?? {}) };
    const texts = list(inputs);
    checkBatch(limits, texts);
    checkNewTokens(limits, "options.generationArgs.maxNewTokens", options.generationArgs?.maxNewTokens);
    checkMethodArgs(limits, "options.methodArgs", options.methodArgs);
    const { entry, model } = await pool.get(name);
    // The library's check of the model kind's options, before queueing (the other kind's options are unknown here).
    checkOptions("attribute", options, model.kind === "encoder-decoder" ? SEQ2SEQ_OPTIONS : ATTRIBUTE_OPTIONS);
    const forced = options.generatedTexts === undefined ? [] : list(options.generatedTexts as string | string[]);
    if (forced.length === 0) options.generationArgs = capNewTokens(limits, options.generationArgs);
    options.methodArgs = capMethodArgs(limits, methodOrDefault(method, model.info.attributionMethod), options.methodArgs);
    await checkInputTokens(limits, encoder(model), [...texts, ...forced]);
    await runWork(ctx, request, reply, {
      entry,
      job: async ({ signal, onProgress }) => {
        const out = await callable(await current(ctx, name, model)).attribute(texts, { ...options, ...(method ? { method } : {}), signal, onProgress });
        const final = aggregate === undefined ? out : out.aggregate(aggregate);
        ctx.metrics.tokensAttributed.inc({}, attributedSteps(out));
        const item = store.put("attribution", JSON.stringify(final.toJSON()));
        return resultJson(item.id, item.json);
      },
    });
  });

  app.post<{ Body: AttributeContextBody }>("/v1/attribute-context", {
    schema: { summary: "PECoRe context attribution (JSON, or SSE progress with Accept: text/event-stream)", body: ATTRIBUTE_CONTEXT_BODY, response: reply200("{ id, output }") },
  }, async (request, reply) => {
    const { model: name, ...options } = request.body;
    checkNewTokens(limits, "generationArgs.maxNewTokens", options.generationArgs?.maxNewTokens);
    checkMethodArgs(limits, "attributionKwargs", options.attributionKwargs);
    const { entry, model } = await pool.get(name);
    if (options.outputCurrentText == null) options.generationArgs = capNewTokens(limits, options.generationArgs);
    options.attributionKwargs = capMethodArgs(limits, methodOrDefault(options.attributionMethod, model.info.attributionMethod), options.attributionKwargs);
    const texts = [options.inputCurrentText, options.inputContextText, options.outputContextText, options.outputCurrentText].filter((t): t is string => typeof t === "string");
    await checkInputTokens(limits, encoder(model), texts);
    await runWork(ctx, request, reply, {
      entry,
      job: async ({ signal, onProgress }) => {
        const out = await attributeContext(await current(ctx, name, model), { ...options, signal, onProgress });
        const item = store.put("context", JSON.stringify(out.toDict()));
        return resultJson(item.id, item.json);
      },
    });
  });

  app.post<{ Body: AggregateBody }>("/v1/aggregate", {
    schema: { summary: "Aggregate a stored or posted attribution output", body: AGGREGATE_BODY, response: reply200("{ id, output }") },
  }, async (request, reply) => {
    const { id, output, aggregate, options } = request.body;
    let source: FeatureAttributionOutput;
    if (id !== undefined) {
      const item = store.get(id);
      if (item.kind !== "attribution") throw new InseqError(ErrorCode.INVALID_OPTION, `Expected the id of an attribution result for id but received ${JSON.stringify(id)} (an attribute-context result)`);
      source = FeatureAttributionOutput.fromJSON(JSON.parse(item.json));
    } else {
      source = FeatureAttributionOutput.fromJSON(output);
    }
    const item = store.put("attribution", JSON.stringify(source.aggregate(aggregate, options).toJSON()));
    await reply.type("application/json; charset=utf-8").send(resultJson(item.id, item.json));
  });
}

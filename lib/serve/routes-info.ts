/** Routes without model jobs: health, metrics, models (list / load / unload), methods, and result downloads. */
import { promisify } from "node:util";
import { gzip } from "node:zlib";

import type { FastifyInstance } from "fastify";

import { listAggregationFunctions } from "../aggregators/functions.js";
import { listAggregators } from "../aggregators/registry.js";
import { METHOD_ARG_FORMS, type MethodArgForm } from "../attribution/method-arg-forms.js";
import { listStepFunctions, METHODS } from "../attribution/registry.js";
import type { DeviceOption, DtypeOption } from "../models/load-model.js";
import type { ServeContext } from "./context.js";
import { apiKind } from "./model-pool.js";
import { ERROR_RESPONSE, LOAD_BODY, RESULT_PARAMS, RESULT_QUERY, UNLOAD_BODY } from "./schemas.js";

const gzipAsync = promisify(gzip);
const yes = (v: string | undefined): boolean => v === "1" || v === "true";
const json200 = (description: string) => ({ 200: { description, type: "object", additionalProperties: true }, "4xx": ERROR_RESPONSE, "5xx": ERROR_RESPONSE });

/**
 * One method argument as /v1/methods lists it: its name, its form (METHOD_ARG_FORMS: type, bounds, choices) and
 * its default when the method table gives one (a flag's default as a boolean: DIG's multiplyByInputs is 0 there).
 */
function methodArgEntry(name: string, def: unknown): Record<string, unknown> {
  const { choices, ...form } = (METHOD_ARG_FORMS[name] ?? { type: "json" }) as MethodArgForm & { choices?: readonly string[] };
  const value = def === undefined ? {} : { default: form.type === "boolean" ? Boolean(def) : def };
  return { name, ...form, ...value, ...(choices ? { choices: [...choices] } : {}) };
}

/** The methods as GET /v1/methods lists them. */
export function methodList() {
  return METHODS.map((m) => ({
    id: m.id, kind: m.kind, family: m.family, defaultAttributedFn: m.attributedFn, args: m.options.map((name) => methodArgEntry(name, (m.defaults as Record<string, unknown> | undefined)?.[name])), defaults: m.defaults ?? {}, description: m.description,
  }));
}

export function registerInfoRoutes(app: FastifyInstance, ctx: ServeContext): void {
  const { pool, store } = ctx;

  app.get("/healthz", { schema: { summary: "Liveness", response: json200("{ status, uptimeS }") } }, async () => ({
    status: "ok", uptimeS: Math.round((Date.now() - ctx.startedAt) / 1000),
  }));

  app.get("/metrics", { schema: { summary: "Prometheus metrics (text format 0.0.4)" } }, async (_request, reply) => {
    await reply.type("text/plain; version=0.0.4; charset=utf-8").send(ctx.metrics.registry.render());
  });

  app.get("/v1/models", { schema: { summary: "Allowed and loaded models", response: json200("{ models, allowed }") } }, async () => ({
    models: pool.list().map(({ id, model }) => ({ id, loaded: model !== null, kind: apiKind(model), info: model ? model.info : null })),
    allowed: [...pool.allowList.entries],
  }));

  app.post<{ Body: { model: string; device?: DeviceOption; dtype?: DtypeOption } }>("/v1/models/load", {
    schema: { summary: "Load an allowed model", body: LOAD_BODY, response: json200("{ id, loaded, kind, info }") },
  }, async (request) => {
    const { model: name, device, dtype } = request.body;
    const { entry, model } = await pool.get(name, { device, dtype });
    return { id: entry.ref.id, loaded: true, kind: apiKind(model), info: model.info };
  });

  app.post<{ Body: { model: string } }>("/v1/models/unload", {
    schema: { summary: "Unload a model (after its running jobs)", body: UNLOAD_BODY, response: json200("{ id, loaded }") },
  }, async (request) => {
    const ref = await pool.unload(request.body.model);
    return { id: ref.id, loaded: false };
  });

  app.get("/v1/methods", { schema: { summary: "Attribution methods, step functions, aggregators", response: json200("{ methods, stepFunctions, aggregators, aggregationFunctions }") } }, async () => ({
    methods: methodList(), stepFunctions: listStepFunctions(), aggregators: listAggregators(), aggregationFunctions: listAggregationFunctions(),
  }));

  app.get<{ Params: { id: string }; Querystring: { gzip?: string; download?: string } }>("/v1/results/:id", {
    schema: { summary: "A stored result (Inseq JSON; gzip with ?gzip=1 or Accept-Encoding: gzip)", params: RESULT_PARAMS, querystring: RESULT_QUERY },
  }, async (request, reply) => {
    const item = store.get(request.params.id);
    const asFile = yes(request.query.gzip);
    const encoded = !asFile && /\bgzip\b/.test(request.headers["accept-encoding"] ?? "");
    if (yes(request.query.download)) {
      reply.header("content-disposition", `attachment; filename="inseq-${item.id}.json${asFile ? ".gz" : ""}"`);
    }
    if (asFile) return reply.type("application/gzip").send(await gzipAsync(item.json));
    if (encoded) return reply.type("application/json; charset=utf-8").header("content-encoding", "gzip").header("vary", "accept-encoding").send(await gzipAsync(item.json));
    return reply.type("application/json; charset=utf-8").send(item.json);
  });
}

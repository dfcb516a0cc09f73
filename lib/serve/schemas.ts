/**
 * JSON schemas of the `inseq serve` request bodies, declared once: Fastify validates every body with them and
 * @fastify/swagger writes the OpenAPI document from them. The option objects list the library's option tables
 * (ATTRIBUTE_OPTIONS, SEQ2SEQ_OPTIONS, GENERATE_OPTIONS, ATTRIBUTE_CONTEXT_OPTIONS) less what cannot cross HTTP
 * (functions, signals) or what the operator decides (SERVER_ONLY): an unknown name is ERR_UNKNOWN_OPTION, as in
 * the library; values the library checks more closely (texts, token ids, ranges) are checked there.
 */
import { ATTRIBUTE_OPTIONS, SEQ2SEQ_OPTIONS } from "../attribution/options.js";
import { METHOD_ARG_FORMS, methodArgSchema } from "../attribution/method-arg-forms.js";
import { listFeatureAttributionMethods } from "../attribution/registry.js";
import { SAMPLING_OPTIONS } from "../contract/sampling.js";
import { ATTRIBUTE_CONTEXT_OPTIONS, CONTEXT_SENSITIVITY_METRICS } from "../context/types.js";
import type { OptionTable } from "../core/options.js";

export type JsonSchema = Record<string, unknown>;

/** Options the library takes but a request may not: callbacks and signals (the server owns them), and the memory budget and schedule (the operator's). */
export const SERVER_ONLY: readonly string[] = [
  "signal", "onProgress", "onIntermediate", "chooseContextlessNextToken", "confirmOutputContext", "returnIds",
  "memoryBudget", "memoryBudgetMb", "schedule",
];

const str = { type: "string" } as const;
const nonEmpty = { type: "string", minLength: 1 } as const;
const bool = { type: "boolean" } as const;
const int = { type: "integer" } as const;
const num = { type: "number" } as const;
const obj = { type: "object" } as const;
const strings = { type: "array", items: str } as const;
const texts = { description: "a string or an array of strings", anyOf: [str, strings] } as const;
const nullable = (s: JsonSchema): JsonSchema => ({ description: `${describeSchema(s)} or null`, anyOf: [s, { type: "null" }] });

function describeSchema(s: JsonSchema): string {
  if (typeof s.description === "string") return s.description;
  return s.type === "integer" ? "an integer" : s.type === "array" ? "an array" : s.type === "object" ? "an object" : `a ${String(s.type)}`;
}

/** Sampling options (generate() and generationArgs). */
const SAMPLING: Record<keyof typeof SAMPLING_OPTIONS, JsonSchema> = {
  maxNewTokens: { type: "integer", minimum: 0 },
  doSample: bool,
  temperature: { type: "number", exclusiveMinimum: 0 },
  topK: { type: "integer", minimum: 0 },
  topP: { type: "number", exclusiveMinimum: 0, maximum: 1 },
  seed: int,
};

/** An aggregation step: an id, an [id, aggregateFn] pair or { aggregator, aggregateFn?, options? }. */
export const AGGREGATOR_STEP: JsonSchema = {
  description: "an aggregator id, an [aggregator, aggregateFn] pair or an { aggregator, aggregateFn, options } object",
  anyOf: [
    nonEmpty,
    // [aggregator, aggregateFn | null] (the library checks which is which)
    { type: "array", minItems: 1, maxItems: 2, items: { anyOf: [str, { type: "null" }] } },
    {
      type: "object", required: ["aggregator"], additionalProperties: false,
      properties: { aggregator: nonEmpty, aggregateFn: { anyOf: [str, { type: "null" }] }, options: obj },
    },
  ],
};
export const AGGREGATOR_INPUT: JsonSchema = {
  description: "an aggregation step or a list of steps (FeatureAttributionOutput.aggregate's first argument)",
  anyOf: [AGGREGATOR_STEP, { type: "array", items: AGGREGATOR_STEP }],
};

/** Types of the common attribute() options; the others are any JSON value the library then checks. */
const ATTRIBUTE_TYPES: Record<string, JsonSchema> = {
  generatedTexts: texts,
  attrPosStart: int,
  attrPosEnd: int,
  attributedFn: nonEmpty,
  stepScores: strings,
  includeEosBaseline: bool,
  baselineIds: { type: "array", items: { type: "array", items: { type: "integer", minimum: 0 } } },
  batchSize: { type: "integer", minimum: 1 },
  generationArgs: { type: "object", additionalProperties: false, properties: { ...SAMPLING, skipSpecialTokens: bool } },
  outputStepAttributions: bool,
  skipSpecialTokens: bool,
  // Types of every method argument (which ones a method takes is the library's check, with its own code).
  methodArgs: {
    type: "object",
    properties: Object.fromEntries(Object.entries(METHOD_ARG_FORMS).map(([name, form]) => [name, methodArgSchema(form)])),
  },
  attributedFnArgs: obj,
  stepScoresArgs: obj,
  contrastTargets: texts,
  contrastTargetsAlignments: { type: "array" },
  contrastForceInputs: bool,
  granular: bool,
  gradientCheckpointing: { description: 'a boolean or "auto"', anyOf: [bool, { enum: ["auto"] }] },
  attributeTarget: bool,
  generateFromTargetPrefix: bool,
  contrastSources: texts,
};

const CONTEXT_TYPES: Record<string, JsonSchema> = {
  inputCurrentText: nonEmpty,
  inputContextText: nullable(str),
  inputTemplate: nullable(str),
  outputContextText: nullable(str),
  outputCurrentText: nullable(str),
  outputTemplate: nullable(str),
  contextlessInputCurrentText: nullable(str),
  contextlessOutputCurrentText: nullable(str),
  contextSensitivityMetric: { enum: [...CONTEXT_SENSITIVITY_METRICS] },
  contextSensitivityStdThreshold: nullable(num),
  contextSensitivityTopk: nullable({ type: "integer", minimum: 1 }),
  attributionMethod: { enum: listFeatureAttributionMethods() },
  attributionKwargs: ATTRIBUTE_TYPES.methodArgs!,
  attributedFn: nullable(nonEmpty),
  attributedFnArgs: obj,
  contextlessOutputNextTokens: strings,
  // "manual" asks a person through a callback, which HTTP has not.
  handleOutputContextStrategy: { enum: ["auto", "pre"] },
  specialTokensToKeep: strings,
  decoderInputOutputSeparator: str,
  attributionStdThreshold: nullable(num),
  attributionTopk: nullable({ type: "integer", minimum: 1 }),
  attributionAggregators: AGGREGATOR_INPUT,
  attributionSelectors: { type: "array", items: int },
  normalizeAttributions: bool,
  rescaleAttributions: bool,
  generationArgs: { type: "object", additionalProperties: false, properties: SAMPLING },
  modelNameOrPath: str,
  addOutputInfo: bool,
  inseqCurrentOffset: bool,
};

/** The properties of an option table that a request may set, typed where `types` says. */
export function tableProperties(table: OptionTable, types: Record<string, JsonSchema>, drop: readonly string[] = []): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const name of Object.keys(table)) {
    if (SERVER_ONLY.includes(name) || drop.includes(name)) continue;
    out[name] = types[name] ?? {};
  }
  return out;
}

const modelRef = { type: "string", minLength: 1, description: "a model id (\"default\", a hub id) or a model directory the operator allows" } as const;
const inputs = { description: "a string or a non-empty array of strings", anyOf: [str, { type: "array", minItems: 1, items: str }] } as const;

export const LOAD_BODY: JsonSchema = {
  type: "object", required: ["model"], additionalProperties: false,
  properties: {
    model: modelRef,
    device: { type: "string", pattern: "^(auto|cpu|cuda(:[0-9]+)?)$", description: '"auto", "cpu", "cuda" or "cuda:N"' },
    dtype: { enum: ["float32", "float16", "bfloat16"] },
  },
};

export const UNLOAD_BODY: JsonSchema = { type: "object", required: ["model"], additionalProperties: false, properties: { model: modelRef } };

export const GENERATE_BODY: JsonSchema = {
  type: "object", required: ["model", "inputs"], additionalProperties: false,
  properties: {
    model: modelRef,
    inputs,
    options: {
      type: "object", additionalProperties: false,
      properties: { ...SAMPLING, skipSpecialTokens: bool, outputGeneratedOnly: bool, targetPrefix: str },
    },
  },
};

export const ATTRIBUTE_BODY: JsonSchema = {
  type: "object", required: ["model", "inputs"], additionalProperties: false,
  properties: {
    model: modelRef,
    inputs,
    method: { enum: listFeatureAttributionMethods() },
    // `method` is the body's own field; both model kinds' options (the library refuses the other kind's).
    options: { type: "object", additionalProperties: false, properties: tableProperties({ ...ATTRIBUTE_OPTIONS, ...SEQ2SEQ_OPTIONS }, ATTRIBUTE_TYPES, ["method"]) },
    aggregate: AGGREGATOR_INPUT,
  },
};

export const ATTRIBUTE_CONTEXT_BODY: JsonSchema = {
  type: "object", required: ["model", "inputCurrentText"], additionalProperties: false,
  properties: { model: modelRef, ...tableProperties(ATTRIBUTE_CONTEXT_OPTIONS, CONTEXT_TYPES) },
};

export const AGGREGATE_BODY: JsonSchema = {
  type: "object", required: ["aggregate"], additionalProperties: false,
  properties: {
    id: { type: "string", minLength: 1, description: "a result id" },
    output: { type: "object", description: "an Inseq JSON document" },
    aggregate: AGGREGATOR_INPUT,
    options: { type: "object", description: "aggregate()'s options (aggregateFn, normalize, spans, ...)" },
  },
  oneOf: [{ required: ["id"] }, { required: ["output"] }],
  description: "an object with either id or output",
};

export const RESULT_QUERY: JsonSchema = {
  type: "object", additionalProperties: false,
  properties: { gzip: { enum: ["0", "1", "true", "false"] }, download: { enum: ["0", "1", "true", "false"] } },
};

export const RESULT_PARAMS: JsonSchema = { type: "object", required: ["id"], properties: { id: { type: "string", pattern: "^[A-Za-z0-9-]{1,64}$" } } };

/** Every error response: `{ error: { code, message, requestId } }`. */
export const ERROR_RESPONSE: JsonSchema = {
  type: "object",
  properties: { error: { type: "object", properties: { code: str, message: str, requestId: str } } },
};

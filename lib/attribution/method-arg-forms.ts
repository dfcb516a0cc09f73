/**
 * The form of each method argument (the options of `methodArgs`, by the camelCase name the native method table
 * lists): what a web form shows (a checkbox, a number field, a choice) and what the server's JSON schema checks
 * before a request is queued. The library's own checks (options.ts, reagent.ts, dig-options.ts) stay the
 * authority on values; test/unit/method-arg-forms.test.ts checks that every option of every method has a form
 * and that each form agrees with them (a value of the form is accepted, a value of another type refused).
 */
export type MethodArgForm =
  | { type: "integer"; minimum: number }
  | { type: "number"; minimum?: number; exclusiveMinimum?: number; maximum?: number; exclusiveMaximum?: number }
  | { type: "boolean" }
  | { type: "string"; choices?: readonly string[] }
  /** Anything JSON (lists, objects, a number or a name): the library checks it. */
  | { type: "json" };

const positiveInt = { type: "integer", minimum: 1 } as const;
const flag = { type: "boolean" } as const;
const ratio = { type: "number", exclusiveMinimum: 0, maximum: 1 } as const;

export const METHOD_ARG_FORMS: Readonly<Record<string, MethodArgForm>> = {
  nSteps: positiveInt,
  /** The integration grid (IG family) or DIG's path strategy ("greedy", "maxcount"): the choices depend on the method. */
  method: { type: "string" },
  internalBatchSize: positiveInt,
  returnConvergenceDelta: flag,
  multiplyByInputs: flag,
  nNeighbors: positiveInt,
  saveCache: flag,
  overwriteCache: flag,
  cacheDir: { type: "string" },
  nSamples: positiveInt,
  stdevs: { type: "number", minimum: 0 },
  seed: { type: "integer", minimum: 0 },
  latentRelevance: flag,
  /** A layer index, "all", or a module name. */
  layer: { type: "json" },
  maskProb: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
  keepTopN: { type: "integer", minimum: 0 },
  keepRatio: ratio,
  invertKeep: flag,
  stoppingConditionTopK: positiveInt,
  replacingRatio: ratio,
  maxProbeSteps: positiveInt,
  numProbes: positiveInt,
  posGroups: { type: "json" },
  similarityMetric: { type: "string", choices: ["cosine", "euclidean"] },
  decoderZeroedUnitsIndices: { type: "json" },
  encoderZeroedUnitsIndices: { type: "json" },
  crossZeroedUnitsIndices: { type: "json" },
};

/** The JSON schema of one method argument (no constraint for "json" forms: the library checks those). */
export function methodArgSchema(form: MethodArgForm): Record<string, unknown> {
  switch (form.type) {
    case "json":
      return {};
    case "string":
      return form.choices ? { enum: [...form.choices] } : { type: "string" };
    default: {
      const { ...schema } = form;
      return schema;
    }
  }
}

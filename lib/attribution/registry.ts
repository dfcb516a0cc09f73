/**
 * Attribution methods and step functions: the ids (the same strings in TS, C++, the CLI and saved JSON),
 * what each needs, and the options each accepts. The tables are declared once, natively
 * (native/attribution/method_table.cc), and read here from lib/attribution/method-table.generated.ts, which
 * scripts/gen-method-table.mjs writes from the built addon (a test checks the two agree).
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import { METHOD_TABLE, STEP_ALIASES, STEP_ARG_NAMES, STEP_FUNCTION_TABLE } from "./method-table.generated.js";

export type MethodFamily = "gradient" | "layer" | "perturbation" | "internals" | "none";

export interface MethodDefinition {
  id: string;
  family: MethodFamily;
  usesBaselines: boolean;
  /** Method options (camelCase Inseq/Captum names) accepted in `methodArgs`. */
  options: readonly string[];
  /** Option defaults the native table declares (e.g. nSteps 50; DIG multiplyByInputs 0 = false). */
  defaults?: Readonly<Record<string, number>>;
  description: string;
  /** The step function attributed when `attributedFn` is not given: "probability" (Inseq's default), "logit" for
   * the methods that explain a logit (attn_lrp, cp_lrp, alti_logit). */
  attributedFn: string;
}

/** The attribution methods, in the native table's order. */
export const METHODS = METHOD_TABLE satisfies readonly MethodDefinition[];

/** Names of the step-function arguments (`attributedFnArgs` / `stepScoresArgs`), from the native table. */
export { STEP_ARG_NAMES };
export type StepArgName = (typeof STEP_ARG_NAMES)[number];

/** Ids of the attribution methods, from the table above (the same strings in TS, C++, the CLI and saved JSON). */
export type MethodId = (typeof METHODS)[number]["id"];

export interface StepFunctionDefinition {
  id: string;
  contrastive: boolean;
  /** Default span aggregation function (Inseq's aggregate map). */
  spanAggregate: string;
  /** Step-function options accepted in `attributedFnArgs` / `stepScoresArgs`. */
  options: readonly string[];
  description: string;
  /** Forward-only JS step functions registered with registerStepFunction. */
  custom?: CustomStepFunction;
  /** Differentiable step functions: TorchScript source compiled natively (defines `def step(...)`). */
  torchscript?: string;
}

/** Arguments of a forward-only custom step function: the logits predicting one target token. */
export interface StepFunctionInput {
  /** Logits over the vocabulary [vocab]. */
  logits: Float32Array;
  /** The target token id. */
  target: number;
  /** The step's position in the target sequence. */
  position: number;
  /** Token ids of the whole sequence (prompt + continuation). */
  ids: readonly number[];
  args: Record<string, unknown>;
}
export type CustomStepFunction = (input: StepFunctionInput) => number;

const BUILTIN_STEP_FUNCTIONS = STEP_FUNCTION_TABLE satisfies readonly StepFunctionDefinition[];

const stepFunctions = new Map<string, StepFunctionDefinition>(BUILTIN_STEP_FUNCTIONS.map((d) => [d.id, d]));
const ALIAS_TABLE = STEP_ALIASES;
const ALIASES: Readonly<Record<string, { id: string; args: Record<string, unknown> }>> = ALIAS_TABLE;

/** Ids of the built-in step functions and their aliases, from the tables above. */
export type StepFunctionId = (typeof BUILTIN_STEP_FUNCTIONS)[number]["id"] | keyof typeof ALIAS_TABLE;
/** A built-in step function id, or the id of one registered with registerStepFunction. */
export type AnyStepFunctionId = StepFunctionId | (string & {});

export function listFeatureAttributionMethods(): string[] {
  return METHODS.map((m) => m.id);
}

export function getMethod(id: string): MethodDefinition {
  const m = METHODS.find((x) => x.id === id);
  if (!m) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Unknown attribution method ${JSON.stringify(id)}; available: ${listFeatureAttributionMethods().join(", ")}`);
  }
  return m;
}

/**
 * The method a call runs: the one it names, else the model's (loadModel's `method`), else saliency (Inseq's
 * default). Unknown ids fail later, in getMethod, with the list.
 */
export function methodOrDefault(method: string | undefined, modelDefault: string | undefined): string {
  return method ?? modelDefault ?? "saliency";
}

/** The step function `method` attributes when no attributedFn is given (the native method table's). */
export function defaultAttributedFn(method: string): string {
  return getMethod(method).attributedFn;
}

export function listStepFunctions(): string[] {
  return [...stepFunctions.keys()];
}

/** Resolves an id or alias to its definition and the arguments the alias implies. */
export function resolveStepFunction(id: string): { def: StepFunctionDefinition; impliedArgs: Record<string, unknown> } {
  const alias = ALIASES[id];
  const def = stepFunctions.get(alias ? alias.id : id);
  if (!def) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Unknown step function ${JSON.stringify(id)}; available: ${listStepFunctions().join(", ")}`);
  }
  return { def, impliedArgs: alias?.args ?? {} };
}

/**
 * Registers a custom step function, in one of two forms:
 * - a JS function over each step's logits (forward only): usable in `stepScores`, not as `attributedFn`;
 * - `{ torchscript: source }` defining `def step(logits: Tensor, targets: Tensor, contrast_logits: Tensor,
 *   contrast_targets: Tensor) -> Tensor` (one score per row), compiled natively with torch::jit::compile:
 *   differentiable, so usable as `attributedFn` too. Contrast arguments equal the originals without contrast targets.
 */
export function registerStepFunction(
  id: string,
  fn: CustomStepFunction | { torchscript: string },
  options: { spanAggregate?: string; overwrite?: boolean; description?: string } = {},
): void {
  if (typeof id !== "string" || !/^[A-Za-z_][\w-]*$/.test(id)) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected an identifier for the step function id but received ${JSON.stringify(id)}`);
  }
  const torchscript = typeof fn === "object" && fn !== null && typeof fn.torchscript === "string" ? fn.torchscript : undefined;
  if (typeof fn !== "function" && torchscript === undefined) {
    throw new InseqError(ErrorCode.INVALID_OPTION, "Expected a function or { torchscript: source } for the step function");
  }
  const existing = stepFunctions.get(id);
  const isCustom = (d: StepFunctionDefinition) => Boolean(d.custom || d.torchscript);
  if (existing && (!isCustom(existing) || !options.overwrite)) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Step function ${JSON.stringify(id)} already exists${isCustom(existing) ? "; pass overwrite: true to replace it" : " (built-in)"}`);
  }
  stepFunctions.set(id, {
    id, contrastive: torchscript !== undefined, spanAggregate: options.spanAggregate ?? "absmax", options: [],
    description: options.description ?? "Custom step function.",
    ...(torchscript !== undefined ? { torchscript } : { custom: fn as CustomStepFunction }),
  });
}

/** Prints-free documentation of a method or step function id, or undefined (see explain.ts for every id kind). */
export function explainAttributionId(id: string): string | undefined {
  const m = METHODS.find((x) => x.id === id);
  if (m) return `${m.id} (attribution method, ${m.family}${m.usesBaselines ? ", uses baselines" : ""}): ${m.description}${m.options.length ? `\nOptions: ${m.options.join(", ")}` : ""}`;
  const s = stepFunctions.get(ALIASES[id]?.id ?? id);
  if (s) return `${s.id} (step function${s.contrastive ? ", contrastive" : ""}): ${s.description}${s.options.length ? `\nOptions: ${s.options.join(", ")}` : ""}`;
  return undefined;
}

/**
 * Attribution methods and step functions: the ids (the same strings in TS, C++, the CLI and saved JSON),
 * what each needs, and the options each accepts. The native addon holds the implementations; a test checks
 * that both sides list the same ids.
 */
import { ErrorCode, InseqError } from "../core/errors.js";

export type MethodFamily = "gradient" | "layer" | "perturbation" | "internals" | "none";

export interface MethodDefinition {
  id: string;
  family: MethodFamily;
  usesBaselines: boolean;
  /** Method options (camelCase Inseq/Captum names) accepted in `methodArgs`. */
  options: readonly string[];
  description: string;
}

const INTEGRATION = ["nSteps", "method", "internalBatchSize", "returnConvergenceDelta", "multiplyByInputs"] as const;

export const METHODS = [
  { id: "dummy", family: "none", usesBaselines: false, options: [], description: "No attributions; computes only step scores." },
  { id: "saliency", family: "gradient", usesBaselines: false, options: ["internalBatchSize"], description: "Absolute gradient of the attributed function w.r.t. the input embeddings (Simonyan et al. 2013; Captum Saliency with abs=True)." },
  { id: "input_x_gradient", family: "gradient", usesBaselines: false, options: ["internalBatchSize", "multiplyByInputs"], description: "Gradient times input embedding (Shrikumar et al. 2016)." },
  { id: "integrated_gradients", family: "gradient", usesBaselines: true, options: INTEGRATION, description: "Integrated gradients (Sundararajan et al. 2017) from the UNK baseline with Captum's integration grids: gausslegendre (default), riemann_left/right/middle/trapezoid." },
  { id: "gradient_shap", family: "gradient", usesBaselines: true, options: ["nSamples", "stdevs", "seed", "internalBatchSize"], description: "GradientSHAP (Lundberg & Lee 2017): gradients at random points between the baseline and noisy inputs, times (input - baseline)." },
  { id: "deeplift", family: "gradient", usesBaselines: true, options: ["internalBatchSize", "returnConvergenceDelta", "multiplyByInputs"], description: "DeepLIFT with the Rescale rule (Shrikumar et al. 2017) from the UNK baseline: multipliers (f(z) - f(z'))/(z - z') at the MLP activations and Captum's softmax rule at the attention softmax; norms and the q.k/attention.v products keep ordinary gradients. (Inseq/Captum apply no rule to these models and return (x - x') * grad f(x).)" },
  { id: "layer_integrated_gradients", family: "layer", usesBaselines: true, options: [...INTEGRATION, "layer"], description: "Integrated gradients on a layer's activations; `layer` = block index or name (\"model.layers.3\", \"transformer.h.3\"), \"all\" for every block, default the embedding layer." },
  { id: "layer_gradient_x_activation", family: "layer", usesBaselines: false, options: ["layer", "internalBatchSize", "multiplyByInputs"], description: "Gradient times activation of a layer; `layer` = block index or name, or \"all\": every block in one forward + backward; default the embedding layer." },
  { id: "layer_deeplift", family: "layer", usesBaselines: true, options: ["layer", "internalBatchSize", "returnConvergenceDelta", "multiplyByInputs"], description: "DeepLIFT (Rescale) on a layer's activations; `layer` = block index (default: the embedding layer)." },
  { id: "occlusion", family: "perturbation", usesBaselines: true, options: [], description: "|f(x) - f(x with token j replaced by the baseline)| for each attributed token j (Zeiler & Fergus 2014); one teacher-forced forward per occluded token scores every step." },
  { id: "lime", family: "perturbation", usesBaselines: true, options: ["nSamples", "maskProb", "seed"], description: "LIME (Ribeiro et al. 2016) in token space: random keep-masks replace tokens by the baseline token (Inseq masks embeddings with the token id, a bug), one forward per sample scores every step, weighted ridge per step (alpha 1, intercept; similarity = kept tokens). BOS is never masked. Signed token-level coefficients." },
  { id: "attention", family: "internals", usesBaselines: false, options: [], description: "Attention weights of every layer and head from each generated token's query row to the attributed tokens." },
  { id: "value_zeroing", family: "internals", usesBaselines: false, options: ["similarityMetric", "decoderZeroedUnitsIndices", "encoderZeroedUnitsIndices", "crossZeroedUnitsIndices"], description: "Value Zeroing (Mohebbi et al. 2023): for each token, zero its attention value vectors in every layer and score 1 - cos(clean, corrupted) of each layer's state of the generated token's query (\"euclidean\": the L2 distance); each layer measured on its own, scores < 1e-5 -> 0, rows normalised to sum 1. Zeroed heads per layer: a head index, a list, {start, end}, or {layer: spec}. Encoder-decoders: cross scores as source attributions, decoder self as target attributions, encoder self as a sequence score. One forward per batch of zeroed tokens." },
] as const satisfies readonly MethodDefinition[];

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

const CONTRAST = ["contrastTargets", "contrastTargetsAlignments", "contrastForceInputs"] as const;

const BUILTIN_STEP_FUNCTIONS = [
  { id: "logit", contrastive: false, spanAggregate: "absmax", options: [], description: "Logit of the target token z[y]. Alias: logits." },
  { id: "probability", contrastive: false, spanAggregate: "prod", options: ["logprob"], description: "Probability p(y) of the target token (log p(y) with logprob). Alias: logprob." },
  { id: "entropy", contrastive: false, spanAggregate: "sum", options: [], description: "Entropy (nats) of the next-token distribution." },
  { id: "crossentropy", contrastive: false, spanAggregate: "sum", options: [], description: "Cross-entropy -log p(y) (nats)." },
  { id: "perplexity", contrastive: false, spanAggregate: "prod", options: ["perplexityBase2"], description: "exp(crossentropy). Python Inseq returns 2 ** crossentropy (nats); perplexityBase2: true reproduces that." },
  { id: "contrast_logits", contrastive: true, spanAggregate: "absmax", options: [...CONTRAST], description: "Logit of the contrastive target z'[y']." },
  { id: "contrast_prob", contrastive: true, spanAggregate: "prod", options: [...CONTRAST, "logprob"], description: "Probability of the contrastive target p'(y')." },
  { id: "contrast_logits_diff", contrastive: true, spanAggregate: "absmax", options: [...CONTRAST], description: "z[y] - z'[y'] (Yin & Neubig 2022)." },
  { id: "contrast_prob_diff", contrastive: true, spanAggregate: "prod", options: [...CONTRAST, "logprob"], description: "p(y) - p'(y') (Yin & Neubig 2022)." },
  { id: "pcxmi", contrastive: true, spanAggregate: "sum", options: [...CONTRAST], description: "Pointwise contextual cross-mutual information -log2(p(y) / p'(y')) (Fernandes et al. 2023)." },
  { id: "kl_divergence", contrastive: true, spanAggregate: "sum", options: [...CONTRAST, "topK", "topP", "minTokensToKeep"], description: "KL(P || P') between the original and contrastive distributions, optionally top-k/top-p filtered." },
  { id: "in_context_pvi", contrastive: true, spanAggregate: "absmax", options: [...CONTRAST], description: "In-context pointwise V-information -log p(y) + log p'(y') (Lu et al. 2023)." },
  { id: "mc_dropout_prob_avg", contrastive: false, spanAggregate: "prod", options: ["nMcdSteps", "logprob"], description: "(p(y) - mean p_k(y)) / std p_k(y) over nMcdSteps forwards with dropout active (Gal & Ghahramani 2016); the model stays in eval mode afterwards." },
  { id: "top_p_size", contrastive: false, spanAggregate: "absmax", options: ["topP"], description: "Number of tokens kept by nucleus filtering at topP (per row, unlike Inseq's batch-flattened value)." },
] as const satisfies readonly StepFunctionDefinition[];

const stepFunctions = new Map<string, StepFunctionDefinition>(BUILTIN_STEP_FUNCTIONS.map((d) => [d.id, d]));
const ALIAS_TABLE = {
  logits: { id: "logit", args: {} },
  logprob: { id: "probability", args: { logprob: true } },
} as const;
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

/** Prints-free documentation of a method or step function id (Inseq's `explain`). */
export function explain(id: string): string {
  const m = METHODS.find((x) => x.id === id);
  if (m) return `${m.id} (attribution method, ${m.family}${m.usesBaselines ? ", uses baselines" : ""}): ${m.description}${m.options.length ? `\nOptions: ${m.options.join(", ")}` : ""}`;
  const s = stepFunctions.get(ALIASES[id]?.id ?? id);
  if (s) return `${s.id} (step function${s.contrastive ? ", contrastive" : ""}): ${s.description}${s.options.length ? `\nOptions: ${s.options.join(", ")}` : ""}`;
  throw new InseqError(ErrorCode.INVALID_OPTION, `Unknown id ${JSON.stringify(id)}; methods: ${listFeatureAttributionMethods().join(", ")}; step functions: ${listStepFunctions().join(", ")}`);
}

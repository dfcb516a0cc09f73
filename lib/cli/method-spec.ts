/**
 * Method specs on the command line (`inseq evaluate --methods`, `--method-spec`): one attribution configuration
 * written `method[+attributedFn][:key=value;key=value]`, e.g. `integrated_gradients:nSteps=64;internalBatchSize=8`
 * or `saliency+contrast_logits_diff`; or a whole `MethodSpec` as a JSON object. Ids and option keys are checked
 * against the registry here, before any model loads.
 */
import { ErrorCode, InseqError, checkKnownOptions, describeValue } from "../core/errors.js";
import { defaultAttributedFn, getMethod, resolveStepFunction } from "../attribution/registry.js";
import type { MethodSpec } from "../evaluation/types.js";
import { camel, unknownKey } from "./parse.js";

/** Step-function options the evaluation sets itself (each item's alternative is the contrast target). */
const RUNNER_STEP_KEYS = new Set(["contrastTargets", "contrastTargetsAlignments", "contrastForceInputs"]);

/**
 * Splits `text` at `sep` where it is outside brackets, braces and double quotes, so that JSON values keep their
 * commas and semicolons (`lime:seed=1,integrated_gradients:method="a,b"` is two parts). Parts are trimmed.
 */
export function splitTopLevel(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === "\\" && i + 1 < text.length) {
        cur += ch + text[++i];
        continue;
      }
      if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === "[" || ch === "{") depth++;
    else if ((ch === "]" || ch === "}") && depth > 0) depth--;
    else if (ch === sep && depth === 0) {
      parts.push(cur.trim());
      cur = "";
      continue;
    }
    cur += ch;
  }
  parts.push(cur.trim());
  return parts;
}

/** A spec value: JSON when it parses (`64`, `true`, `[0,1]`, `"a b"`), else the text itself (`riemann_trapezoid`). */
function specValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Re-throws a registry error with the spec it came from. */
function inSpec<T>(spec: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InseqError) throw new InseqError(err.code, `${err.message} (${what} ${JSON.stringify(spec)})`, { cause: err });
    throw err;
  }
}

type SpecArg = [key: string, value: unknown, only?: "method" | "fn"];

/**
 * Checks method and attributed-function ids, and routes each key/value to methodArgs or attributedFnArgs (`only`:
 * the one the user named, as in a JSON spec).
 */
function buildSpec(source: string, method: string, attributedFn: string | undefined, args: SpecArg[], label?: string): MethodSpec {
  const def = inSpec(source, "in the method spec", () => getMethod(method));
  // Without attributedFn the attributed function is the method's default (probability, whose `logprob` is accepted;
  // logit for the LRP methods and ALTI-logit).
  const fn = inSpec(source, "in the method spec", () => resolveStepFunction(attributedFn ?? defaultAttributedFn(def.id)));
  const stepKeys = fn.def.options.filter((k) => !RUNNER_STEP_KEYS.has(k));
  const spec: MethodSpec = { method: def.id };
  if (attributedFn !== undefined) spec.attributedFn = attributedFn;
  for (const [key, value, only] of args) {
    const k = camel(key);
    if (only === "method" && !def.options.includes(k)) throw unknownKey(key, `methodArgs of ${source}`, def.options);
    if (only === "fn" && !stepKeys.includes(k)) throw unknownKey(key, `attributedFnArgs of ${source}`, stepKeys);
    if (k === "label" && only === undefined) {
      if (typeof value !== "string" || value === "") throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a non-empty string for label in the method spec ${JSON.stringify(source)} but received ${describeValue(value)}`);
      spec.label = value;
    } else if (k === "scoresLayer" && only === undefined) {
      if (!Number.isSafeInteger(value)) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected an integer for scoresLayer in the method spec ${JSON.stringify(source)} but received ${describeValue(value)}`);
      spec.scoresLayer = value as number;
    } else if (def.options.includes(k)) (spec.methodArgs ??= {})[k] = value;
    else if (stepKeys.includes(k)) (spec.attributedFnArgs ??= {})[k] = value;
    else throw unknownKey(key, `the method spec ${JSON.stringify(source)}`, [...def.options, ...stepKeys, "label", "scoresLayer"]);
  }
  if (label !== undefined) spec.label = label;
  return spec;
}

/**
 * Parses one spec `method[+attributedFn][:key=value;key=value]`. Keys may be camelCase or snake_case; the method's
 * options go to `methodArgs`, the attributed step function's to `attributedFnArgs`, `label=...` names the row and
 * `scoresLayer=N` scores with one layer of a layer axis (attention, value_zeroing; -1 = the last).
 * Values are JSON when they parse, else strings. An unknown method or step function is ERR_INVALID_OPTION, an
 * unknown key ERR_UNKNOWN_OPTION, both naming the spec.
 *
 * @example
 * parseMethodSpec("integrated_gradients:nSteps=64;internalBatchSize=8");
 * // { method: "integrated_gradients", methodArgs: { nSteps: 64, internalBatchSize: 8 } }
 * parseMethodSpec("saliency+contrast_logits_diff");
 * // { method: "saliency", attributedFn: "contrast_logits_diff" }
 */
export function parseMethodSpec(text: string): MethodSpec {
  const source = text.trim();
  const colon = source.indexOf(":");
  const head = colon < 0 ? source : source.slice(0, colon);
  const tail = colon < 0 ? "" : source.slice(colon + 1);
  const [method, attributedFn, ...extra] = head.split("+").map((s) => s.trim());
  if (!method || extra.length > 0 || attributedFn === "") {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected method[+attributedFn][:key=value;...] for a method spec but received ${JSON.stringify(text)}`);
  }
  const args: SpecArg[] = [];
  for (const part of tail === "" ? [] : splitTopLevel(tail, ";")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected key=value in the method spec ${JSON.stringify(text)} but received ${JSON.stringify(part)}`);
    args.push([part.slice(0, eq).trim(), specValue(part.slice(eq + 1).trim())]);
  }
  return buildSpec(source, method, attributedFn, args);
}

/**
 * Parses a comma-separated list of specs (`--methods`); commas inside JSON values do not split. "none" is the
 * empty list.
 *
 * @example
 * parseMethodList("saliency,integrated_gradients:nSteps=64").map((s) => s.method); // ["saliency", "integrated_gradients"]
 */
export function parseMethodList(text: string): MethodSpec[] {
  if (text.trim() === "none") return [];
  const parts = splitTopLevel(text, ",");
  if (parts.some((p) => p === "")) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected comma-separated method specs for --methods but received ${JSON.stringify(text)}`);
  return parts.map(parseMethodSpec);
}

const SPEC_KEYS = ["method", "methodArgs", "attributedFn", "attributedFnArgs", "label", "scoresLayer"];

/**
 * Parses a whole MethodSpec given as JSON (`--method-spec '{"method": "lime", "methodArgs": {"nSamples": 200}}'`),
 * checking its keys, ids and option names like `parseMethodSpec`.
 *
 * @example
 * parseMethodSpecJson('{"method": "saliency", "attributedFn": "contrast_prob_diff", "label": "contrastive"}');
 */
export function parseMethodSpecJson(text: string): MethodSpec {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a JSON object for --method-spec but received ${JSON.stringify(text)} (${(err as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a JSON object for --method-spec but received ${JSON.stringify(text)}`);
  const o = value as Record<string, unknown>;
  checkKnownOptions("--method-spec", o, SPEC_KEYS);
  if (typeof o.method !== "string") throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a string for "method" in --method-spec but received ${describeValue(o.method)}`);
  if (o.attributedFn !== undefined && typeof o.attributedFn !== "string") {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a string for "attributedFn" in --method-spec but received ${describeValue(o.attributedFn)}`);
  }
  if (o.label !== undefined && (typeof o.label !== "string" || o.label === "")) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a non-empty string for "label" in --method-spec but received ${describeValue(o.label)}`);
  }
  const args: SpecArg[] = o.scoresLayer === undefined ? [] : [["scoresLayer", o.scoresLayer]];
  for (const key of ["methodArgs", "attributedFnArgs"] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected an object for "${key}" in --method-spec but received ${describeValue(v)}`);
    for (const [k, x] of Object.entries(v)) args.push([k, x, key === "methodArgs" ? "method" : "fn"]);
  }
  return buildSpec(text, o.method, o.attributedFn as string | undefined, args, o.label as string | undefined);
}

/**
 * Errors of `inseq serve`: the library's InseqError codes as HTTP statuses (one table), Fastify's own errors
 * (schema validation, body parsing, unknown routes) turned into the library's codes and message form, and the
 * one error body every route answers with: `{ error: { code, message, requestId } }`.
 */
import { describeValue, ErrorCode, InseqError, invalidOption, unknownOption } from "../core/errors.js";

/** HTTP status of each error code (anything else: 500). */
export const STATUS_BY_CODE: Readonly<Partial<Record<ErrorCode, number>>> = {
  [ErrorCode.INVALID_OPTION]: 400,
  [ErrorCode.UNKNOWN_OPTION]: 400,
  [ErrorCode.BAD_DATASET]: 400,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.LIMIT]: 413,
  [ErrorCode.QUEUE_FULL]: 429,
  [ErrorCode.ABORTED]: 499,
  [ErrorCode.OUT_OF_MEMORY]: 507,
  [ErrorCode.TIMEOUT]: 504,
  [ErrorCode.BAD_MODEL]: 422,
  [ErrorCode.BAD_CHECKPOINT]: 422,
  [ErrorCode.UNSUPPORTED_MODEL]: 422,
  [ErrorCode.BAD_TOKENIZER]: 422,
};

/** An InseqError with the seconds a client should wait (ERR_QUEUE_FULL's Retry-After). */
export interface RetryableError extends InseqError {
  retryAfterS?: number;
}

export function queueFullError(model: string, waiting: number, retryAfterS: number): RetryableError {
  const err: RetryableError = new InseqError(ErrorCode.QUEUE_FULL, `Expected at most ${waiting} waiting requests for the queue of model ${JSON.stringify(model)} but received one more; retry in ${retryAfterS} s`);
  err.retryAfterS = retryAfterS;
  return err;
}

/** ERR_LIMIT naming the limit: `Expected <what> for <option> but received <value>`. */
export function limitError(option: string, limitName: string, max: number, value: unknown): InseqError {
  return new InseqError(ErrorCode.LIMIT, `Expected at most ${max} (the server's ${limitName}) for ${option} but received ${describeValue(value)}`);
}

export interface HttpError {
  status: number;
  code: ErrorCode;
  message: string;
  retryAfterS?: number;
}

/** One Ajv error as Fastify passes it (with `verbose: true`: the data and the schemas). */
interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  data?: unknown;
  schema?: unknown;
  parentSchema?: Record<string, unknown>;
  message?: string;
}

/** "/options/methodArgs/nSteps" → "options.methodArgs.nSteps"; "/inputs/1" → "inputs[1]". */
export function optionPath(instancePath: string, child?: string): string {
  const parts = instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (child !== undefined) parts.push(child);
  let out = "";
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === "" ? p : `.${p}`;
  return out === "" ? "the request body" : out;
}

const ARTICLE: Record<string, string> = {
  integer: "an integer", number: "a number", string: "a string", boolean: "a boolean", array: "an array", object: "an object", null: "null",
};

/** What the failing keyword expected, in words. */
function expected(e: AjvError): string {
  const p = e.params;
  const integer = e.parentSchema?.type === "integer";
  const noun = integer ? "an integer" : "a number";
  switch (e.keyword) {
    case "type": {
      const t = Array.isArray(p.type) ? p.type : String(p.type).split(",");
      return t.map((x) => ARTICLE[x as string] ?? String(x)).join(" or ");
    }
    case "minimum": return `${noun} >= ${p.limit}`;
    case "maximum": return `${noun} <= ${p.limit}`;
    case "exclusiveMinimum": return `${noun} > ${p.limit}`;
    case "exclusiveMaximum": return `${noun} < ${p.limit}`;
    case "minLength": return p.limit === 1 ? "a non-empty string" : `a string of at least ${p.limit} characters`;
    case "maxLength": return `a string of at most ${p.limit} characters`;
    case "minItems": return `an array of at least ${p.limit} items`;
    case "maxItems": return `an array of at most ${p.limit} items`;
    case "enum": return `one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
    case "const": return JSON.stringify(p.allowedValue);
    case "pattern": return typeof e.parentSchema?.description === "string" ? e.parentSchema.description : `a string matching ${p.pattern}`;
    default: return typeof e.parentSchema?.description === "string" ? e.parentSchema.description : "a valid value";
  }
}

/**
 * Ajv's errors as the library would throw them: an unknown property is ERR_UNKNOWN_OPTION naming the valid ones;
 * anything else ERR_INVALID_OPTION `Expected <what> for <option> but received <value>`. Inside a union (anyOf /
 * oneOf) the union's description is the "what".
 */
export function validationToInseqError(errors: readonly AjvError[]): InseqError {
  const unknown = errors.find((e) => e.keyword === "additionalProperties");
  if (unknown) {
    const name = String(unknown.params.additionalProperty);
    const props = Object.keys((unknown.parentSchema?.properties as object | undefined) ?? {});
    const where = optionPath(unknown.instancePath);
    return unknownOption(name, where, props);
  }
  const union = [...errors].reverse().find((e) => e.keyword === "anyOf" || e.keyword === "oneOf");
  const e = union ?? errors[0];
  if (!e) return new InseqError(ErrorCode.INVALID_OPTION, "Expected a valid request body but received an invalid one");
  if (e.keyword === "required") return invalidOption(optionPath(e.instancePath, String(e.params.missingProperty)), "a value", undefined);
  return invalidOption(optionPath(e.instancePath), expected(e), e.data);
}

/** Fastify's own error codes, as the library's. */
function fastifyError(err: { code?: string; statusCode?: number; message: string }): InseqError | null {
  switch (err.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new InseqError(ErrorCode.INVALID_OPTION, "Expected a JSON body (Content-Type: application/json) for the request body but received another media type");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new InseqError(ErrorCode.INVALID_OPTION, "Expected a JSON body for the request body but received an empty body");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new InseqError(ErrorCode.INVALID_OPTION, `Expected a JSON body for the request body but received text that is not JSON`);
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new InseqError(ErrorCode.LIMIT, "Expected a request body within the server's bodyLimit but received a larger one");
    default:
      if (err.statusCode === 400 && /JSON/.test(err.message)) {
        return new InseqError(ErrorCode.INVALID_OPTION, "Expected a JSON body for the request body but received text that is not JSON");
      }
      return null;
  }
}

/** Any thrown value as the status, code and message the server answers with. */
export function toHttpError(err: unknown): HttpError {
  let e: unknown = err;
  const validation = (err as { validation?: AjvError[] } | null)?.validation;
  if (Array.isArray(validation)) e = validationToInseqError(validation);
  else if (!(err instanceof InseqError) && err && typeof err === "object" && "code" in err) {
    e = fastifyError(err as { code?: string; statusCode?: number; message: string }) ?? err;
  }
  if (e instanceof InseqError) {
    return { status: STATUS_BY_CODE[e.code] ?? 500, code: e.code, message: e.message, retryAfterS: (e as RetryableError).retryAfterS };
  }
  return { status: 500, code: ErrorCode.NATIVE, message: e instanceof Error ? e.message : String(e) };
}

/** The body of an error response. */
export function errorBody(e: HttpError, requestId: string): { error: { code: string; message: string; requestId: string } } {
  return { error: { code: e.code, message: e.message, requestId } };
}

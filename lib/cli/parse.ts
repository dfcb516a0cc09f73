import { InvalidArgumentError } from "commander";

import { ErrorCode, InseqError } from "../core/errors.js";

export function intOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`Expected an integer but received ${JSON.stringify(value)}`);
  return n;
}

export function numberOption(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`Expected a number but received ${JSON.stringify(value)}`);
  return n;
}

/** A JSON object option (`--attribution-kwargs '{"n_steps": 100}'`). */
export function jsonOption(value: string): Record<string, unknown> {
  try {
    const v = JSON.parse(value);
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v;
  } catch (e) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a JSON object but received ${JSON.stringify(value)} (${(e as Error).message})`);
  }
}

/** snake_case Inseq/Captum keyword (n_steps) -> our camelCase option (nSteps). */
export const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

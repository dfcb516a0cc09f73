/**
 * Option tables: every public options object is declared once as { name: kind }, and checkOptions refuses
 * unknown names and values of the wrong type before anything runs. Values with richer rules (ranges, token
 * ids, texts) are kind "checked": their own validation follows in the function that takes them.
 */
import { checkKnownOptions, invalidOption } from "./errors.js";

export type OptionKind =
  | "boolean"
  | "string"
  | "integer"
  | "function"
  | "signal"
  | "object"
  | { readonly oneOf: readonly string[] }
  | "checked";

export type OptionTable = Readonly<Record<string, OptionKind>>;

/** The names of a table, for `--generation-kwargs`-style key checks. */
export const optionNames = (table: OptionTable): readonly string[] => Object.keys(table);

function isAbortSignal(v: unknown): v is AbortSignal {
  return v instanceof AbortSignal || (typeof v === "object" && v !== null && typeof (v as AbortSignal).addEventListener === "function" && typeof (v as AbortSignal).aborted === "boolean");
}

/** Refuses a non-object, unknown names (ERR_UNKNOWN_OPTION) and values whose type the table rules out (ERR_INVALID_OPTION). */
export function checkOptions(where: string, options: unknown, table: OptionTable): void {
  if (options === undefined || options === null) return;
  if (typeof options !== "object" || Array.isArray(options)) throw invalidOption(`the options of ${where}`, "an object", options);
  checkKnownOptions(where, options, optionNames(table));
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const kind = table[name]!;
    if (typeof kind === "object") {
      if (typeof value !== "string" || !kind.oneOf.includes(value)) throw invalidOption(name, `one of ${kind.oneOf.map((s) => JSON.stringify(s)).join(", ")}`, value);
      continue;
    }
    switch (kind) {
      case "boolean":
        if (typeof value !== "boolean") throw invalidOption(name, "a boolean", value);
        break;
      case "string":
        if (typeof value !== "string") throw invalidOption(name, "a string", value);
        break;
      case "integer":
        if (!Number.isSafeInteger(value)) throw invalidOption(name, "an integer", value);
        break;
      case "function":
        if (typeof value !== "function") throw invalidOption(name, "a function", value);
        break;
      case "signal":
        if (!isAbortSignal(value)) throw invalidOption(name, "an AbortSignal", value);
        break;
      case "object":
        if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidOption(name, "an object", value);
        break;
      case "checked":
        break;
    }
  }
}

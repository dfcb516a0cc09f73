/**
 * `attribute-dataset --dataset-kwargs '{...}'`: the keyword arguments Inseq passes on to `datasets.load_dataset`,
 * as far as they mean something for local files here. Anything else is refused by name (never silently dropped).
 */
import { ErrorCode, InseqError } from "../core/errors.js";

export interface DatasetKwargs {
  dataFiles?: string[];
  dataDir?: string;
  delimiter?: string;
  header?: boolean;
  columnNames?: string[];
}

/** Keys load_dataset takes as its own arguments: Inseq passes them explicitly, so they belong to their flags. */
const OWN_FLAGS: Readonly<Record<string, string>> = {
  path: "--dataset", name: "--dataset-config", split: "--dataset-split", revision: "--dataset-revision",
  token: "--dataset-auth-token", use_auth_token: "--dataset-auth-token",
};

const SUPPORTED = ["data_files", "data_dir", "sep", "delimiter", "header", "names", "column_names"];

function bad(key: string, expected: string, value: unknown): InseqError {
  return new InseqError(ErrorCode.INVALID_OPTION, `Expected ${expected} for --dataset-kwargs ${key} but received ${JSON.stringify(value)}`);
}

function stringList(key: string, value: unknown): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === "string" && v.length > 0)) throw bad(key, "a file name or a non-empty list of them", value);
  return list as string[];
}

export function datasetKwargs(kw: Record<string, unknown> | undefined): DatasetKwargs {
  const out: DatasetKwargs = {};
  if (kw === undefined) return out;
  if (typeof kw !== "object" || kw === null || Array.isArray(kw)) throw bad("", "a JSON object", kw);
  for (const [key, value] of Object.entries(kw)) {
    if (Object.hasOwn(OWN_FLAGS, key)) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `--dataset-kwargs ${key}: give it with ${OWN_FLAGS[key]} (load_dataset takes it as its own argument)`);
    }
    switch (key) {
      case "data_files":
        out.dataFiles = stringList(key, value);
        break;
      case "data_dir":
        if (typeof value !== "string" || value === "") throw bad(key, "a directory", value);
        out.dataDir = value;
        break;
      case "sep":
      case "delimiter":
        if (typeof value !== "string") throw bad(key, "one character", value);
        out.delimiter = value;
        break;
      case "header":
        // pandas: 0 / "infer" = the first row names the columns, null = no header row.
        if (value === 0 || value === "infer") out.header = true;
        else if (value === null) out.header = false;
        else throw bad(key, '0, "infer" or null', value);
        break;
      case "names":
      case "column_names":
        if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v !== "")) throw bad(key, "a non-empty list of column names", value);
        out.columnNames = value as string[];
        break;
      default:
        throw new InseqError(ErrorCode.INVALID_OPTION, `Unsupported --dataset-kwargs key ${JSON.stringify(key)}: supported are ${SUPPORTED.join(", ")}`);
    }
  }
  return out;
}

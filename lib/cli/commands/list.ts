import { Argument, Command } from "commander";

import { listAggregationFunctions as listFunctionsFallback } from "../../aggregators/functions.js";
import { explainAttributionId, listFeatureAttributionMethods, listStepFunctions, METHODS } from "../../attribution/registry.js";
import { NATIVE_MODEL_TYPES, nativeModelKind, TORCHSCRIPT_EXPORT_HINT } from "../../models/model-types.js";

export const LIST_KINDS = ["methods", "step-functions", "aggregators", "aggregation-functions", "models"] as const;
export type ListKind = (typeof LIST_KINDS)[number];

/** What `lib/aggregators/registry.js` offers, when that module exists. */
interface AggregatorRegistryModule {
  listAggregators?: () => string[];
  listAggregationFunctions?: () => string[];
}

/** A specifier the compiler does not resolve: the registry module may not exist in every build. */
const AGGREGATOR_REGISTRY = "../../aggregators/registry.js";

function isModuleNotFound(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  return (
    e?.code === "ERR_MODULE_NOT_FOUND" ||
    e?.code === "MODULE_NOT_FOUND" ||
    /Cannot find module|Failed to load url|Does the file exist|does not exist/i.test(e?.message ?? "")
  );
}

/**
 * Aggregator and aggregation-function ids: from the aggregator registry (`listAggregators`,
 * `listAggregationFunctions`) when it is there, else the aggregation functions of `aggregators/functions.js` and
 * the one aggregator built on them, `scores`. Only a missing module falls back; other load errors propagate.
 */
export async function listAggregatorIds(
  load: () => Promise<AggregatorRegistryModule> = () => import(/* @vite-ignore */ AGGREGATOR_REGISTRY) as Promise<AggregatorRegistryModule>,
): Promise<{ aggregators: string[]; aggregationFunctions: string[] }> {
  let registry: AggregatorRegistryModule = {};
  try {
    registry = await load();
  } catch (err) {
    if (!isModuleNotFound(err)) throw err;
  }
  return {
    aggregators: typeof registry.listAggregators === "function" ? registry.listAggregators() : ["scores"],
    aggregationFunctions:
      typeof registry.listAggregationFunctions === "function" ? registry.listAggregationFunctions() : listFunctionsFallback(),
  };
}

/** Every list, keyed by kind. */
export async function listAll(): Promise<Record<ListKind, string[]>> {
  const { aggregators, aggregationFunctions } = await listAggregatorIds();
  return {
    methods: listFeatureAttributionMethods(),
    "step-functions": listStepFunctions(),
    aggregators,
    "aggregation-functions": aggregationFunctions,
    models: Object.values(NATIVE_MODEL_TYPES).flat(),
  };
}

/** One-line description for `--long` (methods and step functions have one; aggregators print their id only). */
function describe(kind: ListKind, id: string): string {
  if (kind === "methods") return METHODS.find((m) => m.id === id)?.description ?? "";
  if (kind === "models") return `${nativeModelKind(id)}, native`;
  if (kind === "step-functions") {
    return (explainAttributionId(id) ?? "").split("\n")[0]!.replace(/^[^:]*:\s*/, "");
  }
  return "";
}

/** What `list --long` adds after the native model types. */
const OTHER_MODELS = `\nany other model_type: ${TORCHSCRIPT_EXPORT_HINT}`;

export function makeListCommand(): Command {
  return new Command("list")
    .description("list attribution methods, step functions, aggregators, aggregation functions or natively implemented model types")
    .addArgument(new Argument("[kind]", "what to list (default: everything, under headings)").choices(LIST_KINDS))
    .option("-l, --long", "add each method's / step function's description, each model type's kind", false)
    .option("--json", "print JSON: an array for one kind, an object of arrays for everything", false)
    .action(async (kind: ListKind | undefined, opts: { long: boolean; json: boolean }) => {
      const all = await listAll();
      if (opts.json) {
        process.stdout.write(JSON.stringify(kind ? all[kind] : all, null, 2) + "\n");
        return;
      }
      const lines = (k: ListKind, indent: string) => {
        const ids = all[k];
        const width = Math.max(0, ...ids.map((id) => id.length));
        return ids.map((id) => {
          const d = opts.long ? describe(k, id) : "";
          return d ? `${indent}${id.padEnd(width)}  ${d}` : `${indent}${id}`;
        });
      };
      if (kind) {
        process.stdout.write(lines(kind, "").join("\n") + "\n" + (kind === "models" && opts.long ? OTHER_MODELS + "\n" : ""));
        return;
      }
      const blocks = LIST_KINDS.map((k) => [`${k}:`, ...lines(k, "  ")].join("\n"));
      process.stdout.write(blocks.join("\n\n") + "\n");
      if (opts.long) process.stdout.write(OTHER_MODELS + "\n");
    });
}

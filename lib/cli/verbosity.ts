/**
 * Inseq's `--verbose` (`-v`, INFO) and `--very_verbose` (`-vv`, DEBUG) for `attribute` and `attribute-dataset`, and
 * its `--aggregate_output` (which has no effect in Inseq either). Messages go to stderr as `inseq: ...`; they
 * never include secrets (tokens in --model-kwargs / --dataset-auth-token are not logged).
 */
import { Option } from "commander";

/** What both model kinds' `info` has that the line below prints. */
interface LoadedInfo {
  name: string; modelType: string; numLayers: number; hiddenSize: number; numParameters?: number; dtype: string; device: string;
}

export type Verbosity = 0 | 1 | 2;

/** The options these commands add, and the alias `-vv` (a two-letter short flag commander cannot declare). */
export function verbosityOptions(): Option[] {
  return [
    new Option("-v, --verbose", "print what the run does (model, device, timings) on stderr").default(false),
    new Option("--very-verbose", "also print the resolved attribution options (Inseq's -vv)").default(false),
    new Option("--aggregate-output", "accepted for Inseq command lines (no effect there either): aggregate what is saved with --attribution-aggregators").default(false).hideHelp(),
  ];
}

export const VERBOSITY_ALIASES = { "-vv": "--very-verbose" } as const;

export function verbosity(opts: { verbose?: boolean; veryVerbose?: boolean }): Verbosity {
  return opts.veryVerbose ? 2 : opts.verbose ? 1 : 0;
}

/** A logger for one command run: `info` from -v on, `debug` from -vv on. */
export function logger(level: Verbosity, write: (s: string) => void = (s) => void process.stderr.write(s)) {
  return {
    info: (message: string) => {
      if (level >= 1) write(`inseq: ${message}\n`);
    },
    debug: (message: string) => {
      if (level >= 2) write(`inseq: [debug] ${message}\n`);
    },
  };
}

export type Logger = ReturnType<typeof logger>;

/** One line about a loaded model. */
export function describeModel(info: LoadedInfo, ms: number): string {
  const n = info.numParameters;
  const params = n === undefined ? "" : n >= 1e6 ? `, ${(n / 1e6).toFixed(1)}M parameters` : `, ${(n / 1e3).toFixed(1)}K parameters`;
  return `loaded ${info.name} (${info.modelType}, ${info.numLayers} layers x ${info.hiddenSize}${params}, ${info.dtype}) on ${info.device} in ${(ms / 1000).toFixed(2)}s`;
}

/** Attribute options for a debug line: functions and signals named, not printed. */
export function describeOptions(options: Record<string, unknown>): string {
  return JSON.stringify(options, (_k, v) => (typeof v === "function" ? "[function]" : v instanceof AbortSignal ? "[signal]" : v));
}

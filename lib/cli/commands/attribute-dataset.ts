import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Command, Option, type OptionValues } from "commander";

import { writeFileAtomic } from "../../core/atomic-write.js";
import { FeatureAttributionOutput } from "../../results/attribution.js";

import { ErrorCode, InseqError } from "../../core/errors.js";
import { defaultAttributedFn, listFeatureAttributionMethods, listStepFunctions, type MethodId } from "../../attribution/registry.js";
import { loadModel, type DeviceOption } from "../../models/load-model.js";
import { DATASET_FORMATS, openDataset, type DatasetFormat } from "../../dataset/readers.js";
import { PARQUET_REVISION } from "../../dataset/hub-dataset.js";
import { concatSplits } from "../../dataset/concat.js";
import { mergeRecordFiles } from "../../dataset/merge.js";
import { isHubId } from "../../hub/hub.js";
import { datasetKwargs } from "../dataset-kwargs.js";
import { planOutput, RecordWriter, scanRecords, type DatasetRecord } from "../../dataset/records.js";
import { runConfig } from "../../dataset/run-config.js";
import { attributeExamples, selectExamples, type SkippedRow } from "../../dataset/attribute-dataset.js";
import { parseShard, parseSplit } from "../../dataset/split.js";
import { parseQueueUrl } from "../../queue/connection.js";
import { DEFAULT_JOB_ROWS, DEFAULT_QUEUE_NAME } from "../../queue/jobs.js";
import { runOnQueue } from "../../queue/producer.js";
import { camel, generationKwargsOption, intOption, jsonOption } from "../parse.js";
import { ProgressBar } from "../progress.js";
import { loadKwargs, modelKwargsOption, tokenizerKwargsOption, trustRemoteCodeOption } from "../model-options.js";
import { describeModel, describeOptions, logger, verbosity, verbosityOptions, VERBOSITY_ALIASES } from "../verbosity.js";
import { acceptInseqSpellings, DATASET_ALIASES } from "../inseq-aliases.js";
import { applySaveAggregation, granularFor, saveAggregation, saveAggregationOptions, type SaveAggregation } from "../save-aggregation.js";
import { checkAttributionKwargs, routeAttributionKwargs } from "./attribute.js";



function parseDelimiter(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const d = value === "\\t" || value.toLowerCase() === "tab" ? "\t" : value;
  if (d.length !== 1 || d === '"' || d === "\n" || d === "\r") {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected one character (or "\\t" / "tab") for --delimiter but received ${JSON.stringify(value)}`);
  }
  return d;
}

function parseColumnNames(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected comma-separated non-empty names for --column-names but received ${JSON.stringify(value)}`);
  return names;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** Checks that need neither the dataset nor the model: the output's extension and the JSON keyword arguments. */
function checkOptions(opts: { output?: string; attributionKwargs?: Record<string, unknown>; attributionMethod: string; vizPath?: string; overwrite: boolean; resume: boolean }): void {
  if (opts.output === undefined) {
    // Inseq's documented command line saves nothing and writes --viz-path only.
    if (opts.vizPath === undefined) throw new InseqError(ErrorCode.INVALID_OPTION, "Expected --output (records) or --viz-path (HTML) but received neither: the run would write nothing");
    if (opts.resume) throw new InseqError(ErrorCode.INVALID_OPTION, "Expected --output with --resume (the records to continue) but received none");
  } else if (INSEQ_JSON.test(opts.output)) {
    // One Inseq JSON document at the end (Inseq's --save_path); the records are kept beside it until then.
    if (!opts.overwrite && !opts.resume && existsSync(opts.output)) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a path that does not exist (or --overwrite) for --output but received ${JSON.stringify(opts.output)}: the file already exists`);
    }
  } else if (!/\.jsonl(\.gz)?$/i.test(opts.output)) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected a .jsonl or .jsonl.gz path (one record per line, resumable) or a .json / .json.gz path (one Inseq JSON document) for --output but received ${JSON.stringify(opts.output)}`,
    );
  }
  checkAttributionKwargs(opts.attributionKwargs ?? {}, opts.attributionMethod);
  if (opts.vizPath !== undefined && !opts.overwrite && existsSync(opts.vizPath)) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a path that does not exist (or --overwrite) for --viz-path but received ${JSON.stringify(opts.vizPath)}: the file already exists`);
  }
}

/** An --output written as one Inseq JSON document (FeatureAttributionOutput.save), not JSONL records. */
const INSEQ_JSON = /\.json(\.gz)?$/i;

/** Where the records of a .json / .json.gz --output go while the run lasts (and what --resume continues). */
export function recordsPathFor(output: string): string {
  return output.replace(INSEQ_JSON, "") + ".records.jsonl";
}

/** The aggregation in the run's configuration (so --resume and merge refuse a different one). */
function aggregationConfig(agg: SaveAggregation | undefined): Record<string, unknown> {
  if (!agg) return {};
  return {
    attribution_aggregators: agg.aggregators, attribution_selectors: agg.selectors ?? null,
    normalize_attributions: agg.normalize, rescale_attributions: agg.rescale,
  };
}

/** --viz-path: the HTML heatmaps of every record of the output, by row index. */
async function writeViz(output: string, vizPath: string): Promise<void> {
  const records: DatasetRecord[] = [];
  scanRecords(output, (r) => void records.push(r));
  records.sort((a, b) => a.index - b.index);
  if (records.length === 0) {
    process.stderr.write(`inseq: no records in ${output}; ${vizPath} not written\n`);
    return;
  }
  const merged = FeatureAttributionOutput.merge(records.map((r) => FeatureAttributionOutput.fromJSON(r.attribution)));
  await writeFileAtomic(vizPath, merged.show({ format: "html" }));
}

export function makeAttributeDatasetCommand(): Command {
  const cmd = new Command("attribute-dataset")
    .description("attribute every example of a dataset (JSONL, JSON, CSV/TSV, text, Parquet, or a Hugging Face Hub dataset) to a JSONL file, resumably")
    .requiredOption("-d, --dataset <path|id>", "local data file, or a Hugging Face Hub dataset id (read from its Parquet conversion)")
    .requiredOption("-i, --input-text-field <name>", "column holding the prompts")
    .option("-g, --generated-text-field <name>", "column holding forced targets (each starts with its prompt); omit to generate")
    .option("--split, --dataset-split <split>", 'split and slice, as in Hugging Face datasets: "train", "train[:20]", "train[10:20]", "train[-5:]", "train[:10%]"', "train")
    .option("--config, --dataset-config <name>", "Hub datasets: config (subset) name", "default")
    .option("--revision, --dataset-revision <rev>", "Hub datasets: revision holding the Parquet files", PARQUET_REVISION)
    .addOption(new Option("--dataset-format <format>", "file format (default: from the extension)").choices(DATASET_FORMATS))
    .option("--delimiter <char>", 'CSV/TSV field delimiter ("\\t" or "tab" for tabs; default "," for .csv, tab for .tsv and tabbed .txt)')
    .option("--no-header", "CSV/TSV: the first row is data, not column names")
    .option("--column-names <a,b,c>", 'CSV/TSV column names (without a header the default is "0", "1", ...)')
    .option("--files, --dataset-files <files...>", "Inseq's form of local files: --dataset json|csv|text|parquet (a datasets builder name) with the files here, read in order as one split")
    .option("--dir, --dataset-dir <dir>", "Inseq's data_dir: with --dataset json|csv|text|parquet, every file of that format in the directory (by name); --dataset-files relative to it")
    .option("--auth, --dataset-auth-token <token>", "Hub datasets: access token (default $HF_TOKEN); sent to the Hub's origin only, never logged")
    .option("--dataset-kwargs <json>", 'more load_dataset arguments as JSON: data_files, data_dir, and the csv builder\'s sep/delimiter, header (0 or null), names/column_names', jsonOption)
    .option("-o, --output <file>", "JSONL output, one record per example (.jsonl.gz: gzip); .json / .json.gz: one Inseq JSON document written at the end (records kept in FILE.records.jsonl until then, for --resume); without it, --viz-path only")
    .option("--resume", "continue an interrupted output: drop a partial last record, skip rows already done, append the rest", false)
    .option("--viz-path <file>", "after the run, write the HTML heatmaps of the output's records (by row index) to this file")
    .option("--overwrite", "replace an existing output (and --viz-path file)", false)
    .option("--shard <i/n|auto>", "process only rows whose index % n == i; auto: i from $JOB_COMPLETION_INDEX, n from $INSEQ_SHARD_COUNT (a Kubernetes Indexed Job)")
    .option("--queue <url>", "attribute on a job queue (redis://[user:password@]host[:port][/db] or rediss://; without a password in the URL, $INSEQ_QUEUE_PASSWORD): enqueue the rows for `inseq worker` processes and write their records here, in dataset order")
    .option("--queue-name <name>", "with --queue: the BullMQ queue (the workers' --queue-name)", DEFAULT_QUEUE_NAME)
    .option("--job-rows <n>", "with --queue: rows of the dataset per job (a multiple of --batch-size keeps a single run's batches)", intOption, DEFAULT_JOB_ROWS)
    .addOption(new Option("--on-error <mode>", "unreadable rows and failing examples: stop, or skip them (reported on stderr)").choices(["stop", "skip"]).default("stop"))
    .option("-m, --model <id>", "model directory, hub id, or \"default\" (the bundled model)", "default")
    .addOption(new Option("-a, --attribution-method <id>", "attribution method").choices(listFeatureAttributionMethods()).default("saliency"))
    .addOption(new Option("--step-scores <ids...>", "step functions computed at every step").choices(listStepFunctions()))
    .addOption(new Option("--attributed-fn <id>", "step function to attribute (default: the method's, probability; logit for attn_lrp, cp_lrp and alti_logit)").choices(listStepFunctions()))
    .option("--attribution-kwargs <json>", "method / step-function options as JSON, e.g. '{\"n_steps\": 100}'", jsonOption)
    .option("--generation-kwargs <json>", "generation options as JSON, e.g. '{\"max_new_tokens\": 10}'", generationKwargsOption)
    .option("--output-step-attributions", "accepted for Inseq command lines: per-step outputs are never saved", false)
    .option("--bs, --batch-size <n>", "examples per attribution call and per flush to the output", intOption, 8)
    .option("-s, --attr-pos-start <n>", "first target position to attribute", intOption)
    .option("-e, --attr-pos-end <n>", "last target position (exclusive)", intOption)
    .option("--eos, --include-eos-baseline", "replace EOS by UNK in the baseline too", false)
    .option("--attribute-target", "encoder-decoders: also attribute the target prefix", false)
    .option("--generate-from-target-prefix", "encoder-decoders: generate continuing the generated-text-field prefixes", false)
    .addOption(new Option("--device <device>", "device").default("auto"))
    .option("--offline", "never touch the network (also HF_HUB_OFFLINE=1)")
    .addOption(modelKwargsOption())
    .addOption(tokenizerKwargsOption())
    .addOption(trustRemoteCodeOption())
    .option("--hide, --hide-attributions", "accepted for Inseq command lines: attribute-dataset prints no heatmaps", false)
    .option("--progress", "always show the progress bar (default: when stderr is a terminal)")
    .option("--no-progress", "never show the progress bar")
    .hook("preAction", (c) => checkOptions(c.opts()))
    .action(async (opts) => {
      const started = performance.now();
      // Without --output the records go to a temporary file, read back for --viz-path, then removed.
      const scratch = opts.output === undefined ? mkdtempSync(path.join(tmpdir(), "inseq-dataset-")) : undefined;
      if (scratch) opts.output = path.join(scratch, "records.jsonl");
      // A .json output: records beside it (resumable), joined into one Inseq JSON document when the run is complete.
      const inseqJson: string | undefined = !scratch && INSEQ_JSON.test(opts.output) ? opts.output : undefined;
      if (inseqJson) opts.output = recordsPathFor(inseqJson);
      try {
        await run(opts, started, scratch !== undefined);
        if (inseqJson) {
          const merged = await mergeRecordFiles([opts.output], inseqJson, { overwrite: true });
          rmSync(opts.output, { force: true });
          process.stderr.write(`inseq: wrote ${merged.records} sequence${merged.records === 1 ? "" : "s"} to ${inseqJson} (one Inseq JSON document)\n`);
        }
      } finally {
        if (scratch) rmSync(scratch, { recursive: true, force: true });
      }
    });
  for (const o of [...saveAggregationOptions(), ...verbosityOptions()]) cmd.addOption(o);
  return acceptInseqSpellings(cmd, { ...DATASET_ALIASES, ...VERBOSITY_ALIASES });
}

/** Hugging Face `datasets` builder names and the formats their data files are read as (json: by extension). */
const BUILDERS: Readonly<Record<string, DatasetFormat | undefined>> = { json: undefined, csv: "csv", text: "text", parquet: "parquet" };
/** The file extensions a builder reads from a `data_dir` (datasets' builders' own lists, lower case). */
const BUILDER_EXTENSIONS: Readonly<Record<string, readonly string[]>> = {
  json: [".json", ".jsonl", ".ndjson"], csv: [".csv"], text: [".txt", ".text"], parquet: [".parquet", ".pq"],
};

/** Where the rows come from: one or more local files (read in this order as one split) and their format. */
export interface DatasetSource {
  paths: string[];
  format: DatasetFormat | undefined;
}

/** The files of `dir` that `builder` reads (sorted by name, as datasets' glob patterns resolve them). */
function filesInDir(builder: string, dir: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    names = readdirSync(dir);
  } catch {
    throw new InseqError(ErrorCode.NOT_FOUND, `Expected a directory for --dataset-dir but received ${JSON.stringify(dir)}: not found or not a directory`);
  }
  const exts = BUILDER_EXTENSIONS[builder]!;
  const files = names
    .filter((n) => !n.startsWith(".") && exts.some((e) => n.toLowerCase().endsWith(e) || n.toLowerCase().endsWith(e + ".gz")))
    .sort()
    .map((n) => path.join(dir, n));
  if (files.length === 0) throw new InseqError(ErrorCode.NOT_FOUND, `No ${exts.join("/")} files in --dataset-dir ${JSON.stringify(dir)} for --dataset ${builder}`);
  return files;
}

/**
 * The files and format to read: `--dataset` itself, or Inseq's `--dataset_name json --dataset_files a.jsonl b.jsonl`
 * (`load_dataset(builder, data_files=[...])`) / `--dataset_name csv --dataset_dir DIR` (every file of the builder's
 * extensions in DIR), read with the builder's format as one split. ERR_INVALID_OPTION for --dataset-files or
 * --dataset-dir with a dataset that is not a builder name, or a builder name with neither.
 */
export function datasetSource(dataset: string, files: readonly string[] | string | undefined, format: DatasetFormat | undefined, dir?: string): DatasetSource {
  const builder = Object.hasOwn(BUILDERS, dataset);
  const list = typeof files === "string" ? [files] : files;
  if (list === undefined && dir === undefined) {
    if (builder && !existsSync(dataset)) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `--dataset ${dataset} is a datasets builder name: give its files with --dataset-files or --dataset-dir (or the file itself as --dataset)`);
    }
    return { paths: [dataset], format };
  }
  if (!builder) {
    const flag = list !== undefined ? "--dataset-files" : "--dataset-dir";
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected --dataset json, csv, text or parquet with ${flag} (Inseq's load_dataset(builder, ${list !== undefined ? "data_files" : "data_dir"}=...)) but received --dataset ${JSON.stringify(dataset)}` +
        (list === undefined && isHubId(dataset) ? ": a Hub dataset is read from its Parquet conversion, which has no data_dir; choose the subset with --dataset-config" : ""),
    );
  }
  // datasets: data_files relative to data_dir when both are given.
  const paths = list !== undefined ? list.map((f) => (dir !== undefined && !path.isAbsolute(f) ? path.join(dir, f) : f)) : filesInDir(dataset, dir!);
  return { paths, format: format ?? BUILDERS[dataset] };
}

/** The run itself (`opts.output` set: the user's file or a scratch one). */
async function run(opts: OptionValues, started: number, scratch: boolean): Promise<void> {
  if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a positive integer for --batch-size but received ${opts.batchSize}`);
  }
  const aggregation = saveAggregation(opts);
  const log = logger(verbosity(opts));
  const load = loadKwargs(opts.modelKwargs, opts.tokenizerKwargs);
  const split = parseSplit(opts.datasetSplit);
  const shard = opts.shard !== undefined ? parseShard(opts.shard) : undefined;
  const queue = opts.queue !== undefined ? parseQueueUrl(opts.queue) : undefined;
  const method: MethodId = opts.attributionMethod; // one of the choices, checked by commander
  const stepScores: string[] = opts.stepScores ?? [];
  const attributedFn: string = opts.attributedFn ?? defaultAttributedFn(method);

  // 1. Everything that can fail fast, before the model loads: dataset, fields, split, output.
  const kw = datasetKwargs(opts.datasetKwargs);
  const source = datasetSource(opts.dataset, kw.dataFiles ?? opts.datasetFiles, opts.datasetFormat as DatasetFormat | undefined, kw.dataDir ?? opts.datasetDir);
  const openOne = (file: string) =>
    openDataset(file, {
      split: split.split,
      format: source.format,
      delimiter: parseDelimiter(kw.delimiter ?? opts.delimiter),
      header: kw.header ?? opts.header,
      columnNames: kw.columnNames ?? parseColumnNames(opts.columnNames),
      config: opts.datasetConfig,
      hub: { revision: opts.datasetRevision, offline: opts.offline, ...(opts.datasetAuthToken ? { token: opts.datasetAuthToken } : {}) },
    });
  const files = [];
  for (const file of source.paths) files.push(await openOne(file));
  const ds = concatSplits(files);
  const gen = opts.generationKwargs ? Object.fromEntries(Object.entries(opts.generationKwargs).map(([k, v]) => [camel(k), v])) : undefined;
  const routed = routeAttributionKwargs(opts.attributionKwargs ?? {});
  const attributeOptions = {
    method, stepScores, attributedFn,
    attrPosStart: opts.attrPosStart, attrPosEnd: opts.attrPosEnd,
    includeEosBaseline: opts.includeEosBaseline, generationArgs: gen,
    // Encoder-decoder switches, only when set (so configurations of runs without them are unchanged).
    ...(opts.attributeTarget ? { attributeTarget: true } : {}),
    ...(opts.generateFromTargetPrefix ? { generateFromTargetPrefix: true } : {}),
    ...routed,
    ...granularFor(aggregation, method, routed),
  };
  // The whole configuration is compared with a resumed output's (and stored in every record).
  const config = {
    ...runConfig({ model: opts.model, attributeOptions, inputTextField: opts.inputTextField, generatedTextField: opts.generatedTextField }),
    ...(load.dtype ? { torch_dtype: load.dtype } : {}),
    ...aggregationConfig(aggregation),
  };
  const plan = planOutput(opts.output, { resume: opts.resume, overwrite: opts.overwrite, config });
  const sel = await selectExamples(ds, {
    split, shard, done: plan.done, onError: opts.onError,
    inputTextField: opts.inputTextField, generatedTextField: opts.generatedTextField,
  });
  let warned = 0;
  const warnSkip = (r: SkippedRow) => {
    if (warned++ < 10) process.stderr.write(`inseq: skipped row ${r.index}: ${r.reason}\n`);
    else if (warned === 11) process.stderr.write("inseq: (more skipped rows not shown)\n");
  };
  sel.skipped.forEach(warnSkip);
  if (plan.droppedBytes > 0) process.stderr.write(`inseq: dropped an interrupted last record (${plan.droppedBytes} bytes) from ${opts.output}\n`);

  // 2. Attribute and write (here, or by `inseq worker` processes on a queue).
  const writer = new RecordWriter(plan);
  let stats: { written: number; skipped: SkippedRow[]; wallMs: number; attributeMs?: number; writeMs?: number } | undefined;
  try {
    if (sel.examples.length > 0 && queue) {
      // A hub token stays out of Redis: workers use their own (HF_TOKEN).
      const { token: _token, ...jobLoad } = load;
      const bar = new ProgressBar(`attributing with ${method} on queue ${opts.queueName}`, { enabled: opts.progress });
      stats = await runOnQueue({
        connection: queue, queueName: opts.queueName, jobRows: opts.jobRows,
        dataset: { source: ds.source, split: opts.datasetSplit }, range: sel, examples: sel.examples,
        template: {
          model: opts.model, load: jobLoad, attributeOptions, config, previousConfig: plan.firstConfig,
          ...(aggregation ? { aggregation } : {}), batchSize: opts.batchSize, onError: opts.onError,
        },
        writer, done: plan.done, onError: opts.onError,
        onProgress: (done, total) => bar.update(done, total, "ex"),
        onSkip: warnSkip,
        log: (line) => void process.stderr.write(`inseq: ${line}\n`),
      });
      bar.done();
    } else if (sel.examples.length > 0) {
      const loadStart = performance.now();
      const model = await loadModel(opts.model, { ...load, device: opts.device as DeviceOption, offline: opts.offline, trustRemoteCode: opts.trustRemoteCode });
      log.info(describeModel(model.info, performance.now() - loadStart));
      log.info(`attributing ${sel.examples.length} example${sel.examples.length === 1 ? "" : "s"} of ${ds.source} (${ds.numRows} rows in the split) with ${method}, ${opts.batchSize} per batch`);
      log.debug(`attribute options: ${describeOptions(attributeOptions)}`);
      try {
        if (!model.info.isEncoderDecoder && (opts.attributeTarget || opts.generateFromTargetPrefix)) {
          throw new InseqError(ErrorCode.INVALID_OPTION, "--attribute-target and --generate-from-target-prefix are for encoder-decoder models");
        }
        const bar = new ProgressBar(`attributing with ${method}`, { enabled: opts.progress });
        stats = await attributeExamples(model, sel.examples, writer, {
          batchSize: opts.batchSize,
          onError: opts.onError,
          attributeOptions, config, previousConfig: plan.firstConfig,
          ...(aggregation ? { transform: (o: FeatureAttributionOutput) => applySaveAggregation(o, aggregation) } : {}),
          onProgress: (done, total) => bar.update(done, total, "ex"),
          onSkip: warnSkip,
        });
        bar.done();
      } finally {
        await model.dispose();
      }
    }
  } finally {
    writer.close();
  }

  // 3. Summary.
  const written = stats?.written ?? 0;
  const skipped = sel.skipped.length + (stats?.skipped.length ?? 0);
  const parts = [`wrote ${written} record${written === 1 ? "" : "s"} to ${scratch ? "a scratch file (no --output)" : opts.output} in ${seconds(performance.now() - started)}`];
  if (stats && stats.attributeMs !== undefined && stats.writeMs !== undefined && stats.wallMs > 0 && written > 0) {
    const other = stats.writeMs;
    parts.push(`${(written / (stats.wallMs / 1000)).toFixed(1)} examples/s; attribution ${seconds(stats.attributeMs)}, aggregation + writing ${seconds(other)} (${((100 * other) / (stats.attributeMs + other)).toFixed(1)}%)`);
  } else if (stats && stats.wallMs > 0 && written > 0) {
    parts.push(`${(written / (stats.wallMs / 1000)).toFixed(1)} examples/s on queue ${opts.queueName}`);
  }
  if (sel.alreadyDone > 0) parts.push(`${sel.alreadyDone} already done`);
  if (skipped > 0) parts.push(`${skipped} skipped`);
  process.stderr.write(`inseq: ${parts.join("; ")}\n`);
  if (opts.vizPath) await writeViz(opts.output, opts.vizPath);
}

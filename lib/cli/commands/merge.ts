import { Command } from "commander";

import { mergeRecordFiles } from "../../dataset/merge.js";

export function makeMergeCommand(): Command {
  return new Command("merge")
    .description("join attribute-dataset outputs (shards, resumed runs) into one file ordered by row index")
    .argument("<files...>", "attribute-dataset outputs (.jsonl or .jsonl.gz)")
    .requiredOption("-o, --output <file>", "merged output: .jsonl / .jsonl.gz (records), or .json / .json.gz (one Inseq JSON document)")
    .option("--overwrite", "replace an existing output", false)
    .action(async (files: string[], opts) => {
      const stats = await mergeRecordFiles(files, opts.output, { overwrite: opts.overwrite });
      const dup = stats.duplicates > 0 ? ` (${stats.duplicates} duplicate${stats.duplicates === 1 ? "" : "s"} dropped)` : "";
      process.stderr.write(`inseq: merged ${stats.records} records from ${stats.inputs} file${stats.inputs === 1 ? "" : "s"} into ${opts.output}${dup}\n`);
    });
}

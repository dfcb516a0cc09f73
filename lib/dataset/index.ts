/** Datasets for `attribute-dataset`: readers (JSONL, JSON, CSV/TSV, text, Parquet, Hub), split syntax, records. */
export { openDataset, DATASET_FORMATS, type DatasetFormat, type DatasetSplit, type OpenDatasetOptions, type RowResult } from "./readers.js";
export { parseDelimited, type DelimitedRecord } from "./csv.js";
export { parseSplit, resolveSplit, parseShard, type SplitSpec, type Shard } from "./split.js";
export { resolveDatasetParquetFiles, PARQUET_REVISION, type DatasetHubOptions } from "./hub-dataset.js";
export {
  planOutput, scanRecords, recordInfo, RecordWriter, isGzipPath, fileWriteError,
  type DatasetRecord, type OutputPlan, type ScanResult, type RecordWriterOptions,
} from "./records.js";
export {
  selectExamples, attributeExamples, exampleOutput,
  type Example, type Selection, type SkippedRow, type AttributeExamplesOptions, type AttributeExamplesStats,
} from "./attribute-dataset.js";
export { mergeRecordFiles, type MergeOptions, type MergeStats } from "./merge.js";
export { runConfig, recordConfig, diffRunConfigs, type RunConfig, type RunConfigInput, type ConfigDifference } from "./run-config.js";

/** Datasets for `attribute-dataset`: readers (JSONL, JSON, CSV/TSV, text, Parquet, Hub), split syntax, records. */
export { openDataset, DATASET_FORMATS, type DatasetFormat, type DatasetSplit, type OpenDatasetOptions, type RowResult } from "./readers.js";
export { parseDelimited, type DelimitedRecord } from "./csv.js";
export { parseSplit, resolveSplit, parseShard, type SplitSpec, type Shard } from "./split.js";
export { resolveDatasetParquetFiles, PARQUET_REVISION, type DatasetHubOptions } from "./hub-dataset.js";
export { planOutput, scanRecords, recordInfo, RecordWriter, isGzipPath, type DatasetRecord, type OutputPlan, type ScanResult } from "./records.js";
export {
  selectExamples, attributeExamples, exampleOutput,
  type Example, type Selection, type SkippedRow, type AttributeExamplesOptions, type AttributeExamplesStats,
} from "./attribute-dataset.js";
export { mergeRecordFiles, type MergeOptions, type MergeStats } from "./merge.js";

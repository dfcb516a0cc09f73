#!/usr/bin/env node
// attribute-dataset throughput: saliency with the bundled default model (models/default) over the first 1,000
// WinoMT rows (generation default: 20 new tokens), at batch sizes 1, 8 (the CLI default) and 32, plain and gzip
// JSONL. Runs the same code as the CLI (selectExamples + attributeExamples from dist/) and reports examples/s
// and the share of time spent outside model.attribute() (splitting the batch output per example, encoding the
// record, writing it), with a target under 5%. Prints figures, not pass/fail.
//   node bench/attribute-dataset.mjs [--rows 1000] [--device cpu]
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { loadModel, runtimeInfo } from "../dist/index.js";
import { openDataset, parseSplit, planOutput, RecordWriter, selectExamples, attributeExamples } from "../dist/dataset/index.js";

const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const rows = Number(arg("--rows", 1000));
const device = arg("--device", "cpu");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const winomt = path.resolve(root, "../shared/fixtures/winomt/en.txt");

const ds = await openDataset(winomt, { header: false, columnNames: ["gender", "index", "sentence", "noun"] });
const split = parseSplit(`train[:${rows}]`);
const { examples } = await selectExamples(ds, { split, inputTextField: "sentence" });
const model = await loadModel("default", { device });
const dir = mkdtempSync(path.join(os.tmpdir(), "inseq-bench-ds-"));
await model.attribute(examples.slice(0, 8).map((e) => e.input), { method: "saliency" }); // warm-up

const results = [];
for (const [batchSize, gzip] of [[1, false], [8, false], [32, false], [8, true]]) {
  const file = path.join(dir, `out-${batchSize}.jsonl${gzip ? ".gz" : ""}`);
  const writer = new RecordWriter(planOutput(file, { overwrite: true }));
  const s = await attributeExamples(model, examples, writer, { batchSize, attributeOptions: { method: "saliency" } });
  writer.close();
  results.push({
    batchSize, gzip, examples: s.written,
    examplesPerSecond: +(s.written / (s.wallMs / 1000)).toFixed(1),
    attributeS: +(s.attributeMs / 1000).toFixed(2),
    aggregationWritingS: +(s.writeMs / 1000).toFixed(3),
    aggregationWritingShare: +((100 * s.writeMs) / (s.attributeMs + s.writeMs)).toFixed(2),
    msPerRecordOutside: +(s.writeMs / s.written).toFixed(3),
    bytesPerRecord: Math.round(statSync(file).size / s.written),
  });
}
await model.dispose();
rmSync(dir, { recursive: true, force: true });

const info = runtimeInfo();
console.log(`attribute-dataset, saliency, model "default" (${device}), ${examples.length} WinoMT rows, 20 new tokens; LibTorch ${info.torchVersion}, ${info.cpus} CPUs, ${info.threads} threads`);
console.log("batch  output      examples/s  attribute s  aggregation+writing s  share %  ms/record outside  bytes/record");
for (const r of results) {
  console.log(
    `${String(r.batchSize).padEnd(6)} ${(r.gzip ? "jsonl.gz" : "jsonl").padEnd(11)} ${String(r.examplesPerSecond).padEnd(11)} ${String(r.attributeS).padEnd(12)} ` +
      `${String(r.aggregationWritingS).padEnd(22)} ${String(r.aggregationWritingShare).padEnd(8)} ${String(r.msPerRecordOutside).padEnd(18)} ${r.bytesPerRecord}`,
  );
}
console.log(JSON.stringify(results));

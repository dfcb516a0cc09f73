#!/usr/bin/env node
// Evaluation benchmark (issue 13): every attribution method, its contrastive variants and the arguments that
// matter, on the bundled model's full held-out grammar set; one process, one intra-op thread (run it under
// `taskset -c 1`). Writes the reports (JSON) and prints the markdown tables of docs/evaluation.md.
//   taskset -c 1 node bench/evaluate-grammar.mjs [--limit N] [--parts main,replacement,ig,lime,randomization]
//        [--out bench/results/evaluate-grammar-DATE.json]
//   node bench/evaluate-grammar.mjs --report FILE      (only print the tables of a saved run)
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { evaluate, loadModel, openEvalSet, setNumThreads } from "../dist/index.js";
import { arg } from "./args.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}`);
const num = (x, d = 3) => (x === null || x === undefined ? "–" : x.toFixed(d));

/** The rows of one part: [title, evaluate options]. */
const PARTS = {
  // Run through the CLI (`inseq evaluate ... --json`), timed as a child process.
  main: ["Every method (default arguments) and its contrastive variant, counterfactual replacement (inseq evaluate)", {
    cli: [
      "saliency", "saliency+contrast_logits_diff", "input_x_gradient", "input_x_gradient+contrast_logits_diff",
      "integrated_gradients", "integrated_gradients+contrast_logits_diff", "gradient_shap", "deeplift",
      "deeplift+contrast_logits_diff", "layer_integrated_gradients", "layer_gradient_x_activation", "layer_deeplift",
      "occlusion", "occlusion+contrast_logits_diff", "lime", "attention", "attention:scoresLayer=-1", "value_zeroing",
      "value_zeroing:scoresLayer=-1", "attn_lrp", "attn_lrp+contrast_logits_diff", "cp_lrp", "cp_lrp+contrast_logits_diff", "attention_rollout", "attention_flow", "alti_logit", "alti_logit+contrast_logits_diff",
    ].join(","),
  }],
  replacement: ["The replacement changes the faithfulness ranking (baselines and two methods)", null],
  ig: ["Integrated gradients: nSteps against completeness and plausibility (first 200 items)", {
    methods: [16, 50, 300, 1000].map((n) => ({ method: "integrated_gradients", methodArgs: { nSteps: n } })),
    baselines: [], limit: 200,
  }],
  lime: ["LIME: nSamples (first 300 items)", {
    methods: [25, 50, 200, 500].map((n) => ({ method: "lime", methodArgs: { nSamples: n, seed: 1 } })),
    baselines: [], limit: 300,
  }],
  randomization: ["Model randomisation (cascading, 32 items)", {
    methods: ["saliency", { method: "saliency", attributedFn: "contrast_logits_diff" }, "integrated_gradients", "attention", "value_zeroing"],
    baselines: [], faithfulness: false, randomization: { items: 32 },
  }],
};

function tables(run) {
  const lines = [];
  for (const part of run.parts) {
    lines.push(`### ${part.title}`, "", `${part.report.set.items} items (${part.report.set.verified} causally verified), replacement ${part.report.replacement}, ${part.seconds.toFixed(0)} s.`, "");
    const faith = part.report.methods.some((m) => m.groups[0].faithfulness);
    lines.push(`| method | top-1 % | top-1 % verified | mean rank | ev>dis % | AUPRC |${faith ? " comp@1 | comp@2 | suff@1 | AOPC comp | AOPC suff | flip@1 % |" : ""} ms/item |`);
    lines.push(`| --- | ---: | ---: | ---: | ---: | ---: |${faith ? " ---: | ---: | ---: | ---: | ---: | ---: |" : ""} ---: |`);
    for (const m of part.report.methods) {
      const all = m.groups.find((g) => g.group === "all");
      const verifiedAll = part.report.set.verified === part.report.set.items;
      const ver = m.groups.find((g) => g.group === "verified") ?? (verifiedAll ? all : null);
      const p = all.plausibility, f = all.faithfulness;
      lines.push(`| ${m.label} | ${pct(p.top1)} | ${pct(ver?.plausibility.top1)} | ${num(p.meanEvidenceRank, 2)} | ${pct(p.evidenceOverDistractors)} | ${num(p.auprc)} |` +
        (faith ? ` ${num(f?.comprehensiveness["1"])} | ${num(f?.comprehensiveness["2"])} | ${num(f?.sufficiency["1"])} | ${num(f?.aopcComprehensiveness)} | ${num(f?.aopcSufficiency)} | ${pct(f?.decisionFlip["1"])} |` : "") +
        ` ${m.msPerItem.toFixed(1)} |`);
    }
    const kinds = part.report.methods[0].groups.filter((g) => g.group !== "all" && g.group !== "verified").map((g) => g.group);
    if (part.name === "main" && kinds.length > 1) {
      lines.push("", `Top-1 % per dependency kind:`, "", `| method | ${kinds.join(" | ")} |`, `| --- |${kinds.map(() => " ---: |").join("")}`);
      for (const m of part.report.methods) lines.push(`| ${m.label} | ${kinds.map((k) => pct(m.groups.find((g) => g.group === k).plausibility.top1)).join(" | ")} |`);
    }
    const completeness = part.report.methods.filter((m) => m.completeness);
    if (completeness.length > 0) {
      lines.push("", "| method | completeness p50 | p90 | max | share > threshold |", "| --- | ---: | ---: | ---: | ---: |");
      for (const m of completeness) lines.push(`| ${m.label} | ${num(m.completeness.p50, 4)} | ${num(m.completeness.p90, 4)} | ${num(m.completeness.max, 4)} | ${pct(m.completeness.overThreshold)} |`);
    }
    const randomized = part.report.methods.filter((m) => m.randomization);
    if (randomized.length > 0) {
      const steps = randomized[0].randomization.map((s) => s.randomized);
      lines.push("", `| method (Spearman vs trained) | ${steps.join(" | ")} |`, `| --- |${steps.map(() => " ---: |").join("")}`);
      for (const m of randomized) lines.push(`| ${m.label} | ${m.randomization.map((s) => num(s.spearman, 2)).join(" | ")} |`);
    }
    lines.push("");
  }
  lines.push(`Total: ${run.seconds.toFixed(0)} s on ${run.machine}.`);
  return lines.join("\n");
}

/** `inseq evaluate --methods LIST --json FILE` in a child (same core, one thread), its report read back. */
function runCli(methods) {
  const json = path.join(os.tmpdir(), `inseq-eval-bench-${process.pid}.json`);
  const args = [path.join(root, "dist/cli/index.js"), "evaluate", "--methods", methods, "--json", json, "--quiet", ...(limit ? ["--limit", limit] : [])];
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" } });
  if (r.status !== 0) throw new Error(`inseq evaluate failed (${r.status ?? r.signal})`);
  const report = JSON.parse(readFileSync(json, "utf8"));
  rmSync(json);
  return report;
}

const reportFile = arg("--report", null);
if (reportFile) {
  console.log(tables(JSON.parse(readFileSync(reportFile, "utf8"))));
  process.exit(0);
}

setNumThreads(1);
const limit = arg("--limit", null);
const parts = arg("--parts", Object.keys(PARTS).join(",")).split(",");
const out = path.resolve(arg("--out", path.join(root, "bench/results", `evaluate-grammar-${new Date().toISOString().slice(0, 10)}.json`)));
const model = await loadModel("default");
const set = await openEvalSet("grammar");
const run = { date: new Date().toISOString(), machine: "1 thread pinned to one core of the 2-core dev machine (Debian 12, LibTorch 2.x CPU)", parts: [], seconds: 0 };
const t0 = performance.now();
for (const name of parts) {
  const entry = PARTS[name];
  if (!entry) throw new Error(`unknown part ${name} (${Object.keys(PARTS).join(", ")})`);
  const [title, options] = entry;
  const runs = name === "replacement"
    ? ["unk", "pad", "mean", "counterfactual"].map((replacement) => [`${title}: ${replacement}`, {
      methods: ["saliency", { method: "saliency", attributedFn: "contrast_logits_diff" }], baselines: ["oracle", "random", "previous_word"], replacement,
    }])
    : [[title, options]];
  for (const [t, o] of runs) {
    const started = performance.now();
    const report = o.cli ? runCli(o.cli) : await evaluate(model, set, {
      ...o, ...(limit ? { limit: Math.min(Number(limit), o.limit ?? Infinity) } : {}),
      onProgress: (done, total, label) => process.stderr.write(`\r${t.slice(0, 40)}: ${done}/${total} ${label.padEnd(40)}`),
    });
    process.stderr.write("\n");
    run.parts.push({ name, title: t, seconds: (performance.now() - started) / 1000, report });
    mkdirSync(path.dirname(out), { recursive: true });
    run.seconds = (performance.now() - t0) / 1000;
    writeFileSync(out, JSON.stringify(run, null, 1) + "\n");
  }
}
await model.dispose();
console.log(tables(run));
console.error(`wrote ${out}`);

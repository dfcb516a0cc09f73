// Markdown tables of bench/long-context.mjs's rows: the figures, the scaling exponents (measured next to
// expected) and a sanity comparison of the two implementations' result checksums.

const OURS = "ours";
const PY = "python-inseq-0.7.1";

// Expected growth with the prompt length n (hidden 2048, MLP 8192, 16 generated tokens). A block costs about
// 61 M multiply-adds per token for its projections and MLP, plus ~2048·n for causal attention scores and
// values (4096·n without the causal half), which is 3-14 % on top at 512-2048 tokens and up to ~55 % at 8192:
// "time ~ n" therefore means a measured 1.0-1.2 between the longer lengths. Python Inseq 0.7.1 loads every model
// with attn_implementation="eager" (inseq/models/huggingface_model.py), which writes (and, for gradients, keeps)
// every layer's [heads, n, n] probabilities: hence its n^2 memory for the gradient methods too.
export const EXPECTED = {
  saliency: {
    time: { [OURS]: "1 (16 rows of <= n tokens; n^2 attention term small)", [PY]: "1-2 (a forward + backward of <= n tokens per step, eager attention; + [n, vocab] logits)" },
    memory: { [OURS]: "1 (one row's activations, or block inputs with checkpointing)", [PY]: "2 (eager attention keeps layers x heads x n^2 probabilities for backward)" },
  },
  attention: {
    time: { [OURS]: "1 (one forward)", [PY]: "1-2 (one forward; eager attention writes every n x n map)" },
    memory: { [OURS]: "1 (steps x n query rows per layer and head)", [PY]: "2 (layers x heads x n^2 attention maps)" },
  },
  occlusion: {
    time: { [OURS]: "2 (n occluded tokens x <= n re-run; KV cache: about half of Python's tokens per step)", [PY]: "2 (n occluded tokens x a forward of n tokens, for each step)" },
    memory: { [OURS]: "1 (KV cache + one batch)", [PY]: "1-2 (one forward; one layer's eager [heads, n, n] maps at a time)" },
  },
  integrated_gradients: {
    time: { [OURS]: "1 (16 steps x 16 rows of <= n tokens)", [PY]: "1-2 (16 steps per generated token, eager attention)" },
    memory: { [OURS]: "1", [PY]: "2 (eager attention maps of 16 steps x heads x layers)" },
  },
};

const fmt = (r) => {
  if (!r) return "-";
  if (r.status !== "ok") return r.status === "out of memory" ? `out of memory (${r.capMechanism}, ${r.capGb} GiB)` : `${r.status} (${r.wallSeconds} s)`;
  return `${r.seconds} s / ${r.peakRssMb} MB (+${r.extraMb})`;
};
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : "-");
const slope = (y1, y2, n1, n2) => (y1 > 0 && y2 > 0 ? (Math.log(y2 / y1) / Math.log(n2 / n1)).toFixed(2) : "n/a");
const rel = (a, b) => (Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30));

/** The report for `rows` (one model, depth, gen and thread count); the last row of a configuration wins. */
export function report(rows, { out } = {}) {
  const by = new Map();
  for (const r of rows) by.set(`${r.impl}|${r.method}|${r.promptTokens}`, r);
  const get = (impl, m, n) => by.get(`${impl}|${m}|${n}`);
  const configs = [...new Set(rows.map((r) => `${r.method}|${r.promptTokens}`))]
    .map((s) => s.split("|")).map(([m, n]) => [m, Number(n)])
    .sort((a, b) => Object.keys(EXPECTED).indexOf(a[0]) - Object.keys(EXPECTED).indexOf(b[0]) || a[1] - b[1]);
  if (configs.length === 0) return `no rows${out ? ` in ${out}` : ""}`;
  const r0 = rows[0];
  const lines = [
    `Model: ${r0.model === "tiny" ? "tiny test shape (64 wide, 4/2 heads, MLP 256, vocab 128256)" : "Llama-3.2-1B shape (2048 wide, GQA 32/8, MLP 8192, vocab 128256, tied), random bf16 weights"}, ` +
      `**${r0.layers} layers**${r0.model !== "tiny" && r0.layers !== 16 ? " (reduced depth: the 1B model has 16)" : ""}; ${r0.gen} forced generated tokens; ${r0.threads} thread(s); ` +
      `Python attention: ${[...new Set(rows.filter((r) => r.impl === PY).map((r) => r.pythonAttn ?? "eager"))].join(", ") || "-"}; ` +
      `cap ${r0.capGb} GiB (${[...new Set(rows.map((r) => r.capMechanism))].join(", ")})${out ? `; rows: ${out}` : ""}.`,
    "",
    "Seconds = the attribute() call alone; MB = peak RSS of the process (VmHWM), (+N) = peak of the call above the RSS just before it (model resident, after a warm-up call).",
    "",
    "| method | prompt tokens | ours s / peak MB (+above resident) | Python Inseq 0.7.1 | speed ratio (Python / ours) | memory ratio (Python / ours peak) |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const [m, n] of configs) {
    const [o, p] = [get(OURS, m, n), get(PY, m, n)];
    const ok = (r) => r?.status === "ok";
    // Python killed at the cap: it needed more than the cap, so the memory ratio is at least cap / ours.
    const memRatio = ok(o) && ok(p) ? ratio(p.peakRssMb, o.peakRssMb) : ok(o) && p?.status === "out of memory" ? `> ${((p.capGb * 1024) / o.peakRssMb).toFixed(1)}x` : "-";
    // Python stopped at --max-seconds-python: its call took at least the wall time less ~1 min of start-up, load and warm-up.
    const speed = ok(o) && ok(p) ? ratio(p.seconds, o.seconds) : ok(o) && p?.status === "timeout" && p.wallSeconds > 120 ? `> ${((p.wallSeconds - 60) / o.seconds).toFixed(1)}x` : "-";
    lines.push(`| ${m} | ${n} | ${fmt(o)} | ${fmt(p)} | ${speed} | ${memRatio} |`);
  }
  lines.push("", "Scaling: log-log slope between consecutive prompt lengths of the attribute() time and of the memory above the",
    "resident model (+N above: peak of the call minus RSS just before it, so the weights, runtime and warm-up state are",
    "left out). Expected exponents for these lengths next to them.", "",
    "| method | impl | lengths | time exponent | expected | memory exponent | expected |", "| --- | --- | --- | --- | --- | --- | --- |");
  for (const m of Object.keys(EXPECTED)) {
    for (const impl of [OURS, PY]) {
      const pts = configs.filter(([mm]) => mm === m).map(([, n]) => get(impl, m, n)).filter((r) => r?.status === "ok");
      if (pts.length === 0) continue;
      const pairs = pts.slice(1).map((r, i) => [pts[i], r]);
      const t = pairs.map(([a, b]) => slope(a.seconds, b.seconds, a.promptTokens, b.promptTokens)).join(", ") || "(one length)";
      const mem = pairs.map(([a, b]) => slope(a.extraMb, b.extraMb, a.promptTokens, b.promptTokens)).join(", ") || "(one length)";
      const failed = configs.filter(([mm, n]) => mm === m && get(impl, m, n) && get(impl, m, n).status !== "ok").map(([, n]) => `${n}: ${get(impl, m, n).status}`);
      lines.push(`| ${m} | ${impl === OURS ? "ours" : "Python"} | ${pts.map((r) => r.promptTokens).join(", ")}${failed.length ? ` (${failed.join("; ")})` : ""} | ${t} | ${EXPECTED[m].time[impl]} | ${mem} | ${EXPECTED[m].memory[impl]} |`);
    }
  }
  const both = configs.map(([m, n]) => [m, n, get(OURS, m, n), get(PY, m, n)]).filter(([, , o, p]) => o?.checksum && p?.checksum);
  if (both.length) {
    lines.push("", "Sanity: result checksums (same texts? posMean = attribution-weighted mean row; top = argmax row of each generated column).", "",
      "| method | prompt tokens | same texts | shape ours / Python | posMean ours / Python (rel. diff) | sumSq rel. diff | same top row |", "| --- | --- | --- | --- | --- | --- | --- |");
    for (const [m, n, o, p] of both) {
      const [a, b] = [o.checksum, p.checksum];
      const agree = a.top.filter((x, i) => x === b.top[i]).length;
      lines.push(`| ${m} | ${n} | ${o.textsSha1 === p.textsSha1 ? "yes" : `NO (${o.textsSha1} / ${p.textsSha1})`} | ${a.shape.join("x")} / ${b.shape.join("x")} | ` +
        `${a.posMean} / ${b.posMean} (${rel(a.posMean, b.posMean).toExponential(1)}) | ${rel(a.sumSq, b.sumSq).toExponential(1)} | ${agree}/${a.top.length} |`);
    }
  }
  return lines.join("\n");
}

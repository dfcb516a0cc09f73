#!/usr/bin/env node
// AttnLRP / CP-LRP: this engine vs LXT 2.1 (the AttnLRP authors' library, one target per backward pass) in the same
// run, on random checkpoints of the GPT-2-small shape (12 x 768, vocab 50257) and the Llama-3.2-1B shape (16 x 2048,
// GQA 32/8, MLP 8192, vocab 128256, tied), 20-token prompt + 20 forced tokens, float32 on the CPU, each in its own
// process. Prints seconds, peak RSS and LXT / ours, for LXT as its README runs it (parameters requiring grad, so its
// backward also computes weight gradients) and with frozen parameters (its best case; --no-frozen skips it).
//   npm run build && node bench/lrp.mjs [--models gpt2,llama1b] [--methods attn_lrp,cp_lrp] [--threads 1]
// LXT runs from $LXT_PYTHON or /opt/lxt-py/venv/bin/python (scripts/reference/README.md).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

import { gpt2SmallRandom, llama1bRandom, root, STORY } from "./checkpoints.mjs";
import { arg } from "./args.mjs";

const models = arg("--models", "gpt2,llama1b").split(",");
const methods = arg("--methods", "attn_lrp").split(",");
const threads = Number(arg("--threads", "1"));
const python = process.env.LXT_PYTHON ?? "/opt/lxt-py/venv/bin/python";
if (!existsSync(python)) throw new Error(`no LXT Python at ${python} (set LXT_PYTHON)`);
const dirs = { gpt2: gpt2SmallRandom, llama1b: llama1bRandom };

const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, OMP_NUM_THREADS: String(threads) } }).trim().split("\n").at(-1));
const rows = [];
for (const model of models) {
  const dir = dirs[model]();
  for (const method of methods) {
    const ours = run(process.execPath, [path.join(root, "bench/attribute-run.mjs"), method, String(threads), "batched", "--model", model]);
    const lxt = run(python, [path.join(root, "bench/lxt_attribute.py"), dir, method, String(threads), STORY]);
    const frozen = process.argv.includes("--no-frozen") ? null : run(python, [path.join(root, "bench/lxt_attribute.py"), dir, method, String(threads), STORY, "--frozen"]);
    const ratio = (r) => (r ? +(r.seconds / ours.seconds).toFixed(2) : null);
    const row = { model, method, threads, ours, lxt, lxtFrozen: frozen, speedup: ratio(lxt), speedupFrozen: ratio(frozen) };
    rows.push(row);
    const f = (r) => (r ? `${r.seconds.toFixed(2)} s / ${r.peakRssMb} MB` : "-");
    console.log(`${model.padEnd(8)} ${method.padEnd(9)} threads ${threads}  ours ${f(ours).padEnd(22)} lxt 2.1 ${f(lxt).padEnd(22)} (${row.speedup}x)  `
      + `lxt 2.1 frozen ${f(frozen).padEnd(22)} (${row.speedupFrozen ?? "-"}x)`);
  }
}
console.log(JSON.stringify(rows));

// The methods issue 14 added, as both benchmarks run them against Python Inseq 0.7.1 (bench/inseq07-methods.mjs on
// the CPU, bench/gpu.mjs on a GPU): short name -> method id, Inseq's arguments (both sides, snake_case), generated
// steps attributed (undefined: all 20). SIG costs positions x steps rows per generated step, so it attributes only
// the first 4 steps by default. A random model's targets rarely stay in ReAGent's top 3: probing can run to
// max_probe_steps on every step, which takes Python Inseq hours at 1000; 50 rounds over the first 2 steps bound both
// sides' work the same way.
export const INSEQ07_METHODS = {
  sig: { method: "sequential_integrated_gradients", args: { n_steps: 8 }, steps: 4 },
  dig: { method: "discretized_integrated_gradients", args: { n_steps: 8 }, steps: undefined },
  reagent: { method: "reagent", args: { max_probe_steps: 50, num_probes: 16 }, steps: 2 },
};

/** bench/attribute-run.mjs / bench/inseq_attribute.py flags for a configuration: its arguments and steps. */
export const runFlags = (c) => ["--args", JSON.stringify(c.args), ...(c.steps ? ["--steps", String(c.steps)] : [])];

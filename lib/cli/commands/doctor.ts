import { Command } from "commander";

import { runtimeInfo } from "../../runtime.js";

export function makeDoctorCommand(): Command {
  return new Command("doctor")
    .description("print the native runtime: LibTorch version, device, BLAS, threads, where the addon was loaded from")
    .option("--json", "print JSON", false)
    .action((opts) => {
      const r = runtimeInfo();
      if (opts.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + "\n");
        return;
      }
      const rows: Array<[string, string]> = [
        ["inseq", r.inseqVersion],
        ["node", `${r.node} (${r.platform}, ${r.cpus} CPUs)`],
        ["libtorch", r.torchVersion],
        ["cuda", r.cuda ? `yes (${r.cudaDevices} device${r.cudaDevices === 1 ? "" : "s"})` : "no"],
        ["default device", r.defaultDevice],
        ["threads", `${r.threads} intra-op, ${r.interopThreads} inter-op`],
        ["blas", r.blas.length ? r.blas.join(", ") : "none found in /proc/self/maps"],
        ["addon", r.addonPath ?? "(not loaded)"],
        ["native models", r.modelTypes.join(", ")],
      ];
      const width = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
      if (r.blas.some((b) => /libblas\.so/.test(b) && !/openblas|mkl|blis/.test(b))) {
        process.stdout.write("\nwarning: the reference BLAS is in use (about 7x slower); install libopenblas0-openmp\n");
      }
    });
}

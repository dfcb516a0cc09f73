import { Command } from "commander";

import { describeNativeModelTypes } from "../../models/model-types.js";
import { diagnose } from "../../runtime.js";

const gb = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;

export function makeDoctorCommand(): Command {
  return new Command("doctor")
    .description("print the native runtime: which LibTorch was found where (and why others were not used), CUDA, GPUs, dtypes, BLAS, threads, the addon in use")
    .option("--json", "print JSON", false)
    .action((opts) => {
      const d = diagnose({ gpus: true });
      if (opts.json) {
        process.stdout.write(JSON.stringify(d, null, 2) + "\n");
        if (d.error) process.exitCode = 1;
        return;
      }
      const rows: Array<[string, string]> = [];
      const r = d.runtime;
      if (r) {
        rows.push(
          ["inseq", r.inseqVersion],
          ["node", `${r.node} (${r.platform}, glibc ${r.glibc ?? "?"}, ${r.cpus} CPUs)`],
          ["addon", `${r.addon.kind === "prebuild" ? "prebuild" : "local build"} ${r.addon.path} (built against LibTorch ${r.addon.build.torch}, ${r.addon.build.compiler})`],
          ["libtorch", `${r.torchVersion} from ${r.libtorch.libDir} (${r.libtorch.source})`],
          ["cuda", r.cuda ? `yes: ${r.cudaDevices} GPU${r.cudaDevices === 1 ? "" : "s"}` : `no: ${r.cudaReason}`],
          ["cuda runtime", r.cudaRuntimeVersion ? `${r.cudaRuntimeVersion} (driver ${r.cudaDriverVersion ?? "none"})` : "not loaded"],
        );
        for (const g of r.gpus ?? []) rows.push([`gpu ${g.index}`, `${g.name}, ${gb(g.freeBytes)} free of ${gb(g.totalBytes)}`]);
        rows.push(
          ["dtypes", `cpu: ${r.dtypes.cpu.join(", ")}; cuda: ${r.dtypes.cuda.length ? r.dtypes.cuda.join(", ") : "-"}`],
          ["default device", r.defaultDevice],
          ["threads", `${r.threads} intra-op, ${r.interopThreads} inter-op`],
          ["blas", r.blas.length ? r.blas.join(", ") : "none found in /proc/self/maps (LibTorch's own: MKL is linked in statically)"],
          ["native models", `${describeNativeModelTypes()}; any other architecture: a TorchScript bundle (tools/export-torchscript)`],
        );
      } else {
        rows.push(["error", `${d.error?.code}: ${d.error?.message.split("\n")[0]}`]);
      }
      const width = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
      if (d.candidates.length) {
        process.stdout.write("\nLibTorch lookup (in order):\n");
        for (const c of d.candidates) {
          const used = r && c.libDir === r.libtorch.libDir && c.source === r.libtorch.source;
          const state = used ? "USED" : c.usable ? "usable, not needed" : c.reason;
          process.stdout.write(`  ${c.source.padEnd(17)} ${c.location}: ${state}${used && c.reason ? ` (${c.reason})` : ""}\n`);
        }
      }
      if (d.error) {
        process.stdout.write(`\n${d.error.message}\n`);
        process.exitCode = 1;
      }
      if (r?.blas.some((b) => /libblas\.so/.test(b) && !/openblas|mkl|blis/.test(b))) {
        process.stdout.write("\nwarning: the reference BLAS is in use (about 7x slower); install libopenblas0-openmp\n");
      }
    });
}

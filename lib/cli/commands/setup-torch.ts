import { Command } from "commander";

import { setupTorch, type SetupTorchOptions } from "../../torch/setup.js";
import { ProgressBar } from "../progress.js";

/** `inseq setup-torch`; `defaults` (a pin, an environment) are for tests. */
export function makeSetupTorchCommand(defaults: Pick<SetupTorchOptions, "pin" | "env"> = {}): Command {
  return new Command("setup-torch")
    .description("download the pinned LibTorch from the Python package index into $INSEQ_HOME/libtorch (no Python needed)")
    .option("--cuda", "add the CUDA libraries (NVIDIA GPUs, several GB)", false)
    .option("--dev", "add the C++ headers, to build the addon from source", false)
    .option("--dir <dir>", "install into this directory (then set INSEQ_LIBTORCH=<dir>)")
    .option("--index-url <url>", "package index (default: $PIP_INDEX_URL or https://pypi.org/simple)")
    .option("--extra-index-url <url...>", "more package indexes, searched after --index-url (default: $PIP_EXTRA_INDEX_URL)")
    .option("--keep-downloads", "keep the downloaded wheels in $INSEQ_HOME/downloads", false)
    .option("--json", "print the install's directory and manifest as JSON", false)
    .action(async (opts) => {
      const download = new ProgressBar("downloading", { bytes: true });
      const unpack = new ProgressBar("unpacking", { bytes: true });
      const controller = new AbortController();
      const onSigint = () => controller.abort();
      process.once("SIGINT", onSigint);
      try {
        const { dir, manifest, reused } = await setupTorch({
          ...defaults,
          cuda: opts.cuda,
          dev: opts.dev,
          dir: opts.dir,
          indexUrl: opts.indexUrl,
          extraIndexUrls: opts.extraIndexUrl,
          keepDownloads: opts.keepDownloads,
          signal: controller.signal,
          onProgress: (p) => {
            if (p.phase === "download") download.update(p.overallDone, p.overallTotal, "B", p.file);
            else {
              download.done();
              unpack.update(p.overallDone, p.overallTotal, "B", p.file);
            }
          },
        });
        download.done();
        unpack.done();
        const hint = opts.dir ? `INSEQ_LIBTORCH=${dir}` : null;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ dir, reused, manifest, ...(hint ? { env: { INSEQ_LIBTORCH: dir } } : {}) }, null, 2) + "\n");
          return;
        }
        const what = `LibTorch ${manifest.torch} (${manifest.flavor}${manifest.dev ? ", with headers" : ""})`;
        process.stdout.write(reused ? `${what} is already installed in ${dir}\n` : `Installed ${what} in ${dir}\n`);
        if (hint) process.stdout.write(`Set ${hint} so that inseq finds it.\n`);
      } finally {
        process.removeListener("SIGINT", onSigint);
        download.done();
        unpack.done();
      }
    });
}

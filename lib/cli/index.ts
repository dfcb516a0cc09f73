#!/usr/bin/env node
/** The `inseq` command line. One file per command under commands/. */
import { Command } from "commander";

import { InseqError } from "../core/errors.js";
import { packageVersion } from "../core/paths.js";
import { makeAttributeCommand } from "./commands/attribute.js";
import { makeAttributeDatasetCommand } from "./commands/attribute-dataset.js";
import { makeAttributeContextCommand } from "./commands/attribute-context.js";
import { makeDoctorCommand } from "./commands/doctor.js";
import { makeEvaluateCommand } from "./commands/evaluate.js";
import { makeGenerateCommand } from "./commands/generate.js";
import { makeListCommand } from "./commands/list.js";
import { makeMergeCommand } from "./commands/merge.js";
import { makeServeCommand } from "./commands/serve.js";
import { makeSetupTorchCommand } from "./commands/setup-torch.js";
import { makeShowCommand } from "./commands/show.js";
import { dropOutputOnClosedPipes } from "./pipes.js";

export function makeProgram(): Command {
  return new Command("inseq")
    .description("Interpretability for sequence generation models, on a native LibTorch core")
    .version(packageVersion(), "-v, --version")
    // Program options only before the command: `inseq attribute -v` is Inseq's --verbose, not --version.
    .enablePositionalOptions()
    .showHelpAfterError()
    .addCommand(makeAttributeCommand())
    .addCommand(makeAttributeDatasetCommand())
    .addCommand(makeAttributeContextCommand())
    .addCommand(makeMergeCommand())
    .addCommand(makeGenerateCommand())
    .addCommand(makeShowCommand())
    .addCommand(makeEvaluateCommand())
    .addCommand(makeListCommand())
    .addCommand(makeServeCommand())
    .addCommand(makeDoctorCommand())
    .addCommand(makeSetupTorchCommand());
}

// `inseq show big.json | head -1`: a closed stdout or stderr drops that output quietly; the command finishes.
dropOutputOnClosedPipes();

makeProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (err instanceof InseqError) {
      process.stderr.write(`inseq: ${err.message} [${err.code}]\n`);
    } else {
      process.stderr.write(`inseq: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    }
    process.exitCode = 1;
  });

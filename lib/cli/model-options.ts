/** The model-loading options that `generate`, `attribute` and `attribute-dataset` share. */
import { Option } from "commander";

export const trustRemoteCodeOption = (): Option =>
  new Option("--trust-remote-code", "load a TorchScript bundle from the Hub (a bundle is a program: trusted sources only)").default(false);

/** The terminal-rendering options that `show` and `attribute` share: --color and --width. */
import { Option } from "commander";

import { detectTerminalColor, type TerminalColor } from "../viz/terminal.js";
import { intOption } from "./parse.js";

export const colorOption = (): Option =>
  new Option("--color <mode>", "terminal colours (auto: from the terminal, NO_COLOR, FORCE_COLOR)").choices(["auto", "truecolor", "256", "16", "none"]).default("auto");

export const widthOption = (): Option =>
  new Option("--width <n>", "page terminal tables to this many columns (default: the terminal width)").argParser(intOption);

/**
 * The colour mode and width for a rendering: "auto" asks the terminal when it goes to stdout (none for files);
 * the width defaults to the terminal's when stdout is one.
 */
export function terminalSettings(opts: { color?: string; width?: number }, toStdout: boolean): { color: TerminalColor; width?: number } {
  const color = opts.color === undefined || opts.color === "auto" ? (toStdout ? detectTerminalColor(process.stdout, process.env) : "none") : (opts.color as TerminalColor);
  const width = opts.width ?? (toStdout && process.stdout.isTTY ? process.stdout.columns : undefined);
  return { color, width };
}

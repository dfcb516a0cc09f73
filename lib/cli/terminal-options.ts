/** The terminal-rendering options that `show` and `attribute` share: --color, --width and paging. */
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

/** --page, --page-rows and --top-k: long maps in the terminal (viz/terminal.ts pages maps over 250,000 cells). */
export const pageOption = (): Option =>
  new Option("--page <n>", "terminal: render only page N (1-based) of each heatmap: --page-rows rows by the columns that fit --width").argParser(intOption);
export const pageRowsOption = (): Option =>
  new Option("--page-rows <n>", "terminal: rows per page (default 40); maps over 250,000 cells are paged even without --page").argParser(intOption);
export const topKOption = (): Option =>
  new Option("--top-k <k>", "terminal: keep the k attributed tokens with the largest total |score| (original indices kept)").argParser(intOption);

/** The show() paging options from the parsed flags. */
export function pagingSettings(opts: { page?: number; pageRows?: number; topK?: number }): { page?: number; pageRows?: number; topK?: number } {
  return { page: opts.page, pageRows: opts.pageRows, topK: opts.topK };
}

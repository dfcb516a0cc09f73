import { spawn } from "node:child_process";
import { mkdtemp, open as openFile, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Command, Option } from "commander";

import { writeFileAtomic } from "../../core/atomic-write.js";
import { ErrorCode, InseqError, invalidOption } from "../../core/errors.js";
import { scanRecords, type DatasetRecord } from "../../dataset/records.js";
import { FeatureAttributionOutput } from "../../results/attribution.js";
import { AttributeContextOutput } from "../../context/output.js";
import { intOption, numberOption } from "../parse.js";
import { colorOption, pageOption, pageRowsOption, pagingSettings, terminalSettings, topKOption, widthOption } from "../terminal-options.js";

export interface OpenResult {
  /** True when the opener started (and did not fail within `waitMs`). */
  opened: boolean;
  /** The command line tried, e.g. `xdg-open /tmp/x.html`. */
  command: string;
  /** Why it did not open (opener missing, non-zero exit). */
  reason?: string;
}

export interface OpenOptions {
  platform?: string;
  env?: Record<string, string | undefined>;
  /** How long to wait for an early failure of the opener before assuming it worked. Default 1500 ms. */
  waitMs?: number;
}

/**
 * Opens a file with the desktop's default handler: `$BROWSER` when set, else `open` (macOS), `cmd /c start`
 * (Windows) or `xdg-open` (elsewhere). Never throws: a missing opener, or one that exits non-zero within
 * `waitMs`, gives `{ opened: false, reason }`. The opener runs detached; an opener still running after `waitMs`
 * is left alone and counted as opened.
 */
export function openInBrowser(file: string, options: OpenOptions = {}): Promise<OpenResult> {
  const platform = options.platform ?? process.platform;
  const env = options.env ?? process.env;
  let cmd: string;
  let args: string[];
  const browser = env.BROWSER?.split(path.delimiter).find((b) => b.trim() !== "");
  if (browser) [cmd, args] = [browser.trim(), [file]];
  else if (platform === "darwin") [cmd, args] = ["open", [file]];
  else if (platform === "win32") [cmd, args] = ["cmd", ["/d", "/s", "/c", `start "" "${file}"`]];
  else [cmd, args] = ["xdg-open", [file]];
  const command = [cmd, ...args].join(" ");
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: OpenResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    let child;
    try {
      child = spawn(cmd, args, { detached: true, stdio: "ignore", env: env as NodeJS.ProcessEnv, windowsVerbatimArguments: platform === "win32" });
    } catch (err) {
      finish({ opened: false, command, reason: (err as Error).message });
      return;
    }
    child.on("error", (err: NodeJS.ErrnoException) =>
      finish({ opened: false, command, reason: err.code === "ENOENT" ? `${cmd} not found` : err.message }),
    );
    child.on("exit", (code, signal) =>
      finish(code === 0 ? { opened: true, command } : { opened: false, command, reason: `${cmd} exited with ${code ?? signal}` }),
    );
    child.on("spawn", () => {
      const timer = setTimeout(() => {
        child.unref();
        finish({ opened: true, command });
      }, options.waitMs ?? 1500);
      timer.unref();
    });
  });
}

/** "run.json.gz" -> "run". */
function stem(file: string): string {
  return path.basename(file).replace(/(\.jsonl?)?(\.gz)?$/i, "") || "attributions";
}

/** An `attribute-dataset` output: JSON Lines, one record per example (plain or gzip). */
const isRecordsFile = (file: string) => /\.jsonl(\.gz)?$/i.test(file);

/**
 * The output to show: a saved Inseq JSON file, or, from an attribute-dataset output, the record of dataset row
 * `index` (its `index` field).
 */
export async function loadShown(file: string, index: number | undefined): Promise<FeatureAttributionOutput> {
  if (!isRecordsFile(file)) {
    if (index !== undefined) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `--index is for attribute-dataset outputs (.jsonl, .jsonl.gz); ${file} is one Inseq JSON document: drop --index`);
    }
    return FeatureAttributionOutput.load(file);
  }
  const merged = `inseq merge ${file} -o ${stem(file)}.json`;
  if (index === undefined) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `${file} is an attribute-dataset output (one record per example): pass --index N to show the record of dataset row N, ` +
        `or join the records into one Inseq JSON file with \`${merged}\` and show that`,
    );
  }
  const rows: number[] = [];
  let found: DatasetRecord | undefined;
  scanRecords(file, (record) => {
    rows.push(record.index);
    if (record.index === index) found ??= record;
  });
  if (!found) {
    const held = rows.length <= 10 ? rows.join(", ") : `${rows.length} rows, ${Math.min(...rows)} to ${Math.max(...rows)}`;
    throw invalidOption("--index", `a dataset row that ${file} holds (rows ${held || "none"})`, index);
  }
  return FeatureAttributionOutput.fromJSON(found.attribution);
}

/** An `attribute-context` output (Inseq's AttributeContextOutput.to_dict() JSON starts with "input_context"), or null. */
export async function loadContextOutput(file: string): Promise<AttributeContextOutput | null> {
  if (isRecordsFile(file) || /\.gz$/i.test(file)) return null;
  let head = "";
  try {
    const fh = await openFile(file, "r");
    try {
      const { bytesRead, buffer } = await fh.read(Buffer.alloc(256), 0, 256, 0);
      head = buffer.subarray(0, bytesRead).toString("utf8");
    } finally {
      await fh.close();
    }
  } catch {
    return null;  // FeatureAttributionOutput.load reports the unreadable file
  }
  if (!/^\s*\{\s*"input_context"\s*:/.test(head)) return null;
  return AttributeContextOutput.fromDict(JSON.parse((await readFile(file, "utf8")).replace(/\bNaN\b/g, "null")));
}

export function makeShowCommand(): Command {
  return new Command("show")
    .description("render a saved attribution output (Inseq JSON, .json or .json.gz, from inseq or Python Inseq)")
    .argument("<file>", "the saved output, or an attribute-dataset output (.jsonl) with --index")
    .option("--index <n>", "attribute-dataset outputs (.jsonl): show the record of this dataset row", intOption)
    .addOption(
      new Option("-f, --format <format>", "terminal tables, or a self-contained HTML page (default: html with --open or --out *.html)").choices([
        "terminal",
        "html",
      ]),
    )
    .option("-o, --out <file>", "write the rendering to this file instead of stdout")
    .option("--open", "write the HTML page (to --out, else a temporary file), print its path and open it in the browser", false)
    .addOption(colorOption())
    .addOption(widthOption())
    .addOption(pageOption())
    .addOption(pageRowsOption())
    .addOption(topKOption())
    .option("--no-aggregate", "render the scores as stored (they must already be 2-D)")
    .option("--aggregations <fns...>", "HTML: extra views reducing the extra axes with these aggregation functions (e.g. sum absmax)")
    .option("--min-val <x>", "score shown as full blue (default -max-val)", numberOption)
    .option("--max-val <x>", "score shown as full red (default: the largest |score|)", numberOption)
    .action(async (file: string, opts) => {
      const context = await loadContextOutput(file);
      const out = context ? null : await loadShown(file, opts.index);
      const format: "terminal" | "html" =
        opts.format ?? (opts.open || (typeof opts.out === "string" && /\.html?$/i.test(opts.out)) ? "html" : "terminal");
      if (opts.open && format !== "html") {
        throw new InseqError(ErrorCode.INVALID_OPTION, `Expected --format html (or no --format) with --open but received ${JSON.stringify(format)}`);
      }
      // an attribute-context output has its own views (docs/attribute-context.md)
      const scale = { minVal: opts.minVal, maxVal: opts.maxVal };
      if (format === "terminal") {
        const toStdout = opts.out === undefined;
        const text = context
          ? context.show({ format: "terminal", color: terminalSettings(opts, toStdout).color }) + "\n"
          : out!.show({ format: "terminal", aggregate: opts.aggregate, ...terminalSettings(opts, toStdout), ...scale, ...pagingSettings(opts) });
        if (toStdout) process.stdout.write(text);
        else {
          await writeFileAtomic(opts.out, text);
          process.stderr.write(`wrote ${opts.out}\n`);
        }
        return;
      }
      const html = context ? context.show({ format: "html", title: `inseq: ${path.basename(file)}` }) : out!.show({
        format: "html",
        aggregate: opts.aggregate,
        aggregations: opts.aggregations ?? [],
        title: `inseq: ${path.basename(file)}`,
        ...scale,
      });
      if (opts.out === undefined && !opts.open) {
        process.stdout.write(html);
        return;
      }
      const target = opts.out ?? path.join(await mkdtemp(path.join(os.tmpdir(), "inseq-show-")), `${stem(file)}.html`);
      await writeFileAtomic(target, html);
      const absolute = path.resolve(target);
      process.stdout.write(`${absolute}\n`);
      if (opts.open) {
        const r = await openInBrowser(absolute);
        if (!r.opened) process.stderr.write(`inseq: could not open a browser (${r.reason}); open ${absolute} yourself\n`);
      }
    });
}

/**
 * Python Inseq's spellings of the `attribute` / `attribute-dataset` flags (`--model_name_or_path`,
 * `--attribution_method`, `-bs`, ...), accepted so that Inseq command lines carry over unchanged. Implemented once,
 * as an argv rewrite before commander parses (limited to the flags of that command), not as duplicated options:
 * `--help` lists the kebab-case form and mentions the aliases in one line.
 */
import type { Command } from "commander";

/** Inseq flag -> our flag, where the names differ beyond `_` vs `-` (the rest are derived from the command). */
export type AliasTable = Readonly<Record<string, string>>;

/** `attribute` and `attribute-dataset`: Inseq's names for flags we spell differently. */
export const ATTRIBUTE_ALIASES: AliasTable = {
  "--model_name_or_path": "--model",
  "--start_pos": "--attr-pos-start",
  "--end_pos": "--attr-pos-end",
  "-fn": "--attributed-fn",
  "-bs": "--batch-size",
  "--dev": "--device",
};

/** `attribute-context`: the model / method flags of `attribute` that it has. */
export const CONTEXT_ALIASES: AliasTable = {
  "--model_name_or_path": "--model",
  "-fn": "--attributed-fn",
  "--dev": "--device",
};

export const DATASET_ALIASES: AliasTable = {
  ...ATTRIBUTE_ALIASES,
  "--dataset_name": "--dataset",
  "--save_path": "--output",
  "-in": "--input-text-field",
  "--input": "--input-text-field",
  "-gen": "--generated-text-field",
  "--generated": "--generated-text-field",
};

/**
 * The alias map of `cmd`: every long flag `--foo-bar` also as `--foo_bar`, plus `extra` (whose targets must be
 * flags of `cmd`). Negated flags (`--no-header`) get `--no_header` too.
 */
export function aliasMap(cmd: Command, extra: AliasTable = {}): Map<string, string> {
  const map = new Map<string, string>();
  const flags = new Set<string>();
  for (const o of cmd.options) {
    for (const flag of [o.long, o.short]) if (flag) flags.add(flag);
    if (o.long && o.long.includes("-", 2)) map.set(o.long.replace(/(?<=^--.*)-/g, "_"), o.long);
  }
  for (const [from, to] of Object.entries(extra)) {
    if (!flags.has(to)) throw new Error(`alias ${from} -> ${to}: ${to} is not a flag of ${cmd.name()}`);
    if (!flags.has(from)) map.set(from, to);
  }
  return map;
}

/** The values Inseq's `string_to_bool` takes. */
const BOOLEAN_WORDS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, t: true, f: false, y: true, n: false, "1": true, "0": false };

/**
 * Rewrites Inseq's spellings in `argv` to ours (`--model_name_or_path=x` too), and Inseq's `--switch true|false`
 * (true, false, yes, no, 1, 0, ...) to the switch or nothing. Stops at `--`. Only flag positions are rewritten:
 * the value of a flag that takes one is left as written, even if it looks like an alias.
 */
export function normalizeArgv(argv: readonly string[], aliases: ReadonlyMap<string, string>, cmd: Command): string[] {
  const out: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") break;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const target = aliases.get(name);
    const flag = target ?? name;
    out.push(target === undefined ? arg : eq > 0 ? `${target}${arg.slice(eq)}` : target);
    // A flag with one required or optional value: the next word is that value, never a flag to rewrite.
    const opt = cmd.options.find((o) => o.long === flag || o.short === flag);
    if (opt && eq < 0 && (opt.required || opt.optional) && !opt.variadic && i + 1 < argv.length) out.push(argv[++i]!);
    // Inseq's booleans also take a value (`--hide false`): our switches take none, so such a word is consumed.
    const word = argv[i + 1]?.toLowerCase();
    if (opt && !opt.required && !opt.optional && !opt.negate && word !== undefined && word in BOOLEAN_WORDS) {
      i++;
      if (!BOOLEAN_WORDS[word]) {
        out.pop();
        // a switch that is on by default (`--show-viz` with `--no-show-viz`): false turns it off
        const negated = `--no-${flag.slice(2)}`;
        if (cmd.options.some((o) => o.long === negated)) out.push(negated);
      }
    }
  }
  return out.concat(argv.slice(i));
}

/**
 * Makes `cmd` accept Inseq's spellings (see `normalizeArgv`), and adds one help line naming them. Call after all
 * options are added.
 */
export function acceptInseqSpellings(cmd: Command, extra: AliasTable = {}): Command {
  const aliases = aliasMap(cmd, extra);
  const parse = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (argv: string[]) => parse(normalizeArgv(argv, aliases, cmd));
  const named = Object.keys(extra).map((k) => `${k} (${extra[k]})`);
  cmd.addHelpText(
    "after",
    `\nPython Inseq's spellings are accepted too: each --foo-bar as --foo_bar (--attribution_method, --input_texts, ...), ` +
      `and ${named.join(", ")}; switches also as --switch true|false.\n`,
  );
  return cmd;
}

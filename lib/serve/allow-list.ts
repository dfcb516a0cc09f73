/**
 * Which models a server may load: exact ids ("default", hub ids), directories, and globs over directories or ids
 * (`*` within a path segment, `**` across segments, `?` one character). A directory given in a request is compared
 * by its resolved absolute path.
 */
import { existsSync } from "node:fs";
import path from "node:path";

import { defaultModelDir } from "../models/load-model.js";

/** A model as a request names it: its id in the pool and the directory it loads from (null for hub ids). */
export interface ModelRef {
  id: string;
  dir: string | null;
}

const looksLikePath = (s: string): boolean => path.isAbsolute(s) || s.startsWith("./") || s.startsWith("../") || s === "." || s === "..";

/** "default" stays "default"; a path (or a name that exists as a directory here) becomes its absolute path; anything else is a hub id. */
export function modelRef(name: string): ModelRef {
  if (name === "default") return { id: "default", dir: defaultModelDir() };
  if (looksLikePath(name) || existsSync(name)) {
    const dir = path.resolve(name);
    return { id: dir, dir };
  }
  return { id: name, dir: null };
}

export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export class AllowList {
  readonly #exact = new Set<string>();
  readonly #globs: RegExp[] = [];
  /** As the operator gave them (GET /v1/models `allowed`). */
  readonly entries: string[] = [];

  constructor(entries: readonly string[]) {
    for (const e of entries) this.add(e);
  }

  add(entry: string): void {
    if (this.entries.includes(entry)) return;
    this.entries.push(entry);
    if (/[*?]/.test(entry)) {
      this.#globs.push(globToRegExp(looksLikePath(entry) ? path.resolve(entry) : entry));
    } else {
      this.#exact.add(modelRef(entry).id);
    }
  }

  allows(ref: ModelRef): boolean {
    if (this.#exact.has(ref.id)) return true;
    return this.#globs.some((g) => g.test(ref.id));
  }

  /** The exact (non-glob) entries, as pool ids. */
  exactIds(): string[] {
    return [...this.#exact];
  }
}

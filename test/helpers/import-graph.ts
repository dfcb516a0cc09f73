/**
 * The module import graph of a built TypeScript output (dist/): every `.js` and `.d.ts` file, with the edges of
 * static imports and re-exports, dynamic `import()` calls and type-only imports (`import type`, `import("x").T`
 * in declarations). A module is its path without extension, so `results/types.js` and `results/types.d.ts` are
 * one node and a type-only import (which only the `.d.ts` keeps) counts like any other.
 *
 * Used by test/unit/import-graph.test.ts (no import loop in lib/, only lib/native loads the addon).
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

/** One import statement: which module imports what, by specifier as written and as resolved. */
export interface ImportEdge {
  /** Importing module (root-relative path without extension, e.g. `results/attribution`). */
  from: string;
  /** The specifier as written (`../core/errors.js`, `node:fs`). */
  specifier: string;
  /** Imported module inside the root (without extension), or null for packages, builtins and other files. */
  to: string | null;
  /** The file that holds the statement (root-relative, with extension). */
  file: string;
}

export interface ImportGraph {
  /** Root-relative module ids, sorted. */
  modules: string[];
  /** module -> imported modules inside the root, sorted, without duplicates. */
  edges: Map<string, string[]>;
  /** Every import statement, including those of packages and builtins. */
  imports: ImportEdge[];
}

const MODULE_EXT = /(\.d\.ts|\.js|\.mjs|\.cjs|\.ts)$/;

/** `a/b.d.ts` -> `a/b`. */
export function moduleId(file: string): string {
  return file.replace(MODULE_EXT, "").split(path.sep).join("/");
}

/** Module files: built output (`.js`, `.d.ts`) or TypeScript sources (`.ts`). */
const MODULE_FILE = /\.(ts|js|mjs|cjs)$/;

function walk(dir: string, root: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, root, out);
    else if (MODULE_FILE.test(entry.name) && !entry.name.endsWith(".map")) out.push(path.relative(root, full));
  }
}

/** The import specifiers of a file (comments and strings are skipped by the TypeScript scanner). */
export function importSpecifiers(text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => f.fileName);
}

/**
 * Builds the graph of the module files under `root` (`.js` and `.d.ts` of a build, or `.ts` sources: an import
 * of `./x.js` from a source resolves to `x.ts`). `include(file)` (root-relative path) can leave
 * files out, e.g. stale outputs whose source is gone.
 */
export function buildImportGraph(root: string, include: (file: string) => boolean = () => true): ImportGraph {
  const files: string[] = [];
  walk(root, root, files);
  const kept = files.filter(include).sort();
  const modules = new Set(kept.map(moduleId));
  const edges = new Map<string, Set<string>>();
  const imports: ImportEdge[] = [];
  for (const m of modules) edges.set(m, new Set());
  for (const file of kept) {
    const from = moduleId(file);
    for (const specifier of importSpecifiers(readFileSync(path.join(root, file), "utf8"))) {
      let to: string | null = null;
      if (specifier.startsWith(".")) {
        const target = moduleId(path.join(path.dirname(file), specifier));
        if (modules.has(target)) to = target;
      }
      imports.push({ from, specifier, to, file: file.split(path.sep).join("/") });
      if (to !== null) edges.get(from)!.add(to);
    }
  }
  return {
    modules: [...modules].sort(),
    edges: new Map([...edges].map(([k, v]) => [k, [...v].sort()])),
    imports,
  };
}

/** Strongly connected components with more than one module, or with a module that imports itself (Tarjan). */
export function importLoops(graph: ImportGraph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.edges.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const m of graph.modules) if (!index.has(m)) visit(m);
  return out.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** The shortest cycle through `start` inside `members` (breadth-first), as `[start, ..., start]`. */
function shortestCycle(graph: ImportGraph, start: string, members: ReadonlySet<string>): string[] | null {
  const prev = new Map<string, string>();
  const queue = [start];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.edges.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const chain: string[] = [];
        for (let x = v; x !== start; x = prev.get(x)!) chain.push(x);
        return [start, ...chain.reverse(), start];
      }
      if (!seen.has(w)) {
        seen.add(w);
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return null;
}

/**
 * The import cycles, one per module of each loop (its shortest cycle), without repeats (a cycle is written from
 * its smallest module): e.g. `models/model -> attribution/attribute -> models/model`.
 */
export function importCycles(graph: ImportGraph): string[] {
  const cycles = new Set<string>();
  for (const scc of importLoops(graph)) {
    const members = new Set(scc);
    for (const m of scc) {
      const cycle = shortestCycle(graph, m, members);
      if (!cycle) continue;
      const ring = cycle.slice(0, -1);
      const first = ring.indexOf([...ring].sort()[0]!);
      const rotated = [...ring.slice(first), ...ring.slice(0, first)];
      cycles.add([...rotated, rotated[0]].join(" -> "));
    }
  }
  return [...cycles].sort();
}

/**
 * The layering of the package, checked on what ships: the import graph of the built dist/ (`.js` and `.d.ts`, so
 * type-only imports count) has no loop; only dist/native/ loads the addon; only native/binding/ includes napi.h.
 * The same loop check runs on the lib/ sources, which also see type imports that the build drops (types used only
 * inside function bodies). Needs `npm run build:ts` (npm test runs tsc first).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { buildImportGraph, importCycles, moduleId, type ImportGraph } from "../helpers/import-graph.js";
import { repoRoot, tempDir } from "../helpers.js";

const dist = path.join(repoRoot, "dist");
const lib = path.join(repoRoot, "lib");

/** dist files whose source still exists (a file moved or deleted in lib/ leaves its stale output behind). */
const fromCurrentSource = (file: string) => existsSync(path.join(lib, `${moduleId(file)}.ts`));

let built: ImportGraph | undefined;
function distGraph(): ImportGraph {
  if (!existsSync(path.join(dist, "index.js"))) throw new Error("dist/ is not built: run `npm run build:ts` first");
  built ??= buildImportGraph(dist, fromCurrentSource);
  return built;
}

/** lib/viewer is browser code, bundled into dist/viewer/index.html by scripts/build-viewer.mjs: not a dist/ module. */
const packageModule = (file: string) => !file.startsWith(`viewer${path.sep}`);

/** The addon loader module: the only code that requires .node files. */
const ADDON_LOADER = "native/load";

describe("import graph", () => {
  it("dist/ holds every lib/ module, as .js and .d.ts", () => {
    const graph = distGraph();
    const sources = buildImportGraph(lib, packageModule).modules;
    expect(graph.modules).toEqual(sources);
    for (const m of sources) {
      expect(existsSync(path.join(dist, `${m}.js`)), `${m}.js`).toBe(true);
      expect(existsSync(path.join(dist, `${m}.d.ts`)), `${m}.d.ts`).toBe(true);
    }
  });

  it("no import loop in the built dist/ (.js and .d.ts; type-only imports count)", () => {
    const cycles = importCycles(distGraph());
    expect(cycles, `import cycles in dist/:\n${cycles.join("\n")}`).toEqual([]);
  });

  it("no import loop in the lib/ sources (type imports the build drops count too)", () => {
    const cycles = importCycles(buildImportGraph(lib));
    expect(cycles, `import cycles in lib/:\n${cycles.join("\n")}`).toEqual([]);
  });

  it("the web viewer (lib/viewer) and every lib/ module it reaches import no Node built-in or package", () => {
    const graph = buildImportGraph(lib);
    const reached = new Set<string>();
    const visit = (m: string) => {
      if (reached.has(m)) return;
      reached.add(m);
      for (const to of graph.edges.get(m) ?? []) visit(to);
    };
    for (const m of graph.modules) if (m.startsWith("viewer/")) visit(m);
    expect(reached.has("viewer/main")).toBe(true);
    expect(reached.has("results/inseq-json-read")).toBe(true);
    const offenders = graph.imports.filter((i) => reached.has(i.from) && i.to === null).map((i) => `${i.file} imports ${i.specifier}`);
    expect(offenders, offenders.join("\n")).toEqual([]);
  });

  it(`only dist/native/ imports the addon loader (${ADDON_LOADER})`, () => {
    const outside = distGraph()
      .imports.filter((i) => i.to === ADDON_LOADER && !i.from.startsWith("native/"))
      .map((i) => `${i.file} imports ${i.specifier}`);
    expect(outside, outside.join("\n")).toEqual([]);
  });

  it("no module outside dist/native/ requires a .node file or opens a shared library", () => {
    const offenders: string[] = [];
    for (const i of distGraph().imports) {
      if (!i.from.startsWith("native/") && /\.node$/.test(i.specifier)) offenders.push(`${i.file} imports ${i.specifier}`);
    }
    for (const m of distGraph().modules) {
      if (m.startsWith("native/")) continue;
      const text = readFileSync(path.join(dist, `${m}.js`), "utf8");
      for (const api of ["createRequire(", "process.dlopen("]) if (text.includes(api)) offenders.push(`${m}.js calls ${api.slice(0, -1)}`);
    }
    expect(offenders, offenders.join("\n")).toEqual([]);
  });
});

describe("native layering", () => {
  const nativeDir = path.join(repoRoot, "native");
  const cppFiles = (dir: string, out: string[] = []): string[] => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) cppFiles(full, out);
      else if (/\.(h|hh|hpp|c|cc|cpp|cxx)$/.test(e.name)) out.push(path.relative(repoRoot, full).split(path.sep).join("/"));
    }
    return out;
  };
  const includes = (file: string, header: string) =>
    new RegExp(`^\\s*#\\s*include\\s*[<"]${header.replace(".", "\\.")}[>"]`, "m").test(readFileSync(path.join(repoRoot, file), "utf8"));

  it("no C++ file outside native/binding/ includes napi.h", () => {
    const files = cppFiles(nativeDir);
    expect(files.some((f) => f.startsWith("native/binding/") && includes(f, "napi.h")), "native/binding includes napi.h").toBe(true);
    const outside = files.filter((f) => !f.startsWith("native/binding/") && includes(f, "napi.h"));
    expect(outside, outside.join("\n")).toEqual([]);
  });

  it("Node's C API (node_api.h) only in native/binding/ and the LibTorch-free loader addon (native/loader/)", () => {
    const outside = cppFiles(nativeDir).filter(
      (f) => !f.startsWith("native/binding/") && !f.startsWith("native/loader/") && includes(f, "node_api.h"),
    );
    expect(outside, outside.join("\n")).toEqual([]);
  });
});

describe("the import-graph helper", () => {
  it("joins .js and .d.ts into one module, follows type-only, dynamic and re-export edges, ignores comments and strings", () => {
    const root = tempDir("import-graph");
    try {
      mkdirSync(path.join(root, "a"));
      const files: Record<string, string> = {
        "a/x.js": 'import { y } from "../b/y.js";\n// import { z } from "./z.js";\nconst s = "import(\\"./z.js\\")";\nexport { y };\n',
        "a/x.d.ts": 'export type { Y } from "../b/y.js";\n',
        "b/y.js": 'import fs from "node:fs";\nexport const y = () => import("./w.js");\n',
        // A type-only edge back to a/x: only the declaration file has it.
        "b/y.d.ts": 'export type Y = import("../a/x.js").X;\n',
        "b/w.js": "export {};\n",
        "a/z.js": 'export * from "./x.js";\n',
      };
      for (const [f, text] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
        writeFileSync(path.join(root, f), text);
      }
      const graph = buildImportGraph(root);
      expect(graph.modules).toEqual(["a/x", "a/z", "b/w", "b/y"]);
      expect(graph.edges.get("a/x")).toEqual(["b/y"]);
      expect(graph.edges.get("b/y")).toEqual(["a/x", "b/w"]);
      expect(graph.edges.get("a/z")).toEqual(["a/x"]);
      expect(graph.imports.find((i) => i.specifier === "node:fs")).toMatchObject({ from: "b/y", to: null });
      expect(importCycles(graph)).toEqual(["a/x -> b/y -> a/x"]);
      // Leaving out the declaration files drops the type-only edge, and the loop with it.
      expect(importCycles(buildImportGraph(root, (f) => !f.endsWith(".d.ts")))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("lists one shortest cycle per module of a loop, each written from its smallest module", () => {
    const edges = new Map([
      ["a", ["b"]],
      ["b", ["c", "a"]],
      ["c", ["a"]],
      ["d", ["d"]],
    ]);
    const graph: ImportGraph = { modules: ["a", "b", "c", "d"], edges, imports: [] };
    expect(importCycles(graph)).toEqual(["a -> b -> a", "a -> b -> c -> a", "d -> d"]);
  });
});

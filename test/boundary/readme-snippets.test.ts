// Every code block of README.md runs. ts/js blocks: transpiled (TypeScript, as a reader's project would) and run as
// a module in a child process against the built package (dist/), in a scratch folder; hub ids resolve on a
// loopback hub that serves a tiny byte-level-BPE Llama checkpoint; the placeholder paths of the table below point
// at tiny fixtures. sh blocks: each command runs from the repository root, `npx inseq` / `inseq` as
// `node dist/cli/index.js`, except the machine-setup commands listed below with the test that covers each.
// `text` blocks are synopses and listings, not code; their `inseq` usage lines are checked against `--help`.
// A block can be kept from running only by a `<!-- snippet: REASON -->` line right above it, REASON from the
// fixed list SKIP_REASONS; nothing is left untested silently.
import { spawn, spawnSync, type SpawnOptions } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { checkSentence } from "../../lib/default-model/grammar.js";
import { referenceDir, repoRoot, tempDir } from "../helpers.js";

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** REASON of a `<!-- snippet: REASON -->` line right above the fence. */
  skip: string | undefined;
}

/** Why a block may be kept from running (a README marker must name one of these). */
const SKIP_REASONS: Record<string, string> = {
  gpu: "needs an NVIDIA GPU; scripts/gpu-check runs the CUDA paths on a GPU host",
};

/** sh commands that set up a machine or run the whole suite; each has its own test. */
const MACHINE_SETUP: Array<[RegExp, string]> = [
  [/^bash scripts\/setup\.sh( --tests)?$/, "installs apt packages and LibTorch and builds the addon: the environment this suite runs in (.ci/run)"],
  [/^npm test$/, "the whole suite, this test included"],
  [/^npm install inseq$/, "installs from the npm registry: test/boundary/pack.test.ts installs the packed tarball the same way"],
  [/^npx inseq setup-torch( --cuda)?$/, "downloads LibTorch from PyPI: test/unit/setup-torch.test.ts runs it against a loopback index"],
];

/** Placeholders in README code and the tiny fixtures that stand in for them. */
const PLACEHOLDERS: Record<string, string> = {
  '"path/to/opus-mt-en-fr"': JSON.stringify(path.join(repoRoot, "test/fixtures/reference-seq2seq/marian")),
};

const cli = path.join(repoRoot, "dist/cli/index.js");
const distIndex = pathToFileURL(path.join(repoRoot, "dist/index.js")).href;
const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");

function parseBlocks(md: string): Block[] {
  const lines = md.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    let above = start - 1;
    while (above >= 0 && lines[above]!.trim() === "") above--;
    const marker = above >= 0 ? /^<!-- snippet: (.*?) -->$/.exec(lines[above]!.trim()) : null;
    blocks.push({ line: start + 1, lang: open[1]!, code: body.join("\n"), skip: marker?.[1] });
  }
  return blocks;
}

/** The commands of an sh block: continuation lines joined, comments dropped, `&&` chains split. */
function shCommands(code: string): string[] {
  return code
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((l) => l.replace(/(^|\s)#.*$/, "").trim())
    .filter((l) => l.length > 0)
    .flatMap((l) => l.split("&&").map((c) => c.trim()));
}

const blocks = parseBlocks(readme);
const runnable = blocks.filter((b) => b.skip === undefined);
let scratch = "";
let hub: http.Server;
let env: NodeJS.ProcessEnv = {};
const hubRequests: string[] = [];

beforeAll(async () => {
  expect(readdirSync(path.join(repoRoot, "dist")), "run `npm run build:ts` first").toContain("index.js");
  // Loopback hub: every model repo is the tiny Llama fixture (byte-level BPE tokenizer), at one commit.
  const source = referenceDir("llama");
  hub = http.createServer((req, res) => {
    hubRequests.push(req.url ?? "");
    const m = /^\/[\w.-]+\/[\w.-]+\/resolve\/[\w.-]+\/([\w.-]+)$/.exec(req.url ?? "");
    if (!m || !readdirSync(source).includes(m[1]!)) {
      res.writeHead(404).end("not found");
      return;
    }
    const body = readFileSync(path.join(source, m[1]!));
    const etag = createHash("sha256").update(body).digest("hex");
    res.writeHead(200, { "x-repo-commit": "0123456789abcdef0123456789abcdef01234567", etag: `"${etag}"`, "content-length": body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => hub.listen(0, "127.0.0.1", resolve));
  scratch = tempDir("readme");
  env = {
    ...process.env,
    HF_ENDPOINT: `http://127.0.0.1:${(hub.address() as AddressInfo).port}`,
    HF_HOME: tempDir("readme-hf"),
    FORCE_COLOR: "0",
  };
  delete env.HF_TOKEN;
  delete env.HF_HUB_OFFLINE;
  delete env.HF_HUB_CACHE;
});
afterAll(() => new Promise<void>((resolve) => (hub ? hub.close(() => resolve()) : resolve())));

interface Ran { stdout: string; stderr: string; status: number | null }

/** A child process that leaves the event loop free (the loopback hub answers from this process). */
function run(file: string, args: string[], options: SpawnOptions & { timeout: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeout);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, status });
    });
  });
}

/** Transpiles a ts/js block as a reader's TypeScript project would and runs it as a module in the scratch folder. */
function runModule(block: Block): Promise<Ran> {
  let code = block.code;
  for (const [placeholder, stand] of Object.entries(PLACEHOLDERS)) code = code.replaceAll(placeholder, stand);
  code = code.replaceAll('from "inseq"', `from ${JSON.stringify(distIndex)}`);
  code = code.replaceAll('from "inseq/default-model"', `from ${JSON.stringify(pathToFileURL(path.join(repoRoot, "dist/default-model/index.js")).href)}`);
  const js = ts.transpileModule(code, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, lib: ["lib.es2022.d.ts", "lib.esnext.disposable.d.ts"] },
  }).outputText;
  const file = path.join(scratch, `snippet-line-${block.line}.mjs`);
  writeFileSync(file, js);
  return run(process.execPath, [file], { cwd: scratch, env, timeout: 120_000 });
}

function runCommand(command: string): Promise<Ran> {
  const cmd = command.replace(/^(npx )?inseq /, `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} `).replace(/^node dist\/cli\/index\.js /, `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} `);
  return run("bash", ["-c", cmd], { cwd: repoRoot, env, timeout: 300_000 });
}

/** Strings printed by console.log of an array of strings (util.inspect quoting). */
function printedStrings(stdout: string): string[] {
  return [...stdout.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? m[2]!);
}

describe("README.md code blocks", () => {
  it("has blocks of known kinds only, and every skip marker names a reason of the fixed list", () => {
    expect(blocks.length).toBeGreaterThan(5);
    for (const b of blocks) {
      expect(["ts", "js", "sh", "text"], `README.md:${b.line}: fence language (text for synopses and listings)`).toContain(b.lang);
      if (b.skip !== undefined) expect(Object.keys(SKIP_REASONS), `README.md:${b.line}: <!-- snippet: ${b.skip} -->`).toContain(b.skip);
    }
    // the stand-ins and skip lists are all in use (none outlives the README text it was written for)
    for (const placeholder of Object.keys(PLACEHOLDERS)) expect(readme).toContain(placeholder);
    const commands = blocks.filter((b) => b.lang === "sh").flatMap((b) => shCommands(b.code));
    for (const [re] of MACHINE_SETUP) expect(commands.some((c) => re.test(c)), String(re)).toBe(true);
  });

  for (const block of runnable.filter((b) => b.lang === "ts" || b.lang === "js")) {
    it(`README.md:${block.line} (${block.lang}) runs`, async () => {
      const r = await runModule(block);
      expect(r.status, `README.md:${block.line}\n${r.stderr}`).toBe(0);
      if (block.code.includes('"the keys to the old cabinet"')) {
        // the generated texts are sentences of the default model's grammar
        const texts = printedStrings(r.stdout);
        expect(texts).toHaveLength(2);
        for (const t of texts) expect(checkSentence(t), t).toMatchObject({ grammatical: true });
      }
      if (block.code.includes('encode("naïve 😀 café")')) {
        // a byte-level tokenizer: the text round-trips and no id is the unknown token's
        expect(r.stdout.trim().split("\n").at(-1)).toBe("naïve 😀 café");
        expect(hubRequests.some((u) => u.startsWith("/HuggingFaceTB/SmolLM2-135M/resolve/"))).toBe(true);
      }
    });
  }

  for (const block of runnable.filter((b) => b.lang === "sh")) {
    it(`README.md:${block.line} (sh) runs`, async () => {
      for (const command of shCommands(block.code)) {
        const setup = MACHINE_SETUP.find(([re]) => re.test(command));
        if (setup) continue; // covered elsewhere: see MACHINE_SETUP
        const r = await runCommand(command);
        expect(r.status, `README.md:${block.line}: ${command}\n${r.stderr}`).toBe(0);
        if (/ generate /.test(` ${command.replace(/^\S+ \S+/, "")} `) && !/ -m | --model /.test(command)) {
          // the default model continues inside its grammar, and prints what the README says it prints
          const out = r.stdout.trim();
          expect(checkSentence(out), out).toMatchObject({ grammatical: true });
          const claimed = /It prints `([^`]+)`/.exec(readme.slice(readme.indexOf(block.code)))?.[1];
          expect(out).toBe(claimed);
        }
      }
    });
  }

  it("the `inseq` usage lines of the synopses use only options each command's --help lists", () => {
    const usage = blocks.filter((b) => b.lang === "text" && /^inseq /m.test(b.code));
    expect(usage.length).toBeGreaterThan(0);
    const help = new Map<string, string>();
    let command = "";
    for (const line of usage.flatMap((b) => b.code.split("\n"))) {
      const head = /^inseq ([a-z-]+)/.exec(line);
      if (head) command = head[1]!;
      else if (!/^\s/.test(line)) command = "";
      if (!command || /^inseq --/.test(line)) continue;
      if (!help.has(command)) {
        const r = spawnSync(process.execPath, [cli, command, "--help"], { encoding: "utf8", env });
        expect(r.status, `inseq ${command} --help`).toBe(0);
        help.set(command, r.stdout);
      }
      const synopsis = line.replace(/#.*$/, "");
      for (const [option] of synopsis.matchAll(/--[a-z][a-z-]*/g)) {
        if (/^\s*\[every attribution option|--attribution-kwargs, --generation-kwargs/.test(synopsis)) continue;
        expect(help.get(command), `inseq ${command}: ${option} (README synopsis)`).toContain(option);
      }
    }
  });

  it("`await using`: compiled by TypeScript it runs on this Node; plain JavaScript needs Node >= 24 (as README says)", async () => {
    const code = 'import { loadModel } from "inseq";\n{\n  await using model = await loadModel("default");\n  console.log((await model.generate("mary went to the market because", { maxNewTokens: 5 }))[0]);\n}\n';
    const r = await runModule({ line: 0, lang: "ts", code, skip: undefined });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("mary went to the market because she was angry .");
    const plain = path.join(scratch, "await-using-plain.mjs");
    writeFileSync(plain, code.replace('from "inseq"', `from ${JSON.stringify(distIndex)}`));
    const p = spawnSync(process.execPath, [plain], { cwd: scratch, encoding: "utf8", env });
    if (Number(process.versions.node.split(".")[0]) < 24) {
      expect(p.status).not.toBe(0);
      expect(p.stderr).toContain("SyntaxError");
    } else {
      expect(p.status, p.stderr).toBe(0);
    }
    expect(readme).toContain("natively on Node >= 24");
  });
});

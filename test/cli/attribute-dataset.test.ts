// `inseq attribute-dataset` and `inseq merge` end to end, through the CLI in child processes (built dist/, via
// the test-only entry test/helpers/dataset-cli.mjs): WinoMT rows with the stories260K model and saliency.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync, truncateSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";

import { scanRecords, type DatasetRecord } from "../../lib/dataset/records.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { repoRoot, sharedFixtures, stories260K, tempDir } from "../helpers.js";

const ENTRY = path.join(repoRoot, "test/helpers/dataset-cli.mjs");
const WINOMT = path.join(sharedFixtures, "winomt/en.txt");
const PARQUET = path.join(repoRoot, "test/fixtures/dataset/winomt-20.parquet");
const SENTENCES = readFileSync(WINOMT, "utf8").split("\n").filter(Boolean).map((l) => l.split("\t")[2]!);
const MODEL = ["--model", stories260K, "--attribution-method", "saliency", "--generation-kwargs", '{"max_new_tokens": 3}', "--device", "cpu"];
const WINO = ["--dataset", WINOMT, "--no-header", "--column-names", "gender,index,sentence,noun", "--input-text-field", "sentence", "--dataset-split", "train[:12]", ...MODEL];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; killWhen?: () => boolean } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY, ...args], { env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    let timer: NodeJS.Timeout | undefined;
    if (opts.killWhen) {
      timer = setInterval(() => {
        if (opts.killWhen!()) {
          clearInterval(timer);
          child.kill("SIGKILL");
        }
      }, 5);
    }
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function records(file: string): Map<number, DatasetRecord> {
  const out = new Map<number, DatasetRecord>();
  scanRecords(file, (r) => {
    expect(out.has(r.index), `duplicate index ${r.index} in ${file}`).toBe(false);
    out.set(r.index, r);
  });
  return out;
}

function attribution(r: DatasetRecord): FeatureAttributionOutput {
  const o = FeatureAttributionOutput.fromJSON(r.attribution);
  delete o.info.exec_time;
  return o;
}

/** Same indices, texts and attributions (within 1e-6; exec_time aside). */
function expectSameRecords(actual: Map<number, DatasetRecord>, expected: Map<number, DatasetRecord>): void {
  expect([...actual.keys()].sort((a, b) => a - b)).toEqual([...expected.keys()].sort((a, b) => a - b));
  for (const [i, e] of expected) {
    const a = actual.get(i)!;
    expect(a.input_text).toBe(e.input_text);
    expect(a.generated_text).toBe(e.generated_text);
    expect(attribution(a).equals(attribution(e), 1e-6), `attribution of row ${i}`).toBe(true);
  }
}

function expectFailure(run: Run, code: string, ...fragments: string[]): void {
  expect(run.code, run.stderr).toBe(1);
  expect(run.stderr).toContain(`[${code}]`);
  for (const f of fragments) expect(run.stderr).toContain(f);
  expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

let full: Map<number, DatasetRecord>;
let fullPath: string;

beforeAll(async () => {
  expect(existsSync(path.join(repoRoot, "dist/cli/commands/attribute-dataset.js")), "run `npx tsc -p tsconfig.json` first").toBe(true);
  fullPath = path.join(tempDir("ds-full"), "full.jsonl");
  const run = await cli(["attribute-dataset", ...WINO, "--output", fullPath, "--progress"]);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stderr).toMatch(/\d+\/12 [\d.]+ ex\/s eta \d+s/);
  expect(run.stderr).toContain(`wrote 12 records to ${fullPath}`);
  full = records(fullPath);
});

describe("attribute-dataset over WinoMT", () => {
  it("writes one record per row of the slice", () => {
    expect([...full.keys()]).toEqual([...Array(12).keys()]);
    const lines = readFileSync(fullPath, "utf8").split("\n");
    expect(lines).toHaveLength(13);
    expect(lines[12]).toBe("");
    for (const [i, r] of full) {
      expect(Object.keys(r)).toEqual(["index", "input_text", "generated_text", "config", "attribution"]);
      expect(r.input_text).toBe(SENTENCES[i]);
      expect(r.generated_text.startsWith(r.input_text)).toBe(true);
      const out = FeatureAttributionOutput.fromJSON(r.attribution);
      expect(out.length).toBe(1);
      expect(out.info.input_texts).toEqual([r.input_text]);
      expect(out.info.generated_texts).toEqual([r.generated_text]);
      expect(out.info.attribution_method).toBe("saliency");
      const seq = out.at(0)!;
      expect(seq.nSteps).toBe(3);
      expect(seq.targetAttributions!.shape).toEqual([seq.attrPosEnd, 3]);
      expect(out.info.attr_pos_start).toBe(seq.attrPosStart);
    }
  });

  it("SIGKILL after the 3rd record, then --resume: the same records, no duplicates or gaps", async () => {
    const out = path.join(tempDir("ds-kill"), "out.jsonl");
    const count = () => (existsSync(out) ? readFileSync(out, "utf8").split("\n").length - 1 : 0);
    const killed = await cli(["attribute-dataset", ...WINO, "--output", out, "--batch-size", "1"], {
      env: { INSEQ_TEST_WRITE_DELAY_MS: "100" },
      killWhen: () => count() >= 3,
    });
    expect(killed.signal).toBe("SIGKILL");
    const partial = records(out);
    expect(partial.size).toBeGreaterThanOrEqual(3);
    expect(partial.size).toBeLessThan(12);
    const again = await cli(["attribute-dataset", ...WINO, "--output", out]);
    expectFailure(again, "ERR_INVALID_OPTION", "already exists", "--resume");
    const resumed = await cli(["attribute-dataset", ...WINO, "--output", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`${partial.size} already done`);
    expectSameRecords(records(out), full);
    // Nothing left: a second resume writes nothing.
    const noop = await cli(["attribute-dataset", ...WINO, "--output", out, "--resume"]);
    expect(noop.code).toBe(0);
    expect(noop.stderr).toContain("wrote 0 records");
    expect(noop.stderr).toContain("12 already done");
  });

  it("a record cut in the middle is dropped and redone on --resume; other settings are refused", async () => {
    const out = path.join(tempDir("ds-cut"), "out.jsonl");
    writeFileSync(out, readFileSync(fullPath));
    const size = statSync(out).size;
    const lastLen = Buffer.byteLength(readFileSync(fullPath, "utf8").split("\n")[11]!) + 1;
    truncateSync(out, size - Math.floor(lastLen / 2));
    const other = await cli(["attribute-dataset", ...WINO, "--attribution-method", "input_x_gradient", "--output", out, "--resume"]);
    expectFailure(other, "ERR_INVALID_OPTION", "attribution_method", "saliency", "input_x_gradient");
    const resumed = await cli(["attribute-dataset", ...WINO, "--output", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/dropped an interrupted last record \(\d+ bytes\)/);
    expect(resumed.stderr).toContain("wrote 1 record to");
    expectSameRecords(records(out), full);
    // 12 complete lines, nothing left of the cut record (sizes can differ by exec_time's digits)
    const lines = readFileSync(out, "utf8").split("\n");
    expect(lines.length).toBe(13);
    expect(lines[12]).toBe("");
  });

  it("every record stores the run's configuration; --resume refuses other method, step-function or generation arguments, naming each field", async () => {
    const config = (full.get(0) as DatasetRecord & { config?: Record<string, unknown> }).config!;
    expect(config).toMatchObject({ model: stories260K, model_revision: null, attribution_method: "saliency", generation_args: { max_new_tokens: 3 }, input_text_field: "sentence" });
    const out = path.join(tempDir("ds-config"), "out.jsonl");
    writeFileSync(out, readFileSync(fullPath, "utf8").split("\n").slice(0, 4).join("\n") + "\n");
    const other = await cli(["attribute-dataset", ...WINO, "--generation-kwargs", '{"max_new_tokens": 4}', "--attribution-kwargs", '{"logprob": true}', "--output", out, "--resume"]);
    expectFailure(other, "ERR_INVALID_OPTION", "Cannot --resume", "attributed_fn_args", "step_scores_args", "generation_args", '{"max_new_tokens":3} in the file, {"max_new_tokens":4} in this run');
    const field = await cli(["attribute-dataset", ...WINO, "--input-text-field", "noun", "--output", out, "--resume"]);
    expectFailure(field, "ERR_INVALID_OPTION", "input_text_field");
    expect(readFileSync(out, "utf8").split("\n").length).toBe(5); // nothing appended
    const same = await cli(["attribute-dataset", ...WINO, "--output", out, "--resume"]);
    expect(same.code, same.stderr).toBe(0);
    expectSameRecords(records(out), full);
  });

  it("a full disk mid-run: ERR_DISK_FULL with a hint to --resume, no stack; --resume then finishes the output", async () => {
    const out = path.join(tempDir("ds-full-disk"), "out.jsonl");
    const run = await cli(["attribute-dataset", ...WINO, "--bs", "2", "--output", out], { env: { INSEQ_TEST_WRITE_FAIL: "ENOSPC@4" } });
    expectFailure(run, "ERR_DISK_FULL", out, "ENOSPC", "--resume");
    expect(records(out).size).toBe(3);
    const io = await cli(["attribute-dataset", ...WINO, "--bs", "2", "--output", out, "--resume"], { env: { INSEQ_TEST_WRITE_FAIL: "EIO@2" } });
    expectFailure(io, "ERR_IO", out, "EIO", "--resume");
    const resumed = await cli(["attribute-dataset", ...WINO, "--output", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expectSameRecords(records(out), full);
  });

  it("--shard 0/2 and 1/2 merged equal the full run", async () => {
    const dir = tempDir("ds-shard");
    const shards = [0, 1].map((i) => path.join(dir, `shard${i}.jsonl`));
    const runs = await Promise.all(shards.map((s, i) => cli(["attribute-dataset", ...WINO, "--shard", `${i}/2`, "--output", s])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect([...records(shards[0]!).keys()]).toEqual([0, 2, 4, 6, 8, 10]);
    expect([...records(shards[1]!).keys()]).toEqual([1, 3, 5, 7, 9, 11]);
    const merged = path.join(dir, "all.jsonl");
    const m = await cli(["merge", shards[1]!, shards[0]!, "-o", merged]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toContain("merged 12 records from 2 files");
    const all = records(merged);
    expect([...all.keys()]).toEqual([...Array(12).keys()]); // ordered by index
    expectSameRecords(all, full);
    // Duplicates with the same content are written once; with other content they are an error.
    const dup = await cli(["merge", fullPath, shards[0]!, "-o", path.join(dir, "dup.jsonl")]);
    expect(dup.code, dup.stderr).toBe(0);
    expect(dup.stderr).toContain("6 duplicates dropped");
    const tampered = path.join(dir, "tampered.jsonl");
    const lines = readFileSync(shards[0]!, "utf8").split("\n");
    const r0 = JSON.parse(lines[0]!);
    r0.generated_text += " changed";
    lines[0] = JSON.stringify(r0);
    writeFileSync(tampered, lines.join("\n"));
    expectFailure(await cli(["merge", fullPath, tampered, "-o", path.join(dir, "bad.jsonl")]), "ERR_BAD_DATASET", "row 0", "different content");
    const r1 = JSON.parse(lines[1]!);
    r1.attribution.attributes.info.attribution_method = "integrated_gradients";
    writeFileSync(tampered, JSON.stringify(r1) + "\n");
    expectFailure(await cli(["merge", shards[1]!, tampered, "-o", path.join(dir, "bad.jsonl")]), "ERR_BAD_DATASET", "attribution_method", "integrated_gradients");
    expectFailure(await cli(["merge", shards[0]!, "-o", merged]), "ERR_INVALID_OPTION", "already exists");
    // One Inseq JSON document (loadable by Python Inseq's FeatureAttributionOutput.load).
    const doc = path.join(dir, "all.json");
    expect((await cli(["merge", shards[0]!, shards[1]!, "-o", doc])).code).toBe(0);
    const loaded = await FeatureAttributionOutput.load(doc);
    expect(loaded.length).toBe(12);
    expect(loaded.info.input_texts).toEqual(SENTENCES.slice(0, 12));
  });

  it("gzip output: one member per record, round trip, resume after a cut", async () => {
    const dir = tempDir("ds-gz");
    const out = path.join(dir, "out.jsonl.gz");
    const run = await cli(["attribute-dataset", ...WINO, "--output", out]);
    expect(run.code, run.stderr).toBe(0);
    const bytes = readFileSync(out);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const text = gunzipSync(bytes).toString("utf8").split("\n").filter(Boolean);
    expect(text).toHaveLength(12);
    expectSameRecords(records(out), full);
    truncateSync(out, bytes.length - 40);
    const resumed = await cli(["attribute-dataset", ...WINO, "--output", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain("11 already done");
    expectSameRecords(records(out), full);
    const merged = path.join(dir, "merged.jsonl");
    expect((await cli(["merge", out, "-o", merged])).code).toBe(0);
    expectSameRecords(records(merged), full);
  });
});

describe("other inputs", () => {
  const dir = tempDir("ds-inputs");
  const firstRows = (n: number) => readFileSync(WINOMT, "utf8").split("\n").slice(0, n).map((l) => l.split("\t"));

  it("JSONL with a forced generated-text field", async () => {
    const f = path.join(dir, "in.jsonl");
    const gens = [...full.values()].slice(0, 4).map((r) => r.generated_text);
    writeFileSync(f, gens.map((g, i) => JSON.stringify({ prompt: SENTENCES[i], target: g, id: i })).join("\n") + "\n");
    const out = path.join(dir, "jsonl.out.jsonl");
    const run = await cli(["attribute-dataset", "--dataset", f, "--input-text-field", "prompt", "--generated-text-field", "target", ...MODEL, "-o", out]);
    expect(run.code, run.stderr).toBe(0);
    const recs = records(out);
    expect(recs.size).toBe(4);
    for (const [i, r] of recs) {
      expect(r.generated_text).toBe(gens[i]);
      expect(attribution(r).info.constrained_decoding).toBe(true);
      // Forcing the greedy continuation gives the generated run's attributions.
      expect(attribution(r).sequenceAttributions[0]!.equals(attribution(full.get(i)!).sequenceAttributions[0]!, 1e-5)).toBe(true);
    }
  });

  it("CSV with a header, quoted fields, and a slice from the end", async () => {
    const f = path.join(dir, "in.csv");
    const rows = firstRows(12);
    const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
    writeFileSync(f, "gender,idx,sentence,noun\r\n" + rows.map((r) => [r[0], r[1], q(r[2]!), q(`the "${r[3]}", really`)].join(",")).join("\r\n") + "\r\n");
    const out = path.join(dir, "csv.out.jsonl");
    const run = await cli(["attribute-dataset", "--dataset", f, "--input-text-field", "sentence", "--dataset-split", "train[-4:]", ...MODEL, "-o", out]);
    expect(run.code, run.stderr).toBe(0);
    const recs = records(out);
    expect([...recs.keys()]).toEqual([8, 9, 10, 11]);
    expectSameRecords(recs, new Map([...full].filter(([i]) => i >= 8)));
  });

  it("Parquet (percent slice)", async () => {
    const out = path.join(dir, "pq.out.jsonl");
    const run = await cli(["attribute-dataset", "--dataset", PARQUET, "--input-text-field", "sentence", "--dataset-split", "train[:50%]", "--batch-size", "3", ...MODEL, "-o", out]);
    expect(run.code, run.stderr).toBe(0);
    const recs = records(out);
    expect([...recs.keys()]).toEqual([...Array(10).keys()]);
    expectSameRecords(recs, new Map([...full].filter(([i]) => i < 10)));
  });
});

describe("Hugging Face Hub dataset (local server)", () => {
  const COMMIT = "fedcba9876543210fedcba9876543210fedcba98";
  const body = readFileSync(PARQUET);
  const sha256 = createHash("sha256").update(body).digest("hex");
  const requests: string[] = [];

  function hub(): Promise<{ endpoint: string; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      const url = req.url ?? "";
      requests.push(url);
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(v));
      };
      if (url === "/api/datasets/org/wino/revision/refs%2Fconvert%2Fparquet") return json(200, { id: "org/wino", sha: COMMIT });
      if (url === `/api/datasets/org/wino/tree/${COMMIT}/default/train`) {
        return json(200, [{ type: "file", oid: "0".repeat(40), size: body.length, path: "default/train/0000.parquet", lfs: { oid: sha256, size: body.length, pointerSize: 132 } }]);
      }
      if (url === `/api/datasets/org/wino/tree/${COMMIT}/default`) return json(200, [{ type: "directory", oid: "1".repeat(40), size: 0, path: "default/train" }]);
      if (url === `/datasets/org/wino/resolve/${COMMIT}/default/train/0000.parquet`) {
        res.writeHead(302, { location: `/cdn/${sha256}`, "x-repo-commit": COMMIT, "x-linked-etag": `"${sha256}"` });
        return res.end();
      }
      if (url === `/cdn/${sha256}`) {
        res.writeHead(200, { "content-length": body.length });
        return res.end(body);
      }
      json(404, { error: "not found" });
    });
    return new Promise((resolve) =>
      server.listen(0, "127.0.0.1", () =>
        resolve({
          endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          close: () => new Promise<void>((r) => server.close(() => r())),
        }),
      ),
    );
  }

  it("downloads the split's Parquet files into the hub cache, then works offline", async () => {
    const home = tempDir("ds-hfhome");
    const dir = tempDir("ds-hub");
    const server = await hub();
    const args = ["attribute-dataset", "--dataset", "org/wino", "--input-text-field", "sentence", "--dataset-split", "train[:6]", ...MODEL];
    try {
      const env = { HF_HOME: home, HF_ENDPOINT: server.endpoint, HF_HUB_OFFLINE: "0", HF_HUB_CACHE: "" };
      const run = await cli([...args, "-o", path.join(dir, "a.jsonl")], { env });
      expect(run.code, run.stderr).toBe(0);
      expectSameRecords(records(path.join(dir, "a.jsonl")), new Map([...full].filter(([i]) => i < 6)));
      const repo = path.join(home, "hub/datasets--org--wino");
      const pointer = path.join(repo, "snapshots", COMMIT, "default/train/0000.parquet");
      expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
      expect(path.resolve(path.dirname(pointer), readlinkSync(pointer))).toBe(path.join(repo, "blobs", sha256));
      expect(readFileSync(path.join(repo, "refs/refs/convert/parquet"), "utf8")).toBe(COMMIT);
      const badSplit = await cli([...args.map((a) => (a === "train[:6]" ? "test" : a)), "-o", path.join(dir, "b.jsonl")], { env });
      expectFailure(badSplit, "ERR_INVALID_OPTION", "train", '"test"');
    } finally {
      await server.close();
    }
    const before = requests.length;
    const offline = await cli([...args, "-o", path.join(dir, "c.jsonl")], { env: { HF_HOME: home, HF_ENDPOINT: server.endpoint, HF_HUB_OFFLINE: "1", HF_HUB_CACHE: "" } });
    expect(offline.code, offline.stderr).toBe(0);
    expect(requests.length).toBe(before);
    expectSameRecords(records(path.join(dir, "c.jsonl")), records(path.join(dir, "a.jsonl")));
    const empty = await cli([...args, "-o", path.join(dir, "d.jsonl")], { env: { HF_HOME: tempDir("ds-empty"), HF_ENDPOINT: server.endpoint, HF_HUB_OFFLINE: "1", HF_HUB_CACHE: "" } });
    expectFailure(empty, "ERR_OFFLINE", "org/wino");
    expect(existsSync(path.join(dir, "d.jsonl"))).toBe(false);
  });
});

describe("bad input", () => {
  const dir = tempDir("ds-bad");
  const out = () => path.join(dir, `out-${Math.random().toString(36).slice(2)}.jsonl`);

  it("a missing field lists the available columns", async () => {
    const o = out();
    const r = await cli(["attribute-dataset", ...WINO.map((a) => (a === "sentence" ? "text" : a)), "-o", o]);
    expectFailure(r, "ERR_INVALID_OPTION", '"text"', "available columns: gender, index, sentence, noun");
    expect(existsSync(o)).toBe(false);
    const g = await cli(["attribute-dataset", ...WINO, "--generated-text-field", "target", "-o", out()]);
    expectFailure(g, "ERR_INVALID_OPTION", "--generated-text-field", "available columns");
  });

  it("missing or unreadable files", async () => {
    expectFailure(await cli(["attribute-dataset", "--dataset", path.join(dir, "nope.jsonl"), "-i", "x", ...MODEL, "-o", out()]), "ERR_NOT_FOUND", "nope.jsonl");
    expectFailure(await cli(["attribute-dataset", "--dataset", dir, "-i", "x", ...MODEL, "-o", out()]), "ERR_INVALID_OPTION", "directory");
    const notPq = path.join(dir, "bad.parquet");
    writeFileSync(notPq, "definitely not parquet");
    expectFailure(await cli(["attribute-dataset", "--dataset", notPq, "-i", "x", ...MODEL, "-o", out()]), "ERR_BAD_DATASET", "bad.parquet");
    const merged = await cli(["merge", path.join(dir, "missing.jsonl"), "-o", out()]);
    expectFailure(merged, "ERR_NOT_FOUND", "missing.jsonl");
  });

  it("a malformed JSONL line: stop (default) reports its line; skip leaves it out", async () => {
    const f = path.join(dir, "broken.jsonl");
    writeFileSync(f, [SENTENCES[0], SENTENCES[1]].map((s) => JSON.stringify({ text: s })).join("\n") + '\n{"text": "unterminated\n' + JSON.stringify({ text: SENTENCES[3] }) + "\n");
    const o = out();
    const stop = await cli(["attribute-dataset", "--dataset", f, "-i", "text", ...MODEL, "-o", o]);
    expectFailure(stop, "ERR_BAD_DATASET", "row 2", "line 3", "not valid JSON", "--on-error skip");
    expect(existsSync(o)).toBe(false);
    const o2 = out();
    const skip = await cli(["attribute-dataset", "--dataset", f, "-i", "text", ...MODEL, "-o", o2, "--on-error", "skip"]);
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.stderr).toContain("skipped row 2: line 3 is not valid JSON");
    expect(skip.stderr).toContain("1 skipped");
    const recs = records(o2);
    expect([...recs.keys()]).toEqual([0, 1, 3]);
    expect(recs.get(3)!.input_text).toBe(SENTENCES[3]);
  });

  it("a failing example: stop names its row; skip leaves it out", async () => {
    const f = path.join(dir, "forced.jsonl");
    writeFileSync(f, [0, 1, 2].map((i) => JSON.stringify({ p: SENTENCES[i], g: i === 1 ? "does not start with the prompt" : `${SENTENCES[i]} and` })).join("\n"));
    const stop = await cli(["attribute-dataset", "--dataset", f, "-i", "p", "-g", "g", ...MODEL, "-o", out()]);
    expectFailure(stop, "ERR_INVALID_OPTION", "Attribution failed for row 1");
    const o = out();
    const skip = await cli(["attribute-dataset", "--dataset", f, "-i", "p", "-g", "g", ...MODEL, "-o", o, "--on-error", "skip"]);
    expect(skip.code, skip.stderr).toBe(0);
    expect([...records(o).keys()]).toEqual([0, 2]);
  });

  it("split and shard syntax errors", async () => {
    for (const split of ["train[:", "train[5]", "train[a:]", "train[:200%]", "train+test"]) {
      expectFailure(await cli(["attribute-dataset", ...WINO.map((a) => (a === "train[:12]" ? split : a)), "-o", out()]), "ERR_INVALID_OPTION", "--dataset-split", JSON.stringify(split));
    }
    expectFailure(await cli(["attribute-dataset", ...WINO.map((a) => (a === "train[:12]" ? "validation" : a)), "-o", out()]), "ERR_INVALID_OPTION", '"validation"');
    expectFailure(await cli(["attribute-dataset", ...WINO, "--shard", "2/2", "-o", out()]), "ERR_INVALID_OPTION", "--shard");
    expectFailure(await cli(["attribute-dataset", ...WINO, "--resume", "--overwrite", "-o", out()]), "ERR_INVALID_OPTION", "--resume");
  });
});

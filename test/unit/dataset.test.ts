// Dataset plumbing without a model: split syntax, the CSV reader, readers, and the record file scanner.
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

import { InseqError } from "../../lib/core/errors.js";
import { parseDelimited } from "../../lib/dataset/csv.js";
import { openDataset } from "../../lib/dataset/readers.js";
import { planOutput, RecordWriter, scanRecords, type DatasetRecord } from "../../lib/dataset/records.js";
import { parseShard, parseSplit, resolveSplit } from "../../lib/dataset/split.js";
import { repoRoot, tempDir } from "../helpers.js";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InseqError);
    return (e as InseqError).code;
  }
  throw new Error("expected an error");
}

const range = (spec: string, n: number) => {
  const r = resolveSplit(parseSplit(spec), n);
  return [r.start, r.end];
};

describe("split syntax (Hugging Face datasets ReadInstruction)", () => {
  it("names and absolute slices", () => {
    expect(parseSplit("train")).toMatchObject({ split: "train", from: null, to: null, unit: "abs" });
    expect(range("train", 100)).toEqual([0, 100]);
    expect(range("train[:20]", 100)).toEqual([0, 20]);
    expect(range("train[10:20]", 100)).toEqual([10, 20]);
    expect(range("train[-5:]", 100)).toEqual([95, 100]);
    expect(range("train[:-5]", 100)).toEqual([0, 95]);
    expect(range("train[50:]", 30)).toEqual([30, 30]);
    expect(range("train[-500:]", 30)).toEqual([0, 30]);
    expect(range("train[20:10]", 100)).toEqual([20, 20]);
    expect(range(" validation_matched[1:2] ", 5)).toEqual([1, 2]);
  });

  it("percent slices round half to even (closest), or by whole percents (pct1_dropremainder)", () => {
    expect(range("train[:10%]", 100)).toEqual([0, 10]);
    expect(range("train[10%:20%]", 1000)).toEqual([100, 200]);
    expect(range("train[:50%]", 5)).toEqual([0, 2]); // 2.5 -> 2
    expect(range("train[:50%]", 7)).toEqual([0, 4]); // 3.5 -> 4
    expect(range("train[-10%:]", 100)).toEqual([90, 100]);
    expect(range("train[:10%](pct1_dropremainder)", 1999)).toEqual([0, 190]);
    expect(range("train[:10%](closest)", 1999)).toEqual([0, 200]);
    expect(codeOf(() => range("train[:10%](pct1_dropremainder)", 99))).toBe("ERR_INVALID_OPTION");
  });

  it("bad syntax is ERR_INVALID_OPTION with the received value", () => {
    for (const bad of ["", "train[", "train[5]", "train[a:b]", "train[:101%]", "train[1:2](closest)", "train[:5%](floor)", "train+test", "tr ain", "train[:20]x"]) {
      let err: unknown;
      try {
        parseSplit(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(InseqError);
      expect((err as InseqError).code).toBe("ERR_INVALID_OPTION");
      expect((err as InseqError).message).toContain("--dataset-split");
    }
  });

  it("shards", () => {
    expect(parseShard("0/2")).toEqual({ index: 0, count: 2 });
    expect(parseShard(" 3 / 4 ")).toEqual({ index: 3, count: 4 });
    for (const bad of ["2/2", "-1/2", "1/0", "1", "a/b", "1/2/3"]) expect(codeOf(() => parseShard(bad)), bad).toBe("ERR_INVALID_OPTION");
  });
});

describe("RFC 4180 reader", () => {
  const rows = (text: string, d = ",") => [...parseDelimited(text, d)].map((r) => (r.error ? { error: r.error, line: r.line } : r.fields));

  it("quotes, doubled quotes, delimiters and newlines inside quotes, CRLF, BOM, blank lines", () => {
    expect(rows('\ufeffa,b,c\r\n1,"x, y","say ""hi"""\r\n\r\n2,"multi\nline",\n')).toEqual([
      ["a", "b", "c"],
      ["1", "x, y", 'say "hi"'],
      ["2", "multi\nline", ""],
    ]);
    expect(rows("a\tb\n1\t2", "\t")).toEqual([["a", "b"], ["1", "2"]]);
    expect(rows('a,"b"c,d\n')).toEqual([["a", "bc", "d"]]); // lenient like Python's csv
    expect(rows("a,b\r3,4\r")).toEqual([["a", "b"], ["3", "4"]]);
  });

  it("line numbers and unterminated quotes", () => {
    const recs = [...parseDelimited('h\n"a\nb"\nc\n"open\nx\n')];
    expect(recs.map((r) => r.line)).toEqual([1, 2, 4, 5]);
    expect(recs[3]!.error).toMatch(/unterminated quoted field starting on line 5/);
  });
});

describe("readers", () => {
  const dir = tempDir("ds-unit");

  it("WinoMT en.txt: a headerless TSV with a .txt extension", async () => {
    const ds = await openDataset(path.join(repoRoot, "../shared/fixtures/winomt/en.txt"), { header: false });
    expect(ds.format).toBe("tsv");
    expect(ds.columns).toEqual(["0", "1", "2", "3"]);
    expect(ds.numRows).toBe(3888);
    const [r] = await ds.read(0, 1, ["2", "3"]);
    expect(r).toEqual({ values: { "2": "The developer argued with the designer because she did not like the design.", "3": "developer" }, line: 1 });
  });

  it("CSV header handling: names, duplicates, --column-names, wrong field counts", async () => {
    const f = path.join(dir, "a.csv");
    writeFileSync(f, "x,x,,y\n1,2,3,4\n5,6\n");
    const ds = await openDataset(f);
    expect(ds.columns).toEqual(["x", "x.1", "Unnamed: 2", "y"]);
    const rows = await ds.read(0, 2, ["y"]);
    expect(rows[0]).toEqual({ values: { y: "4" }, line: 2 });
    expect(rows[1]).toMatchObject({ error: "line 3 has 2 fields but the dataset has 4 columns", line: 3 });
    const renamed = await openDataset(f, { columnNames: ["a", "b", "c", "d"] });
    expect(renamed.columns).toEqual(["a", "b", "c", "d"]);
    expect(renamed.numRows).toBe(2);
    await expect(openDataset(f, { columnNames: ["a"] })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("JSONL: the union of keys, malformed lines as row errors, gzip input", async () => {
    const f = path.join(dir, "a.jsonl.gz");
    writeFileSync(f, gzipSync('{"a": "x"}\n\n{"b": 1}\n[1]\n{oops\n'));
    const ds = await openDataset(f);
    expect(ds.format).toBe("jsonl");
    expect(ds.columns).toEqual(["a", "b"]);
    expect(ds.numRows).toBe(4);
    const rows = await ds.read(0, 4, ["a"]);
    expect(rows[0]).toEqual({ values: { a: "x" }, line: 1 });
    expect(rows[1]).toEqual({ values: { a: null }, line: 3 });
    expect(rows[2]).toMatchObject({ error: "line 4 is not a JSON object" });
    expect(rows[3]).toMatchObject({ error: expect.stringContaining("line 5 is not valid JSON") });
  });

  it("JSON arrays, text files, Parquet", async () => {
    const j = path.join(dir, "a.json");
    writeFileSync(j, '[{"t": "a"}, {"t": "b"}]');
    expect((await (await openDataset(j)).read(0, 2, ["t"])).map((r) => ("values" in r ? r.values.t : null))).toEqual(["a", "b"]);
    const t = path.join(dir, "a.txt");
    writeFileSync(t, "one\n\nthree\n");
    const txt = await openDataset(t);
    expect(txt.columns).toEqual(["text"]);
    expect((await txt.read(0, 3, ["text"])).map((r) => ("values" in r ? r.values.text : null))).toEqual(["one", "", "three"]);
    const pq = await openDataset(path.join(repoRoot, "test/fixtures/dataset/winomt-20.parquet"));
    expect(pq.columns).toEqual(["gender", "index", "sentence", "noun"]);
    expect(pq.numRows).toBe(20);
    const rows = await pq.read(7, 10, ["index", "noun"]); // across a row-group boundary (8 rows per group)
    const tsv = readFileSync(path.join(repoRoot, "../shared/fixtures/winomt/en.txt"), "utf8").split("\n").slice(7, 10).map((l) => l.split("\t"));
    expect(rows).toEqual(tsv.map((f) => ({ values: { index: Number(f[1]), noun: f[3] } })));
  });

  it("missing files, directories, split names", async () => {
    await expect(openDataset(path.join(dir, "nope.jsonl"))).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
    await expect(openDataset(dir)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    const f = path.join(dir, "b.jsonl");
    writeFileSync(f, '{"a": "x"}\n');
    await expect(openDataset(f, { split: "test" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining('"train"') });
  });
});

describe("record files", () => {
  const dir = tempDir("ds-records");
  const rec = (index: number): DatasetRecord => ({ index, input_text: `in ${index}`, generated_text: `in ${index} out`, attribution: { info: { exec_time: index } } });
  const scan = (f: string) => {
    const seen: number[] = [];
    const r = scanRecords(f, (x) => seen.push(x.index));
    return { ...r, seen };
  };

  for (const gz of [false, true]) {
    it(`a cut-off last record is dropped on resume (${gz ? "gzip" : "plain"})`, () => {
      const f = path.join(dir, `out${gz ? ".jsonl.gz" : ".jsonl"}`);
      const w = new RecordWriter(planOutput(f));
      for (const i of [0, 1, 2]) w.write(rec(i));
      w.close();
      const full = readFileSync(f).length;
      const sizes = [0, 1, 2].map((i) => RecordWriter.encode(rec(i), gz).length);
      expect(sizes.reduce((a, b) => a + b)).toBe(full);
      for (const cut of [1, 5, 12, sizes[2]! - 1]) {
        writeFileSync(f, readFileSync(f).subarray(0, full));
        truncateSync(f, full - cut);
        const s = scan(f);
        expect(s.gzip).toBe(gz);
        expect(s.seen).toEqual([0, 1]);
        expect(s.validBytes).toBe(sizes[0]! + sizes[1]!);
        const plan = planOutput(f, { resume: true });
        expect([...plan.done]).toEqual([0, 1]);
        expect(plan.droppedBytes).toBe(sizes[2]! - cut);
        const w2 = new RecordWriter(plan);
        w2.write(rec(2));
        w2.close();
        expect(readFileSync(f).length).toBe(full);
        expect(scan(f).seen).toEqual([0, 1, 2]);
      }
      expect(codeOf(() => planOutput(f))).toBe("ERR_INVALID_OPTION");
      expect(codeOf(() => planOutput(f, { resume: true, overwrite: true }))).toBe("ERR_INVALID_OPTION");
    });
  }

  it("gzip members holding several lines, and corrupt content", () => {
    const f = path.join(dir, "multi.jsonl.gz");
    writeFileSync(f, Buffer.concat([gzipSync([rec(0), rec(1)].map((r) => JSON.stringify(r)).join("\n") + "\n"), gzipSync(JSON.stringify(rec(2)))]));
    expect(scan(f).seen).toEqual([0, 1, 2]);
    const bad = path.join(dir, "bad.jsonl");
    writeFileSync(bad, `${JSON.stringify(rec(0))}\nnot json\n`);
    expect(codeOf(() => scanRecords(bad))).toBe("ERR_BAD_DATASET");
    writeFileSync(bad, `${JSON.stringify({ index: -1, attribution: {} })}\n`);
    expect(codeOf(() => scanRecords(bad))).toBe("ERR_BAD_DATASET");
  });
});

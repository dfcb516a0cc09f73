// Dataset plumbing without a model: split syntax, the CSV reader, readers, and the record file scanner.
import { existsSync, readFileSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

import { InseqError } from "../../lib/core/errors.js";
import { parseDelimited } from "../../lib/dataset/csv.js";
import { openDataset } from "../../lib/dataset/readers.js";
import { mergeRecordFiles } from "../../lib/dataset/merge.js";
import { planOutput, RecordWriter, scanRecords, type DatasetRecord } from "../../lib/dataset/records.js";
import { runConfig, withModelRevision, type RunConfig } from "../../lib/dataset/run-config.js";
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

describe("run configurations: --resume and merge compare the whole configuration", () => {
  const dir = tempDir("ds-config");
  const base = { model: "org/m", inputTextField: "text", attributeOptions: { method: "integrated_gradients", methodArgs: { nSteps: 10 }, generationArgs: { maxNewTokens: 3 } } };
  const withConfig = (index: number, config: RunConfig): DatasetRecord => ({
    index, input_text: `in ${index}`, generated_text: `in ${index} out`, config, attribution: { info: { attribution_method: config.attribution_method } },
  });
  const writeRecords = (file: string, records: DatasetRecord[]) => {
    const w = new RecordWriter(planOutput(file, { overwrite: true }));
    records.forEach((r) => w.write(r));
    w.close();
  };
  const messageOf = (fn: () => unknown): InseqError => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(InseqError);
      return e as InseqError;
    }
    throw new Error("expected an error");
  };

  it("the same settings resume (option spellings and defaults normalised); any other setting is refused, every differing field named", () => {
    const f = path.join(dir, "resume.jsonl");
    const first = withModelRevision(runConfig(base), "/cache/models--org--m/snapshots/0123456789abcdef0123456789abcdef01234567");
    expect(first.model_revision).toBe("0123456789abcdef0123456789abcdef01234567");
    writeRecords(f, [withConfig(0, first), withConfig(1, first)]);
    const same = runConfig({ ...base, attributeOptions: { ...base.attributeOptions, methodArgs: { n_steps: 10 }, attributedFn: "probability", stepScores: [] } });
    expect([...planOutput(f, { resume: true, config: same }).done]).toEqual([0, 1]);

    const other = runConfig({ ...base, attributeOptions: { ...base.attributeOptions, methodArgs: { nSteps: 20 }, generationArgs: { maxNewTokens: 5 }, stepScores: ["probability"] } });
    const err = messageOf(() => planOutput(f, { resume: true, config: other }));
    expect(err.code).toBe("ERR_INVALID_OPTION");
    expect(err.message).toContain("Cannot --resume");
    expect(err.message).toContain("attribution_args, step_scores, generation_args");
    expect(err.message).toContain('attribution_args {"n_steps":10} in the file, {"n_steps":20} in this run');
    expect(err.message).toContain('generation_args {"max_new_tokens":3} in the file, {"max_new_tokens":5} in this run');
    for (const [what, cfg, field] of [
      ["model", runConfig({ ...base, model: "org/other" }), "model"],
      ["attributed function args", runConfig({ ...base, attributeOptions: { ...base.attributeOptions, attributedFnArgs: { logprob: true } } }), "attributed_fn_args"],
      ["step function args", runConfig({ ...base, attributeOptions: { ...base.attributeOptions, stepScoresArgs: { topK: 2 } } }), "step_scores_args"],
      ["contrast targets", runConfig({ ...base, attributeOptions: { ...base.attributeOptions, contrastTargets: ["x"] } }), "contrast_targets"],
      ["text field", runConfig({ ...base, inputTextField: "other" }), "input_text_field"],
      ["model revision", withModelRevision(runConfig(base), "/cache/models--org--m/snapshots/fedcba9876543210fedcba9876543210fedcba98"), "model_revision"],
    ] as const) {
      const e = messageOf(() => planOutput(f, { resume: true, config: cfg as RunConfig }));
      expect(e.code, what).toBe("ERR_INVALID_OPTION");
      expect(e.message, what).toContain(`differs from its records' in ${field} (`);
    }
    // Not resuming: no comparison.
    expect(planOutput(f, { overwrite: true, config: other }).mode).toBe("overwrite");
  });

  it("records written before configurations were stored are compared through their info", () => {
    const f = path.join(dir, "legacy.jsonl");
    const legacy: DatasetRecord = { index: 0, input_text: "a", generated_text: "a b", attribution: { info: { model_name: "org/m", attribution_method: "integrated_gradients", attribution_args: { nSteps: 10 }, constrained_decoding: false, generation_args: { maxNewTokens: 3 } } } };
    writeRecords(f, [legacy]);
    expect([...planOutput(f, { resume: true, config: runConfig(base) }).done]).toEqual([0]);
    const e = messageOf(() => planOutput(f, { resume: true, config: runConfig({ ...base, attributeOptions: { ...base.attributeOptions, methodArgs: { nSteps: 50 } } }) }));
    expect(e.message).toContain('attribution_args {"n_steps":10} in the file, {"n_steps":50} in this run');
  });

  it("merge refuses records whose configurations differ, naming the rows, files and fields", async () => {
    const a = path.join(dir, "a.jsonl");
    const b = path.join(dir, "b.jsonl");
    const cfg = runConfig(base);
    writeRecords(a, [withConfig(0, cfg)]);
    writeRecords(b, [withConfig(1, runConfig({ ...base, attributeOptions: { ...base.attributeOptions, generationArgs: { maxNewTokens: 9 } } }))]);
    const out = path.join(dir, "merged.jsonl");
    const err = await mergeRecordFiles([a, b], out).then(() => null, (e: unknown) => e as InseqError);
    expect(err).toBeInstanceOf(InseqError);
    expect(err!.code).toBe("ERR_BAD_DATASET");
    expect(err!.message).toContain(`row 1 of ${b}`);
    expect(err!.message).toContain(`row 0 of ${a}`);
    expect(err!.message).toContain("generation_args");
    expect(existsSync(out)).toBe(false);
    writeRecords(b, [withConfig(1, cfg)]);
    expect((await mergeRecordFiles([a, b], out)).records).toBe(2);
  });
});

describe("write failures: ERR_DISK_FULL / ERR_IO with a hint, never a raw errno stack", () => {
  const dir = tempDir("ds-write");
  const rec = (index: number): DatasetRecord => ({ index, input_text: `in ${index}`, generated_text: `in ${index} out`, attribution: { info: {} } });
  const errno = (code: string) => Object.assign(new Error(`${code}: simulated, write`), { code, syscall: "write", errno: -28 });

  for (const [code, expected] of [["ENOSPC", "ERR_DISK_FULL"], ["EDQUOT", "ERR_DISK_FULL"], ["EIO", "ERR_IO"]] as const) {
    it(`${code} -> ${expected}, naming the file and --resume; the cut record is dropped on resume`, () => {
      const f = path.join(dir, `${code}.jsonl`);
      let calls = 0;
      // The 2nd record: half of it is written, then the disk is full.
      const w = new RecordWriter(planOutput(f), {
        writeSync: (fd, buf, off, len) => {
          if (++calls === 2) return writeSync(fd, buf, off, len >> 1);
          if (calls >= 3) throw errno(code);
          return writeSync(fd, buf, off, len);
        },
      });
      w.write(rec(0));
      const err = (() => {
        try {
          w.write(rec(1));
        } catch (e) {
          return e as InseqError;
        }
        return null;
      })();
      w.close();
      expect(err).toBeInstanceOf(InseqError);
      expect(err!.code).toBe(expected);
      expect(err!.message).toContain(f);
      expect(err!.message).toContain(code);
      expect(err!.message).toContain("--resume");
      const plan = planOutput(f, { resume: true });
      expect([...plan.done]).toEqual([0]);
      expect(plan.droppedBytes).toBeGreaterThan(0);
    });
  }

  it("the hint is the writer's (merge passes its own: run merge again)", () => {
    const writer = new RecordWriter(planOutput(path.join(dir, "hint.jsonl")), { hint: "run merge again (the output was not written)", writeSync: () => { throw errno("ENOSPC"); } });
    let err: InseqError | null = null;
    try {
      writer.write(rec(0));
    } catch (e) {
      err = e as InseqError;
    }
    writer.close();
    expect(err!.code).toBe("ERR_DISK_FULL");
    expect(err!.message).toContain("free some space, then run merge again");
    expect(err!.message).not.toContain("--resume");
  });
});

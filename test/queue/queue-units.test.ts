// The job queue's pure parts: queue URLs (and their redaction), job planning and ids, `--shard auto`.
import { describe, expect, it } from "vitest";

import { InseqError } from "../../lib/core/errors.js";
import { parseShard } from "../../lib/dataset/split.js";
import { parseQueueUrl, redactUrl } from "../../lib/queue/connection.js";
import { planJobs, runKey } from "../../lib/queue/jobs.js";

function thrown(f: () => unknown): InseqError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InseqError);
    return err as InseqError;
  }
  throw new Error("expected a throw");
}

describe("queue URLs", () => {
  it("reads host, port, db, user, password and TLS", () => {
    expect(parseQueueUrl("redis://127.0.0.1:6390").options).toEqual({ host: "127.0.0.1", port: 6390, db: 0 });
    expect(parseQueueUrl("redis://redis").options).toEqual({ host: "redis", port: 6379, db: 0 });
    const c = parseQueueUrl("rediss://ann:p%40ss%3Aw0rd@cache.example:7000/3");
    expect(c.options).toEqual({ host: "cache.example", port: 7000, db: 3, username: "ann", password: "p@ss:w0rd", tls: { servername: "cache.example" } });
    expect(c.display).toBe("rediss://ann:***@cache.example:7000/3");
    expect(parseQueueUrl("redis://:only-pw@[::1]:6380").options).toMatchObject({ host: "::1", port: 6380, password: "only-pw" });
    // INSEQ_QUEUE_PASSWORD: the password off the command line; the URL's own password wins; masked in any text.
    const env = { INSEQ_QUEUE_PASSWORD: "s3cret-from-env" };
    const fromEnv = parseQueueUrl("redis://redis:6379", "--queue", env);
    expect(fromEnv.options).toEqual({ host: "redis", port: 6379, db: 0, password: "s3cret-from-env" });
    expect(fromEnv.redact("WRONGPASS for s3cret-from-env")).toBe("WRONGPASS for ***");
    expect(parseQueueUrl("redis://:in-url@redis", "--queue", env).options.password).toBe("in-url");
    expect(parseQueueUrl("redis://redis", "--queue", {}).options.password).toBeUndefined();
  });

  it("masks the password in the URL and in any text", () => {
    expect(redactUrl("redis://u:secret@h:1/2")).toBe("redis://u:***@h:1/2");
    expect(redactUrl("redis://h:1")).toBe("redis://h:1");
    const c = parseQueueUrl("redis://u:s3cr%21t@h:1");
    expect(c.redact("AUTH failed for s3cr!t and s3cr%21t at redis://u:s3cr%21t@h:1")).toBe("AUTH failed for *** and *** at redis://u:***@h:1");
  });

  it("refuses anything else with ERR_INVALID_OPTION, the password masked", () => {
    for (const bad of ["http://u:hunter2@h:1", "redis://u:hunter2@h:1/x", "redis://u:hunter2@h:1/?db=2", "not a url hunter2", "redis://:hunter2@h:1/-1"]) {
      const err = thrown(() => parseQueueUrl(bad));
      expect(err.code).toBe("ERR_INVALID_OPTION");
      expect(err.message).toMatch(/^Expected a redis:\/\/.* for --queue but received/);
      if (bad.includes("@")) expect(err.message).not.toContain("hunter2");
    }
  });
});

describe("job planning", () => {
  const ex = (indices: number[]) => indices.map((index) => ({ index, input: `row ${index}` }));

  it("cuts the selected rows into cells of jobRows rows, ids from the run key and the cell", () => {
    const jobs = planJobs("k", ex([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]), { start: 10, end: 21 }, 4);
    expect(jobs.map((j) => j.id)).toEqual(["k-10-14", "k-14-18", "k-18-21"]);
    expect(jobs.map((j) => j.examples.map((e) => e.index))).toEqual([[10, 11, 12, 13], [14, 15, 16, 17], [18, 19, 20]]);
  });

  it("keeps the cells' ids when rows are left out (resumed, sharded), and drops empty cells", () => {
    const jobs = planJobs("k", ex([1, 3, 9, 11]), { start: 0, end: 12 }, 4);
    expect(jobs.map((j) => [j.id, j.examples.map((e) => e.index)])).toEqual([["k-0-4", [1, 3]], ["k-8-12", [9, 11]]]);
  });

  it("run keys differ with the dataset, the split and the configuration, and only then", () => {
    const cfg = { model: "default", attribution_method: "saliency" };
    const a = runKey({ source: "a.tsv", split: "train[:10]" }, cfg);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(runKey({ source: "a.tsv", split: "train[:10]" }, { ...cfg })).toBe(a);
    expect(runKey({ source: "b.tsv", split: "train[:10]" }, cfg)).not.toBe(a);
    expect(runKey({ source: "a.tsv", split: "train" }, cfg)).not.toBe(a);
    expect(runKey({ source: "a.tsv", split: "train[:10]" }, { ...cfg, attribution_method: "input_x_gradient" })).not.toBe(a);
  });
});

describe("--shard auto (Kubernetes Indexed Job)", () => {
  it("reads the index from JOB_COMPLETION_INDEX and the count from INSEQ_SHARD_COUNT", () => {
    expect(parseShard("auto", { JOB_COMPLETION_INDEX: "2", INSEQ_SHARD_COUNT: "4" })).toEqual({ index: 2, count: 4 });
    expect(parseShard(" auto ", { JOB_COMPLETION_INDEX: "0", INSEQ_SHARD_COUNT: "1" })).toEqual({ index: 0, count: 1 });
    expect(parseShard("1/3", {})).toEqual({ index: 1, count: 3 });
  });

  it("says which variable is missing or wrong", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ JOB_COMPLETION_INDEX: "1" }, /shard count .* in \$INSEQ_SHARD_COUNT for --shard auto but received nothing \(the variable is not set\)/],
      [{ INSEQ_SHARD_COUNT: "4" }, /shard index \(an integer from 0 to 3\) in \$JOB_COMPLETION_INDEX for --shard auto but received nothing/],
      [{ JOB_COMPLETION_INDEX: "4", INSEQ_SHARD_COUNT: "4" }, /from 0 to 3\) in \$JOB_COMPLETION_INDEX .* received "4" \(\$INSEQ_SHARD_COUNT is 4; it must equal the Job's completions\)/],
      [{ JOB_COMPLETION_INDEX: "0", INSEQ_SHARD_COUNT: "0" }, /shard count \(a positive integer\) in \$INSEQ_SHARD_COUNT .* received "0"/],
      [{ JOB_COMPLETION_INDEX: "-1", INSEQ_SHARD_COUNT: "4" }, /JOB_COMPLETION_INDEX .* received "-1"/],
      [{ JOB_COMPLETION_INDEX: "1", INSEQ_SHARD_COUNT: "four" }, /INSEQ_SHARD_COUNT .* received "four"/],
    ];
    for (const [env, re] of cases) {
      const err = thrown(() => parseShard("auto", env));
      expect(err.code).toBe("ERR_INVALID_OPTION");
      expect(err.message).toMatch(re);
    }
    expect(thrown(() => parseShard("automatic", {})).message).toContain('or auto, for --shard but received "automatic"');
  });
});

/** lib/core/atomic-write.ts: the one atomic write (temp sibling, fsync, rename) and its error codes. */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { atomicTempPath, replaceFileAtomic, writeFileAtomic, writeFileAtomicSync } from "../../lib/core/atomic-write.js";
import { ErrorCode, InseqError } from "../../lib/core/errors.js";
import { rejection, tempDir } from "../helpers.js";

const dir = tempDir("atomic-write");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const leftovers = (d: string) => readdirSync(d).filter((f) => f.includes(".tmp-"));
const errno = (code: string) => Object.assign(new Error(`${code}: simulated, write`), { code, syscall: "write" });

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("writeFileAtomic / writeFileAtomicSync", () => {
  it("write a new file and replace an existing one, text or bytes, leaving no temporary file", async () => {
    const f = path.join(dir, "a.txt");
    await writeFileAtomic(f, "one");
    expect(readFileSync(f, "utf8")).toBe("one");
    await writeFileAtomic(f, Buffer.from("two"));
    expect(readFileSync(f, "utf8")).toBe("two");
    writeFileAtomicSync(f, "three");
    expect(readFileSync(f, "utf8")).toBe("three");
    writeFileAtomicSync(f, new Uint8Array([0x34]));
    expect(readFileSync(f, "utf8")).toBe("4");
    expect(leftovers(dir)).toEqual([]);
  });

  it("the temporary file is a sibling named <file>.tmp-<pid>", () => {
    expect(atomicTempPath("/x/out.json")).toBe(`/x/out.json.tmp-${process.pid}`);
  });

  it("a missing directory: ERR_IO naming the file, the errno code once, and the hint", async () => {
    const f = path.join(dir, "missing", "out.json");
    const err = await rejection(writeFileAtomic(f, "x", { hint: "save again" }));
    expect(err.code).toBe(ErrorCode.IO);
    expect(err.message).toContain(f);
    expect(err.message.match(/ENOENT/g)).toHaveLength(1);
    expect(err.message).toMatch(/; save again$/);
    const sync = thrown(() => writeFileAtomicSync(f, "x")) as InseqError;
    expect(sync).toBeInstanceOf(InseqError);
    expect(sync.code).toBe(ErrorCode.IO);
    expect(sync.message).toMatch(/; try again$/);
  });

  it("a failed rename (the target is a directory) keeps the target and removes the temporary file", async () => {
    const target = path.join(dir, "is-a-dir");
    mkdirSync(target);
    writeFileSync(path.join(target, "keep"), "kept");
    const err = await rejection(writeFileAtomic(target, "x"));
    expect(err.code).toBe(ErrorCode.IO);
    expect(readFileSync(path.join(target, "keep"), "utf8")).toBe("kept");
    expect(thrown(() => writeFileAtomicSync(target, "x"))).toMatchObject({ code: ErrorCode.IO });
    expect(leftovers(dir)).toEqual([]);
  });
});

describe("replaceFileAtomic", () => {
  it("moves what the writer wrote into place; an earlier file is replaced only then", async () => {
    const f = path.join(dir, "r.jsonl");
    writeFileSync(f, "old\n");
    await replaceFileAtomic(f, async (tmp) => {
      expect(tmp).toBe(atomicTempPath(f));
      await writeFile(tmp, "new\n");
      expect(readFileSync(f, "utf8")).toBe("old\n");
    });
    expect(readFileSync(f, "utf8")).toBe("new\n");
    expect(leftovers(dir)).toEqual([]);
  });

  for (const [code, expected] of [["ENOSPC", ErrorCode.DISK_FULL], ["EDQUOT", ErrorCode.DISK_FULL], ["EIO", ErrorCode.IO]] as const) {
    it(`a writer failing with ${code}: ${expected} naming the file (not the temporary one), partial output removed, old file kept`, async () => {
      const f = path.join(dir, `fail-${code.toLowerCase()}.json`);
      writeFileSync(f, "old");
      const err = await rejection(
        replaceFileAtomic(
          f,
          (tmp) => {
            writeFileSync(tmp, "half");
            throw errno(code);
          },
          { hint: "run merge again" },
        ),
      );
      expect(err.code).toBe(expected);
      expect(err.message).toContain(f);
      expect(err.message).not.toContain(".tmp-");
      expect(err.message.match(new RegExp(code, "g"))).toHaveLength(1);
      expect(err.message).toContain("run merge again");
      expect(readFileSync(f, "utf8")).toBe("old");
      expect(leftovers(dir)).toEqual([]);
    });
  }

  it("errors that are not the file system's pass unchanged (an InseqError of the writer, a program error)", async () => {
    const f = path.join(dir, "pass.json");
    const own = new InseqError(ErrorCode.BAD_DATASET, "bad record");
    await expect(replaceFileAtomic(f, () => { throw own; })).rejects.toBe(own);
    const bug = new TypeError("not a function");
    await expect(replaceFileAtomic(f, async (tmp) => { writeFileSync(tmp, "x"); throw bug; })).rejects.toBe(bug);
    expect(leftovers(dir)).toEqual([]);
  });

  it("a writer that creates no file: ERR_IO (nothing to move into place)", async () => {
    const err = await rejection(replaceFileAtomic(path.join(dir, "none.json"), () => undefined));
    expect(err.code).toBe(ErrorCode.IO);
  });
});

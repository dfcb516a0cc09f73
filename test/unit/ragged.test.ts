// Rows of ids become the addon's Int32Arrays only after every value is checked: a safe integer in [0, below).
// Before, Int32Array.from turned NaN / null / "x" into 0, truncated 1.9 and wrapped 2**32 + 5 into 5.
import { describe, expect, it } from "vitest";

import { InseqError } from "../../lib/core/errors.js";
import { checkRows, toRagged } from "../../lib/native/ragged.js";

const BAD: Array<[unknown, string]> = [
  [Number.NaN, "NaN"], [null, "null"], [undefined, "undefined"], [Infinity, "Infinity"], [-Infinity, "-Infinity"],
  [2 ** 53, "9007199254740992"], [2 ** 32 + 5, "4294967301"], [1.9, "1.9"], ["7", '"7"'], [-1, "-1"], [10, "10"], [7n, "7n"],
];

function thrown(f: () => unknown): InseqError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InseqError);
    return e as InseqError;
  }
  throw new Error("did not throw");
}

describe("toRagged", () => {
  it("flattens valid rows", () => {
    const r = toRagged([[0, 9], [3], []], { name: "ids", below: 10 });
    expect([...r.ids]).toEqual([0, 9, 3]);
    expect([...r.lengths]).toEqual([2, 1, 0]);
  });

  it.each(BAD)("rejects %s with ERR_INVALID_OPTION naming the row and column", (bad, shown) => {
    const e = thrown(() => toRagged([[1, 2], [3, 4, bad as number]], { name: "ids", below: 10 }));
    expect(e.code).toBe("ERR_INVALID_OPTION");
    expect(e.message).toBe(`Expected a token id (an integer in [0, 10)) for ids[1][2] (row 1, column 2) but received ${shown}`);
  });

  it("rejects rows that are not arrays, naming the row", () => {
    const e = thrown(() => toRagged([[1], "12" as never], { name: "sources", below: 10 }));
    expect(e.code).toBe("ERR_INVALID_OPTION");
    expect(e.message).toBe('Expected an array of token ids for sources[1] but received "12"');
    expect(thrown(() => toRagged(5 as never, { name: "ids", below: 10 })).message).toBe("Expected an array of rows of token ids for ids but received 5");
  });

  it("never wraps into int32, whatever the bound", () => {
    const e = thrown(() => toRagged([[2 ** 31]], { name: "heads", below: 2 ** 40, what: "a head index" }));
    expect(e.message).toBe(`Expected a head index (an integer in [0, ${2 ** 31})) for heads[0][0] (row 0, column 0) but received 2147483648`);
  });

  it("checkRows checks without converting", () => {
    expect(() => checkRows([[0, 4]], { name: "baselineIds", below: 5 })).not.toThrow();
    expect(thrown(() => checkRows([[0, 5]], { name: "baselineIds", below: 5 })).message).toContain("baselineIds[0][1] (row 0, column 1)");
  });
});

describe("toRagged row numbering", () => {
  it("counts rows from firstRow (one batch of a longer list) and sees holes of sparse rows", () => {
    expect(thrown(() => toRagged([[1], [2, 11]], { name: "generatedTexts", below: 10, firstRow: 4 })).message)
      .toContain("generatedTexts[5][1] (row 5, column 1)");
    // eslint-disable-next-line no-sparse-arrays
    expect(thrown(() => toRagged([[1, , 3]], { name: "ids", below: 10 })).message).toContain("ids[0][1] (row 0, column 1) but received undefined");
  });
});

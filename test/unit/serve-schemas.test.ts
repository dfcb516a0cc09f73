/**
 * The request schemas of `inseq serve` follow the library's option tables: every option a request may set is in
 * its schema, and every option left out is one the server keeps (SERVER_ONLY) — a new library option fails here
 * until the schema takes it.
 */
import { describe, expect, it } from "vitest";

import { ATTRIBUTE_OPTIONS, SEQ2SEQ_OPTIONS } from "../../lib/attribution/options.js";
import { ATTRIBUTE_CONTEXT_OPTIONS } from "../../lib/context/types.js";
import { GENERATE_OPTIONS } from "../../lib/models/model.js";
import { ATTRIBUTE_BODY, ATTRIBUTE_CONTEXT_BODY, GENERATE_BODY, SERVER_ONLY } from "../../lib/serve/schemas.js";

const props = (schema: Record<string, unknown>): string[] => Object.keys(schema.properties as object);
const sub = (schema: Record<string, unknown>, name: string) => (schema.properties as Record<string, Record<string, unknown>>)[name]!;

describe("serve schemas", () => {
  it("attribute options: both model kinds' tables, less the server's, `method` at the top level", () => {
    const table = Object.keys({ ...ATTRIBUTE_OPTIONS, ...SEQ2SEQ_OPTIONS });
    const options = props(sub(ATTRIBUTE_BODY, "options"));
    expect(options.sort()).toEqual(table.filter((k) => !SERVER_ONLY.includes(k) && k !== "method").sort());
    expect(props(ATTRIBUTE_BODY)).toEqual(["model", "inputs", "method", "options", "aggregate"]);
  });

  it("attribute-context: the option table less callbacks and signals", () => {
    expect(props(ATTRIBUTE_CONTEXT_BODY).sort()).toEqual(["model", ...Object.keys(ATTRIBUTE_CONTEXT_OPTIONS).filter((k) => !SERVER_ONLY.includes(k))].sort());
  });

  it("generate options: the decoder-only table (plus the encoder-decoder targetPrefix), less the server's", () => {
    const options = props(sub(GENERATE_BODY, "options"));
    expect(options.sort()).toEqual([...Object.keys(GENERATE_OPTIONS).filter((k) => !SERVER_ONLY.includes(k)), "targetPrefix"].sort());
  });

  it("every object schema refuses unknown properties", () => {
    for (const s of [ATTRIBUTE_BODY, ATTRIBUTE_CONTEXT_BODY, GENERATE_BODY, sub(ATTRIBUTE_BODY, "options"), sub(GENERATE_BODY, "options")]) {
      expect(s.additionalProperties).toBe(false);
    }
  });
});

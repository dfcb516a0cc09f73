// The forms of method arguments (lib/attribution/method-arg-forms.ts) against the library's own checks: every
// option of every method has a form, a value of the form is accepted by methodArgs(), a value of another type is
// refused with ERR_INVALID_OPTION, and the schema made from a form accepts and refuses the same values.
import Ajv from "ajv";
import { describe, expect, it } from "vitest";

import { METHOD_ARG_FORMS, methodArgSchema, type MethodArgForm } from "../../lib/attribution/method-arg-forms.js";
import { methodArgs } from "../../lib/attribution/options.js";
import { METHODS } from "../../lib/attribution/registry.js";
import { InseqError } from "../../lib/core/errors.js";

/** A value inside the form, valid for `method` (DIG's nSteps needs 2, its `method` is a path strategy). */
function goodValue(form: MethodArgForm, name: string, method: string): unknown {
  if (name === "method") return method === "discretized_integrated_gradients" ? "maxcount" : "riemann_left";
  switch (form.type) {
    case "integer": return Math.max(form.minimum, 2);
    case "number": return form.maximum ?? 0.5;
    case "boolean": return false;
    case "string": return form.choices?.[0] ?? "/tmp/inseq-forms";
    case "json": return undefined;
  }
}

/** Values outside the form (none for "json", which the library alone checks). */
function badValues(form: MethodArgForm): unknown[] {
  switch (form.type) {
    case "integer": return ["3", 2.5, form.minimum - 1];
    case "number": return ["0.5", ...(form.exclusiveMinimum !== undefined ? [form.exclusiveMinimum] : []), ...(form.minimum !== undefined ? [form.minimum - 1] : [])];
    case "boolean": return ["false", 0, 1];
    case "string": return [3, ...(form.choices ? ["nope"] : [])];
    case "json": return [];
  }
}

const code = (f: () => unknown): string | null => {
  try {
    f();
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(InseqError);
    return (e as InseqError).code;
  }
};

const ajv = new Ajv({ strict: false });

describe("method argument forms", () => {
  it("cover every option of every method, and nothing else", () => {
    const options = new Set(METHODS.flatMap((m) => [...m.options]));
    expect([...options].filter((o) => !(o in METHOD_ARG_FORMS))).toEqual([]);
    expect(Object.keys(METHOD_ARG_FORMS).filter((o) => !options.has(o))).toEqual([]);
  });

  for (const m of METHODS) {
    if (m.options.length === 0) continue;
    it(`agree with the library's checks of ${m.id}'s arguments`, () => {
      const layers = { decoder: 2, encoder: 2 };
      for (const name of m.options) {
        const form = METHOD_ARG_FORMS[name]!;
        const valid = ajv.compile(methodArgSchema(form));
        const good = goodValue(form, name, m.id);
        if (good !== undefined) {
          expect(code(() => methodArgs(m.id, { [name]: good }, layers)), `${m.id}.${name} = ${JSON.stringify(good)}`).toBeNull();
          expect(valid(good), `schema of ${name} accepts ${JSON.stringify(good)}`).toBe(true);
        }
        for (const bad of badValues(form)) {
          expect(code(() => methodArgs(m.id, { [name]: bad }, layers)), `${m.id}.${name} = ${JSON.stringify(bad)}`).toBe("ERR_INVALID_OPTION");
          expect(valid(bad), `schema of ${name} refuses ${JSON.stringify(bad)}`).toBe(false);
        }
      }
    });
  }
});

/**
 * The method-argument fields of the form, generated from a `/v1/methods` entry: one input per argument, numbers
 * for numeric types (with their bounds), a checkbox for booleans, a select for choices, text for strings, and
 * text read as JSON when it parses otherwise (lists, objects, layer names). Empty fields are left out (the method's default applies).
 */
import type { MethodArg, MethodEntry } from "./api.js";

interface ArgSpec {
  name: string;
  type: string;
  default: unknown;
  description: string;
  choices: unknown[] | null;
  minimum?: number;
  maximum?: number;
}

function specs(method: MethodEntry): ArgSpec[] {
  const args: MethodArg[] = method.args ?? method.options ?? [];
  return args.map((a) => {
    const o = typeof a === "string" ? { name: a } : a;
    const def = o.default ?? method.defaults?.[o.name];
    const type = o.type ?? (typeof def === "number" ? "number" : typeof def === "boolean" ? "boolean" : "string");
    return {
      name: o.name, type, default: def, description: o.description ?? "", choices: Array.isArray(o.choices) ? o.choices : null,
      ...(typeof o.minimum === "number" ? { minimum: o.minimum } : {}), ...(typeof o.maximum === "number" ? { maximum: o.maximum } : {}),
    };
  });
}

/** Replaces the fields in `container` with those of `method`. */
export function renderMethodArgs(container: HTMLElement, method: MethodEntry | undefined, idPrefix: string): void {
  container.replaceChildren();
  if (!method) return;
  for (const s of specs(method)) {
    const id = `${idPrefix}-${s.name}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = s.name;
    if (s.description) label.title = s.description;
    let input: HTMLInputElement | HTMLSelectElement;
    if (s.choices) {
      input = document.createElement("select");
      input.append(new Option("(default)", ""));
      for (const c of s.choices) input.append(new Option(String(c), JSON.stringify(c)));
    } else {
      input = document.createElement("input");
      const number = /^(number|integer|int|float)$/i.test(s.type);
      input.type = s.type === "boolean" ? "checkbox" : number ? "number" : "text";
      if (number && /^int/i.test(s.type)) input.step = "1";
      if (number && !/^int/i.test(s.type)) input.step = "any";
      if (number && s.minimum !== undefined) input.min = String(s.minimum);
      if (number && s.maximum !== undefined) input.max = String(s.maximum);
      if (s.type === "boolean") {
        input.checked = s.default === true;
        input.dataset.default = String(s.default === true);
      }
      else if (s.default !== undefined && s.default !== null) input.placeholder = String(s.default);
    }
    input.id = id;
    input.dataset.arg = s.name;
    input.dataset.type = s.type;
    const row = document.createElement("div");
    row.className = "arg";
    row.append(label, input);
    container.append(row);
  }
}

/** The `methodArgs` of the fields in `container` (only fields the user set). */
export function readMethodArgs(container: HTMLElement): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const input of container.querySelectorAll<HTMLInputElement | HTMLSelectElement>("[data-arg]")) {
    const name = input.dataset.arg!;
    if (input instanceof HTMLInputElement && input.type === "checkbox") {
      if (String(input.checked) !== input.dataset.default) out[name] = input.checked;
      continue;
    }
    const v = input.value.trim();
    if (!v) continue;
    if (input instanceof HTMLInputElement && input.type === "number") out[name] = Number(v);
    else if (input instanceof HTMLInputElement && input.dataset.type === "string") out[name] = v;
    else {
      try {
        out[name] = JSON.parse(v);
      } catch {
        out[name] = v;
      }
    }
  }
  return out;
}

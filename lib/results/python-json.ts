/**
 * JSON text as Python writes and reads it: `json.dumps(sort_keys=True, indent=4, allow_nan=True)` (ASCII only,
 * bare `NaN`/`Infinity` literals) and a `JSON.parse` that accepts those literals. Python Inseq's files are written
 * this way, so ours are byte-identical in layout.
 */
import { ErrorCode, InseqError } from "../core/errors.js";

const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function pyString(s: string): string {
  if (PLAIN_ASCII.test(s)) return `"${s}"`; // fast path (base64 blobs, most tokens)
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c < 0x20 || c > 0x7e) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += s[i];
  }
  return out + '"';
}

function pyNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "Infinity";
  if (n === -Infinity) return "-Infinity";
  return JSON.stringify(n);
}

/**
 * `json.dumps(value, sort_keys=True, indent=4, allow_nan=True)` as Python writes it: ASCII-only (`\uXXXX`
 * escapes), `", "`/`": "` separators with indent, bare NaN/Infinity. `undefined` and functions are skipped in
 * objects (null in arrays), typed arrays become lists, objects with `toJSON()` are converted first.
 */
export function stringifyPythonJson(value: unknown, indent = 4): string {
  const seen = new Set<object>();
  const write = (v: unknown, level: number): string | undefined => {
    if (v !== null && typeof v === "object" && typeof (v as { toJSON?: unknown }).toJSON === "function") {
      v = (v as { toJSON(): unknown }).toJSON();
    }
    if (v === null) return "null";
    switch (typeof v) {
      case "string":
        return pyString(v);
      case "number":
        return pyNumber(v);
      case "boolean":
        return v ? "true" : "false";
      case "bigint":
        return v.toString();
      case "undefined":
      case "function":
      case "symbol":
        return undefined;
    }
    const obj = v as object;
    if (seen.has(obj)) throw new InseqError(ErrorCode.INVALID_OPTION, "Cannot serialise a circular structure to JSON");
    seen.add(obj);
    const pad = " ".repeat(indent * (level + 1));
    const closePad = " ".repeat(indent * level);
    let out: string;
    if (Array.isArray(obj) || ArrayBuffer.isView(obj)) {
      const items = Array.isArray(obj) ? obj : Array.from(obj as unknown as ArrayLike<number>);
      if (items.length === 0) out = "[]";
      else out = "[\n" + items.map((x) => pad + (write(x, level + 1) ?? "null")).join(",\n") + "\n" + closePad + "]";
    } else {
      const entries: string[] = [];
      const record = obj as Record<string, unknown>;
      for (const key of Object.keys(record).sort()) {
        const s = write(record[key], level + 1);
        if (s !== undefined) entries.push(pad + pyString(key) + ": " + s);
      }
      out = entries.length === 0 ? "{}" : "{\n" + entries.join(",\n") + "\n" + closePad + "}";
    }
    seen.delete(obj);
    return out;
  };
  return write(value, 0) ?? "null";
}

/** Decoded value of the placeholder strings `parsePythonJson` substitutes for non-finite literals. */
const NONFINITE_PREFIX = "\u0000inseq-nonfinite:";
/** The same placeholder as JSON source text (the NUL must be escaped inside a JSON string). */
const NONFINITE_JSON = "\\u0000inseq-nonfinite:";

/**
 * `JSON.parse` that also accepts Python's bare `NaN`, `Infinity` and `-Infinity` literals (outside strings).
 */
export function parsePythonJson(text: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!text.includes("NaN") && !text.includes("Infinity")) return JSON.parse(text);
  const parts: string[] = [];
  let last = 0;
  let i = 0;
  let replaced = false;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: find the closing quote not escaped by an odd run of backslashes.
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) {
          j = n;
          break;
        }
        let bs = 0;
        for (let k = q - 1; k > i && text.charCodeAt(k) === 0x5c; k--) bs++;
        j = q + 1;
        if (bs % 2 === 0) break;
      }
      i = j;
    } else if (c === 0x4e /* N */ && text.startsWith("NaN", i)) {
      parts.push(text.slice(last, i), `"${NONFINITE_JSON}NaN"`);
      i += 3;
      last = i;
      replaced = true;
    } else if (c === 0x49 /* I */ && text.startsWith("Infinity", i)) {
      const neg = i > 0 && text.charCodeAt(i - 1) === 0x2d;
      parts.push(text.slice(last, neg ? i - 1 : i), `"${NONFINITE_JSON}${neg ? "-" : ""}Infinity"`);
      i += 8;
      last = i;
      replaced = true;
    } else {
      i++;
    }
  }
  if (!replaced) return JSON.parse(text);
  parts.push(text.slice(last));
  return JSON.parse(parts.join(""), (_key, v: unknown) => {
    if (typeof v === "string" && v.startsWith(NONFINITE_PREFIX)) {
      const lit = v.slice(NONFINITE_PREFIX.length);
      return lit === "NaN" ? NaN : lit === "Infinity" ? Infinity : -Infinity;
    }
    return v;
  });
}


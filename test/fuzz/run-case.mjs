#!/usr/bin/env node
// One fuzz case in its own process (test/fuzz/fuzz.test.ts spawns one per case, so a crash ends only this one).
// Usage: node test/fuzz/run-case.mjs '<case JSON>'   (the JSON that fuzz.test.ts prints for a failing case)
// Copies the base model test/fixtures/<base> to a temp dir, applies the mutations, runs the action against
// dist/ and prints ONE line to stdout: {"outcome":"ok"|"rejected","code","name","message"}.
// Special values that JSON cannot hold are written { "$": "NaN" | "Infinity" | "-Infinity" | "undefined" }.
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, appendFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, "../fixtures");
// Exit 3 = the harness could not set the case up (dist/ not importable, a case naming a missing tensor ...).
const { loadModel } = await import(path.resolve(here, "../../dist/index.js")).catch((err) => {
  process.stderr.write(`fuzz harness error: cannot import dist/index.js (run npm run build:ts): ${err.stack}\n`);
  process.exit(3);
});

const SPECIAL = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, undefined: undefined };

/** Replaces { $: name } markers by the JS values they stand for (case arguments). */
function revive(v) {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") {
    if (Object.keys(v).length === 1 && typeof v.$ === "string" && v.$ in SPECIAL) return SPECIAL[v.$];
    const out = {};
    for (const [k, x] of Object.entries(v)) if (!(x && x.$ === "undefined")) out[k] = revive(x);
    return out;
  }
  return v;
}

/** JSON text where { $: "NaN" } markers become the bare tokens Python's json writes (NaN, Infinity). */
function toJsonText(value) {
  const raws = [];
  const text = JSON.stringify(
    value,
    (_k, v) => {
      if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && typeof v.$ === "string") {
        if (v.$ === "undefined") return undefined;
        raws.push(v.$);
        return `\u0000RAW${raws.length - 1}\u0000`;
      }
      return v;
    },
    2,
  );
  return text.replace(/"\u0000RAW(\d+)\u0000"/g, (_m, i) => raws[Number(i)]);
}

function setPath(obj, keys, value) {
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (o[k] == null || typeof o[k] !== "object") o[k] = {};
    o = o[k];
  }
  const last = keys[keys.length - 1];
  if (value && value.$ === "undefined") delete o[last];
  else o[last] = value;
}

// --- safetensors: [u64 header length][JSON header][data] ------------------------------------------------------
function readSafetensors(file) {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")), data: bytes.subarray(8 + n) };
}

function writeSafetensors(file, header, data, { pad = 0, headerLength } = {}) {
  const json = Buffer.from(JSON.stringify(header) + " ".repeat(pad), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLength ?? json.length));
  writeFileSync(file, Buffer.concat([len, json, data]));
}

function editSafetensors(file, edit) {
  const { header, data } = readSafetensors(file);
  let extra = Buffer.alloc(0);
  if (edit.tensor !== undefined) {
    if (!(edit.tensor in header)) throw new Error(`fuzz case names no tensor ${edit.tensor} of ${file}`);
    if (edit.remove) delete header[edit.tensor];
    for (const [k, v] of Object.entries(edit.set ?? {})) header[edit.tensor][k] = v;
  }
  if (edit.add !== undefined) {
    // A new tensor with a copy of `like`'s bytes appended after the data (a well-formed extra tensor).
    const like = header[edit.like];
    const [b, e] = like.data_offsets;
    extra = Buffer.from(data.subarray(b, e));
    header[edit.add] = { dtype: like.dtype, shape: like.shape, data_offsets: [data.length, data.length + extra.length] };
  }
  if (edit.metadata !== undefined) setPath(header, ["__metadata__"], edit.metadata);
  let out = header;
  if (edit.reorder) out = Object.fromEntries(Object.entries(header).reverse());
  if (edit.headerJson !== undefined) {
    const json = Buffer.from(edit.headerJson, "utf8");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(file, Buffer.concat([len, json, data]));
    return;
  }
  const headerLength = edit.headerLength === undefined ? undefined : edit.headerLength === "-1" ? JSON.stringify(out).length - 1 : edit.headerLength;
  writeSafetensors(file, out, Buffer.concat([data, extra]), { pad: edit.pad ?? 0, headerLength });
}

// --- zip (TorchScript archives): in-place edits of one stored entry, keeping the archive well-formed ------------
function zipEntries(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0; i--) if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) throw new Error("fuzz: not a zip");
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    entries.push({
      name: buf.toString("utf8", p + 46, p + 46 + nameLen), central: p, local, dataStart,
      method: buf.readUInt16LE(p + 10), size: buf.readUInt32LE(p + 24),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function findEntry(entries, selector) {
  const re = new RegExp(selector);
  const e = entries.find((x) => x.method === 0 && re.test(x.name));
  if (!e) throw new Error(`fuzz: no stored zip entry matches ${selector}`);
  return e;
}

/** Rewrites size and CRC-32 of a stored entry in both headers, so the archive itself stays valid. */
function patchEntry(buf, e, size) {
  const crc = zlib.crc32(buf.subarray(e.dataStart, e.dataStart + size)) >>> 0;
  for (const [at, off] of [[e.local, 14], [e.central, 16]]) {
    buf.writeUInt32LE(crc, at + off);
    buf.writeUInt32LE(size, at + off + 4);
    buf.writeUInt32LE(size, at + off + 8);
  }
}

function editZip(file, edit) {
  const buf = readFileSync(file);
  const e = findEntry(zipEntries(buf), edit.entry);
  if (edit.shrinkBy !== undefined) patchEntry(buf, e, Math.max(0, e.size - edit.shrinkBy));
  if (edit.replace !== undefined) {
    const text = Buffer.from(edit.replace, "utf8");
    const body = Buffer.alloc(e.size, edit.fill ?? 0x23); // '#' keeps Python text a comment
    text.copy(body, 0, 0, Math.min(text.length, e.size));
    body.copy(buf, e.dataStart);
    patchEntry(buf, e, e.size);
  }
  if (edit.flipAt !== undefined) buf[e.dataStart + (edit.flipAt % e.size)] ^= 0xff; // CRC left stale
  writeFileSync(file, buf);
}

function applyMutation(dir, m) {
  const file = path.join(dir, m.file);
  switch (m.op) {
    case "json": {
      const doc = JSON.parse(readFileSync(file, "utf8"));
      for (const [keys, value] of m.set) setPath(doc, keys, value);
      writeFileSync(file, toJsonText(doc));
      return;
    }
    case "text":
      writeFileSync(file, m.text);
      return;
    case "append":
      appendFileSync(file, m.text);
      return;
    case "truncate": {
      const size = readFileSync(file).length;
      truncateSync(file, m.keep < 0 ? size + m.keep : m.keep < 1 ? Math.floor(size * m.keep) : m.keep);
      return;
    }
    case "rm":
      rmSync(file);
      return;
    case "copy": // `to` may leave the model folder (../x): the case then points an index entry at it
      cpSync(file, path.join(dir, m.to));
      return;
    case "safetensors":
      editSafetensors(file, m.edit);
      return;
    case "zip":
      editZip(file, m.edit);
      return;
    default:
      throw new Error(`fuzz: unknown mutation ${m.op}`);
  }
}

async function runAction(dir, action) {
  const a = revive(action);
  const model = await loadModel(dir, { device: "cpu", ...(a.loadOptions ?? {}) });
  try {
    const seq2seq = model.info.isEncoderDecoder;
    switch (a.kind) {
      case "smoke":
        if (seq2seq) await model.forward([[4, 5, 6]], [[a.startId ?? 0, 7]]);
        else await model.forward([[1, 2, 3]]);
        await model.generate(a.text ?? "hello world", { maxNewTokens: 2 });
        return;
      case "forward":
        if (seq2seq) await model.forward(a.sources, a.targets);
        else await model.forward(a.ids);
        return;
      case "decode":
        await model.decode(a.ids);
        return;
      case "generate":
        await model.generate(a.texts, a.options);
        return;
      case "attribute":
        await model.attribute(a.texts, a.options);
        return;
      default:
        throw new Error(`fuzz: unknown action ${a.kind}`);
    }
  } finally {
    await model.dispose();
  }
}

const fuzzCase = JSON.parse(process.argv[2]);
const root = mkdtempSync(path.join(os.tmpdir(), "inseq-fuzz-"));
const dir = path.join(root, "model");
let result;
try {
  cpSync(path.join(fixtures, fuzzCase.base), dir, { recursive: true, filter: (src) => path.basename(src) !== "golden.json" });
  for (const m of fuzzCase.mutations) applyMutation(dir, m);
} catch (err) {
  // The harness itself failed: not a library outcome.
  process.stderr.write(`fuzz harness error: ${err.stack}\n`);
  rmSync(root, { recursive: true, force: true });
  process.exit(3);
}
try {
  await runAction(dir, fuzzCase.action);
  result = { outcome: "ok" };
} catch (err) {
  result = {
    outcome: "rejected",
    code: typeof err?.code === "string" ? err.code : null,
    name: err?.name ?? typeof err,
    message: String(err?.message ?? err).slice(0, 2000),
  };
} finally {
  rmSync(root, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result)}\n`);

/**
 * The tensors of a Hugging Face safetensors checkpoint as stored on disk (single `model.safetensors` or an index
 * `model.safetensors.index.json` + shards), read from the headers only: name, file, dtype, shape and the byte
 * range of the data. The model-randomisation check (randomize.ts) rewrites some of them in place in a copy.
 * (`decodeSafetensors` in results/inseq-codecs.ts reads one tensor of an in-memory attribution blob; checkpoints
 * are too big to hold whole, so this reads the header and leaves the data on disk.)
 */
import { existsSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import path from "node:path";

import { ErrorCode, InseqError } from "../core/errors.js";

export const WEIGHTS = "model.safetensors";
export const WEIGHTS_INDEX = "model.safetensors.index.json";

/** One tensor of a checkpoint. */
export interface CheckpointTensor {
  name: string;
  /** File name inside the model directory (the shard). */
  file: string;
  /** Safetensors dtype: "F32", "F16", "BF16", "F64", "I64", ... */
  dtype: string;
  shape: number[];
  /** Absolute byte offsets of the data in the file: [begin, end). */
  begin: number;
  end: number;
}

/** Bytes per element of the floating-point dtypes the randomisation rewrites; undefined for the others. */
export const FLOAT_DTYPE_BYTES: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** Reads the header of one safetensors file: its tensors (file = `file`), in data order. */
export async function readSafetensorsHeader(dir: string, file: string): Promise<CheckpointTensor[]> {
  const full = path.join(dir, file);
  const fh = await open(full, "r");
  try {
    const size = (await fh.stat()).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || (await fh.read(lenBuf, 0, 8, 0)).bytesRead !== 8) throw bad(full, "shorter than 8 bytes");
    const hlen = lenBuf.readUInt32LE(0) + lenBuf.readUInt32LE(4) * 0x100000000;
    if (8 + hlen > size || hlen > 100 * 1024 * 1024) throw bad(full, `header length ${hlen} does not fit the file (${size} bytes)`);
    const headerBuf = Buffer.alloc(hlen);
    await fh.read(headerBuf, 0, hlen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBuf.toString("utf8")) as Record<string, unknown>;
    } catch (cause) {
      throw bad(full, `unreadable JSON header (${(cause as Error).message})`);
    }
    const out: CheckpointTensor[] = [];
    for (const [name, value] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const offsets = e.data_offsets;
      if (typeof e.dtype !== "string" || !Array.isArray(e.shape) || !Array.isArray(offsets) || offsets.length !== 2) {
        throw bad(full, `malformed entry for tensor ${JSON.stringify(name)}`);
      }
      const begin = 8 + hlen + Number(offsets[0]);
      const end = 8 + hlen + Number(offsets[1]);
      if (!(begin <= end && end <= size)) throw bad(full, `data of ${JSON.stringify(name)} outside the file`);
      out.push({ name, file, dtype: e.dtype, shape: (e.shape as unknown[]).map(Number), begin, end });
    }
    return out.sort((a, b) => a.begin - b.begin);
  } finally {
    await fh.close();
  }
}

/**
 * Every tensor of the checkpoint in `dir`: `model.safetensors`, else the shards of `model.safetensors.index.json`.
 * Throws ERR_UNSUPPORTED_MODEL when the directory has neither (e.g. only `pytorch_model.bin`).
 */
export async function readCheckpointTensors(dir: string): Promise<{ files: string[]; tensors: CheckpointTensor[] }> {
  let files: string[];
  if (existsSync(path.join(dir, WEIGHTS))) {
    files = [WEIGHTS];
  } else if (existsSync(path.join(dir, WEIGHTS_INDEX))) {
    const indexFile = path.join(dir, WEIGHTS_INDEX);
    let map: unknown;
    try {
      map = (JSON.parse(await readFile(indexFile, "utf8")) as { weight_map?: unknown }).weight_map;
    } catch (cause) {
      throw new InseqError(ErrorCode.BAD_CHECKPOINT, `Malformed safetensors index ${indexFile}: ${(cause as Error).message}`, { cause });
    }
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw new InseqError(ErrorCode.BAD_CHECKPOINT, `Expected a "weight_map" object in ${indexFile}`);
    }
    files = [...new Set(Object.values(map as Record<string, unknown>).map(String))];
    for (const f of files) {
      if (f.includes("\\") || path.posix.isAbsolute(f) || f.split("/").some((s) => s === "" || s === "." || s === "..")) {
        throw new InseqError(ErrorCode.BAD_CHECKPOINT, `Invalid shard file name ${JSON.stringify(f)} in ${indexFile}`);
      }
    }
  } else {
    throw new InseqError(
      ErrorCode.UNSUPPORTED_MODEL,
      `No ${WEIGHTS} nor ${WEIGHTS_INDEX} in ${dir}: the randomisation check rewrites safetensors checkpoints only`,
    );
  }
  const tensors: CheckpointTensor[] = [];
  for (const f of files) tensors.push(...(await readSafetensorsHeader(dir, f)));
  return { files, tensors };
}

function bad(file: string, what: string): InseqError {
  return new InseqError(ErrorCode.BAD_CHECKPOINT, `Malformed safetensors file ${file}: ${what}`);
}

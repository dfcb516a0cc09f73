/**
 * A small ZIP reader for wheels: the central directory (ZIP64 included) and streaming extraction of stored or
 * deflated entries, each checked against its CRC-32 and size. UTF-8 entry names (what wheels use) are assumed.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";

import { ErrorCode, InseqError } from "../core/errors.js";

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

/** One entry of the central directory. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  localOffset: number;
  /** Unix permission bits when the archive was made on Unix, else 0. */
  mode: number;
}

function badZip(file: string, what: string): InseqError {
  return new InseqError(ErrorCode.INTEGRITY, `${file} is not a valid zip archive: ${what}`);
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/** Central directory location: entry count, size and offset (from the ZIP64 record when the classic one overflows). */
async function findCentralDirectory(fh: FileHandle, file: string, fileSize: number): Promise<{ count: number; size: number; offset: number }> {
  const tailLength = Math.min(fileSize, 22 + 0xffff);
  const tail = await readAt(fh, fileSize - tailLength, tailLength);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIG) {
      at = i;
      break;
    }
  }
  if (at < 0) throw badZip(file, "no end-of-central-directory record");
  let count = tail.readUInt16LE(at + 10);
  let size = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const locAt = at - 20;
    if (locAt < 0 || tail.readUInt32LE(locAt) !== ZIP64_LOCATOR_SIG) throw badZip(file, "missing ZIP64 locator");
    const record = await readAt(fh, Number(tail.readBigUInt64LE(locAt + 8)), 56);
    if (record.length < 56 || record.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw badZip(file, "bad ZIP64 end-of-central-directory record");
    count = Number(record.readBigUInt64LE(32));
    size = Number(record.readBigUInt64LE(40));
    offset = Number(record.readBigUInt64LE(48));
  }
  if (offset + size > fileSize) throw badZip(file, "central directory past the end of the file");
  return { count, size, offset };
}

/** Replaces 0xffffffff sizes/offset with the values of the ZIP64 extra field (id 1), in their fixed order. */
function applyZip64Extra(entry: ZipEntry, extra: Buffer, file: string): void {
  for (let p = 0; p + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      let q = p + 4;
      const next = (): number => {
        if (q + 8 > p + 4 + len) throw badZip(file, `short ZIP64 field for ${entry.name}`);
        const v = Number(extra.readBigUInt64LE(q));
        q += 8;
        return v;
      };
      if (entry.size === 0xffffffff) entry.size = next();
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = next();
      if (entry.localOffset === 0xffffffff) entry.localOffset = next();
      return;
    }
    p += 4 + len;
  }
}

/** An open zip archive. */
export class ZipReader {
  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    readonly entries: ZipEntry[],
  ) {}

  /** Opens `file` and reads its central directory. */
  static async open(file: string): Promise<ZipReader> {
    const fh = await open(file, "r");
    try {
      const { size: fileSize } = await fh.stat();
      const cd = await findCentralDirectory(fh, file, fileSize);
      const buf = await readAt(fh, cd.offset, cd.size);
      const entries: ZipEntry[] = [];
      let p = 0;
      for (let i = 0; i < cd.count; i++) {
        if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL_SIG) throw badZip(file, `bad central directory entry ${i}`);
        const nameLen = buf.readUInt16LE(p + 28);
        const extraLen = buf.readUInt16LE(p + 30);
        const commentLen = buf.readUInt16LE(p + 32);
        const entry: ZipEntry = {
          name: buf.toString("utf8", p + 46, p + 46 + nameLen),
          method: buf.readUInt16LE(p + 10),
          crc32: buf.readUInt32LE(p + 16),
          compressedSize: buf.readUInt32LE(p + 20),
          size: buf.readUInt32LE(p + 24),
          localOffset: buf.readUInt32LE(p + 42),
          mode: buf.readUInt8(p + 5) === 3 ? (buf.readUInt32LE(p + 38) >>> 16) & 0o7777 : 0,
        };
        applyZip64Extra(entry, buf.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), file);
        entries.push(entry);
        p += 46 + nameLen + extraLen + commentLen;
      }
      return new ZipReader(file, fh, entries);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Streams `entry`'s content into `dest` (created or replaced), checking its CRC-32 and size. */
  async extract(entry: ZipEntry, dest: string, signal?: AbortSignal): Promise<void> {
    if (entry.method !== STORED && entry.method !== DEFLATED) {
      throw badZip(this.file, `${entry.name} uses compression method ${entry.method} (only stored and deflated are read)`);
    }
    const local = await readAt(this.fh, entry.localOffset, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL_SIG) throw badZip(this.file, `bad local header for ${entry.name}`);
    const dataStart = entry.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    let crc = 0;
    let size = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, done) {
        crc = zlib.crc32(chunk, crc);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const source =
      entry.compressedSize === 0
        ? Readable.from([])
        : // by path: FileHandle.createReadStream leaves a listener on the handle per stream (thousands of headers)
          createReadStream(this.file, { start: dataStart, end: dataStart + entry.compressedSize - 1 });
    const sink = createWriteStream(dest, { mode: entry.mode & 0o111 ? 0o755 : 0o644 });
    try {
      if (entry.method === DEFLATED) await pipeline(source, zlib.createInflateRaw(), check, sink, { signal });
      else await pipeline(source, check, sink, { signal });
    } catch (err) {
      if (signal?.aborted) throw new InseqError(ErrorCode.ABORTED, `Extraction of ${entry.name} aborted`, { cause: err });
      if (/^Z_/.test((err as { code?: string }).code ?? "")) throw badZip(this.file, `${entry.name} does not inflate (${(err as Error).message})`);
      throw err;
    }
    if (size !== entry.size || crc >>> 0 !== entry.crc32) {
      throw new InseqError(
        ErrorCode.INTEGRITY,
        `${entry.name} in ${this.file} is corrupt: ${size} bytes with CRC-32 ${(crc >>> 0).toString(16)}, expected ${entry.size} bytes with CRC-32 ${entry.crc32.toString(16)}`,
      );
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** A tiny ZIP writer for tests (fake wheels): stored or deflated entries, optionally with ZIP64 records. */
import zlib from "node:zlib";

export interface ZipInput {
  name: string;
  data: Buffer;
  /** Store instead of deflating. */
  store?: boolean;
  /** Unix permission bits recorded in the central directory. Default 0o644. */
  mode?: number;
  /** Record this CRC-32 instead of the real one (a corrupt archive). */
  crc32?: number;
}

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};

/** The bytes of a zip holding `entries`; `zip64` writes every size and offset through the ZIP64 records. */
export function writeZip(entries: ZipInput[], options: { zip64?: boolean } = {}): Buffer {
  const zip64 = options.zip64 ?? false;
  const FULL = 0xffffffff;
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const body = e.store ? e.data : zlib.deflateRawSync(e.data);
    const crc = e.crc32 ?? zlib.crc32(e.data);
    const method = e.store ? 0 : 8;
    const version = zip64 ? 45 : 20;
    const localExtra = zip64 ? Buffer.concat([u16(1), u16(16), u64(e.data.length), u64(body.length)]) : Buffer.alloc(0);
    const local = Buffer.concat([
      u32(0x04034b50), u16(version), u16(0x0800), u16(method), u16(0), u16(0x21), u32(crc),
      u32(zip64 ? FULL : body.length), u32(zip64 ? FULL : e.data.length), u16(name.length), u16(localExtra.length), name, localExtra,
    ]);
    const centralExtra = zip64 ? Buffer.concat([u16(1), u16(24), u64(e.data.length), u64(body.length), u64(offset)]) : Buffer.alloc(0);
    central.push(Buffer.concat([
      u32(0x02014b50), u16((3 << 8) | version), u16(version), u16(0x0800), u16(method), u16(0), u16(0x21), u32(crc),
      u32(zip64 ? FULL : body.length), u32(zip64 ? FULL : e.data.length), u16(name.length), u16(centralExtra.length), u16(0),
      u16(0), u16(0), u32(((e.mode ?? 0o644) | 0o100000) << 16), u32(zip64 ? FULL : offset), name, centralExtra,
    ]));
    parts.push(local, body);
    offset += local.length + body.length;
  }
  const cd = Buffer.concat(central);
  const tail: Buffer[] = [];
  if (zip64) {
    const recordOffset = offset + cd.length;
    tail.push(
      Buffer.concat([u32(0x06064b50), u64(44), u16((3 << 8) | 45), u16(45), u32(0), u32(0), u64(entries.length), u64(entries.length), u64(cd.length), u64(offset)]),
      Buffer.concat([u32(0x07064b50), u32(0), u64(recordOffset), u32(1)]),
    );
  }
  const count = zip64 ? 0xffff : entries.length;
  tail.push(Buffer.concat([
    u32(0x06054b50), u16(0), u16(0), u16(count), u16(count), u32(zip64 ? FULL : cd.length), u32(zip64 ? FULL : offset), u16(0),
  ]));
  return Buffer.concat([...parts, cd, ...tail]);
}

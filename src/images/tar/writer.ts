/**
 * A tar writer: POSIX ustar, with a PAX extended header ahead of any entry whose path, link
 * target, owner names or numbers do not fit ustar's fields, whose mtime has fractions, or which
 * carries xattrs (SCHILY.xattr.*, as GNU tar and Go write them).
 */
import { PassThrough, type Readable } from "node:stream";
import { invalidArgument } from "../../errors/index.js";
import {
  BLOCK,
  isHeaderOnly,
  padding,
  sealChecksum,
  type TarEntryType,
  typeflagOf,
  writeBase256,
  writeBytes,
  writeOctal,
} from "./header.js";
import { formatPax, formatPaxTime } from "./pax.js";

/** An entry to write: only `name` is required (a regular file of `size` bytes, mode 0644 or 0755 for a dir). */
export interface TarWriteHeader {
  name: string;
  type?: Exclude<TarEntryType, "other">;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Uint8Array | string> | Readonly<Record<string, Uint8Array | string>>;
}

const ascii = (s: string) => /^[\x01-\x7f]*$/.test(s);

/** The header blocks of one entry: a PAX extended header first when ustar cannot say it all. */
export function encodeHeader(h: TarWriteHeader): Buffer {
  const type = h.type ?? "file";
  const size = isHeaderOnly(type) ? 0 : (h.size ?? 0);
  if (!Number.isSafeInteger(size) || size < 0)
    throw invalidArgument(`write tar entry ${JSON.stringify(h.name)}: bad size ${size}`);
  if (h.name === "" || h.name.includes("\0")) throw invalidArgument(`write tar entry ${JSON.stringify(h.name)}: bad name`);
  const pax: [string, Uint8Array | string][] = [];
  const block = Buffer.alloc(BLOCK);

  const name = Buffer.from(h.name, "utf8");
  if (!ascii(h.name) || !splitName(block, name)) {
    pax.push(["path", h.name]);
    writeBytes(block, "name", name.subarray(0, 100));
  }
  const linkname = h.linkname ?? "";
  const link = Buffer.from(linkname, "utf8");
  if (!ascii(linkname) || !writeBytes(block, "linkname", link)) {
    pax.push(["linkpath", linkname]);
    writeBytes(block, "linkname", link.subarray(0, 100));
  }
  writeOctal(block, "mode", (h.mode ?? (type === "directory" ? 0o755 : 0o644)) & 0o7777);
  for (const [key, value] of [
    ["uid", h.uid ?? 0],
    ["gid", h.gid ?? 0],
    ["size", size],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw invalidArgument(`write tar entry ${JSON.stringify(h.name)}: bad ${key} ${value}`);
    if (!writeOctal(block, key, value)) {
      pax.push([key, String(value)]);
      writeOctal(block, key, 0);
    }
  }
  const mtime = h.mtime ?? 0;
  if (!Number.isFinite(mtime)) throw invalidArgument(`write tar entry ${JSON.stringify(h.name)}: bad mtime ${mtime}`);
  if (!writeOctal(block, "mtime", mtime)) {
    pax.push(["mtime", formatPaxTime(mtime)]);
    writeOctal(block, "mtime", Math.max(0, Math.min(Math.floor(mtime), 0o77777777777)));
  }
  for (const key of ["uname", "gname"] as const) {
    const v = h[key] ?? "";
    const b = Buffer.from(v, "utf8");
    if (!ascii(v) || !writeBytes(block, key, b)) pax.push([key, v]);
  }
  for (const key of ["devmajor", "devminor"] as const) {
    // PAX has no keyword for device numbers: GNU base-256 is the only way past octal
    const v = h[key] ?? 0;
    if (!writeOctal(block, key, v)) writeBase256(block, key, v);
  }
  block[156] = typeflagOf[type].charCodeAt(0);
  block.write("ustar\0", 257, "latin1");
  block.write("00", 263, "latin1");
  const xattrs = h.xattrs instanceof Map ? [...h.xattrs] : Object.entries(h.xattrs ?? {});
  for (const [k, v] of xattrs) pax.push([`SCHILY.xattr.${k}`, v]);
  sealChecksum(block);
  if (pax.length === 0) return block;
  const records = formatPax(pax);
  const base = h.name.replace(/\/+$/, "").split("/").pop() ?? "";
  const paxHeader = encodeHeader({
    name: `PaxHeaders.0/${Buffer.from(base, "utf8")
      .subarray(0, 80)
      .toString("latin1")
      .replace(/[^\x20-\x7e]/g, "_")}`,
    mode: 0o644,
    size: records.length,
    mtime: 0,
  });
  paxHeader[156] = "x".charCodeAt(0);
  sealChecksum(paxHeader);
  return Buffer.concat([paxHeader, records, Buffer.alloc(padding(records.length)), block]);
}

/** Put `name` in the name field, or split it at a "/" across prefix and name; false when neither fits. */
function splitName(block: Buffer, name: Buffer): boolean {
  if (writeBytes(block, "name", name)) return true;
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (name.length - i - 1 > 100) return false;
    if (i > 155 || i === name.length - 1) continue;
    writeBytes(block, "prefix", name.subarray(0, i));
    writeBytes(block, "name", name.subarray(i + 1));
    return true;
  }
  return false;
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/**
 * Writes an archive to `stream` entry by entry, with backpressure: `add` resolves when its bytes
 * were accepted. `finish` writes the end-of-archive blocks and ends the stream.
 */
export class TarWriter {
  readonly stream: Readable;
  private readonly out = new PassThrough({ highWaterMark: 1 << 16 });

  constructor() {
    this.stream = this.out;
  }

  /** one entry; `body` must give exactly `header.size` bytes (none for header-only types) */
  async add(header: TarWriteHeader, body?: Uint8Array | string | AsyncIterable<Uint8Array>): Promise<void> {
    const data = typeof body === "string" ? Buffer.from(body, "utf8") : body;
    const h = data instanceof Uint8Array && header.size === undefined ? { ...header, size: data.length } : header;
    const size = isHeaderOnly(h.type ?? "file") ? 0 : (h.size ?? 0);
    await this.write(encodeHeader(h));
    let written = 0;
    if (data instanceof Uint8Array) {
      written = data.length;
      if (written === size) await this.write(data);
    } else if (data) {
      for await (const chunk of data) {
        written += chunk.length;
        if (written > size) break;
        await this.write(chunk);
      }
    }
    if (written !== size)
      throw invalidArgument(`write tar entry ${JSON.stringify(h.name)}: header says ${size} bytes, the body has ${written}`);
    if (padding(size) > 0) await this.write(Buffer.alloc(padding(size)));
  }

  async finish(): Promise<void> {
    await this.write(END_OF_ARCHIVE);
    this.out.end();
  }

  /** end the stream with an error (the reader sees it) */
  abort(error: Error): void {
    this.out.destroy(error);
  }

  private write(b: Uint8Array): Promise<void> {
    if (this.out.destroyed) return Promise.reject(new Error("write tar: the output stream was closed"));
    if (this.out.write(b)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (e?: Error) => {
        this.out.off("drain", done);
        this.out.off("error", done);
        this.out.off("close", closed);
        e ? reject(e) : resolve();
      };
      const closed = () => done(new Error("write tar: the output stream was closed"));
      this.out.once("drain", done);
      this.out.once("error", done);
      this.out.once("close", closed);
    });
  }
}

/** A whole archive in memory, for small archives and tests. */
export function tarBuffer(entries: Iterable<{ header: TarWriteHeader; body?: Uint8Array | string }>): Buffer {
  const parts: Buffer[] = [];
  for (const { header, body } of entries) {
    const data = typeof body === "string" ? Buffer.from(body, "utf8") : (body ?? Buffer.alloc(0));
    const h = header.size === undefined ? { ...header, size: data.length } : header;
    const size = isHeaderOnly(h.type ?? "file") ? 0 : (h.size ?? 0);
    if (data.length !== size)
      throw invalidArgument(`write tar entry ${JSON.stringify(h.name)}: header says ${size} bytes, the body has ${data.length}`);
    parts.push(encodeHeader(h), Buffer.from(data), Buffer.alloc(padding(size)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/**
 * The tar header block (POSIX ustar, with GNU's and PAX's extensions), as POSIX.1-2008 "pax" and
 * GNU tar's manual ("Basic Tar Format") define it: one 512-byte block per header, numbers in octal
 * ASCII or GNU base-256, a checksum over the block with the checksum field read as spaces.
 */
import { invalidArgument } from "../../errors/index.js";

export const BLOCK = 512;

/** What an entry is (its typeflag, decoded); "other" for a typeflag berth does not interpret. */
export type TarEntryType = "file" | "hardlink" | "symlink" | "chardev" | "blockdev" | "directory" | "fifo" | "other";

/** One archive member's metadata, after PAX and GNU long-name records were applied. */
export interface TarHeader {
  /** the member's path as stored (PAX `path`, a GNU long name, or ustar prefix + name) */
  name: string;
  type: TarEntryType;
  /** the raw typeflag character ("0", "5", ...), for messages about "other" types */
  typeflag: string;
  /** permission bits, with setuid, setgid and sticky (0o7777) */
  mode: number;
  uid: number;
  gid: number;
  /** bytes of data that follow the header (0 for header-only types) */
  size: number;
  /** seconds since the epoch; PAX may give fractions */
  mtime: number;
  /** the target of a symlink or hard link */
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** extended attributes (PAX SCHILY.xattr.* and LIBARCHIVE.xattr.*), raw values */
  xattrs: Map<string, Buffer>;
}

/** Field offsets and lengths of the ustar header (POSIX.1-2008, pax "ustar Interchange Format"). */
export const Field = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

export type FieldName = keyof typeof Field;

export const typeflagOf: Record<Exclude<TarEntryType, "other">, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  chardev: "3",
  blockdev: "4",
  directory: "5",
  fifo: "6",
};

/** The entry type of a typeflag: "7" (contiguous) reads as a file and GNU "D" (dumpdir) as a directory. */
export function entryType(typeflag: string): TarEntryType {
  switch (typeflag) {
    case "0":
    case "\0":
    case "7":
      return "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "chardev";
    case "4":
      return "blockdev";
    case "5":
    case "D":
      return "directory";
    case "6":
      return "fifo";
    default:
      return "other";
  }
}

/** Types whose size field says nothing of the data that follows: none does (as Go's archive/tar reads them). */
export function isHeaderOnly(type: TarEntryType): boolean {
  return type !== "file" && type !== "other";
}

export function field(block: Uint8Array, f: FieldName): Buffer {
  const [off, len] = Field[f];
  return Buffer.from(block.buffer, block.byteOffset + off, len);
}

/** A NUL-terminated string field (UTF-8; a field may fill its whole width without a NUL). */
export function readString(block: Uint8Array, f: FieldName): string {
  const b = field(block, f);
  const nul = b.indexOf(0);
  return b.toString("utf8", 0, nul < 0 ? b.length : nul);
}

/**
 * A numeric field: octal ASCII (leading and trailing spaces or NULs allowed, empty is 0), or GNU
 * base-256 when the top bit of the first byte is set (big-endian two's complement).
 */
export function readNumber(block: Uint8Array, f: FieldName): number {
  const b = field(block, f);
  if ((b[0] ?? 0) & 0x80) {
    // base-256: the first byte's top bit only marks the encoding; 0xff starts a negative number
    const negative = b[0] === 0xff;
    let v = BigInt((b[0] ?? 0) & 0x7f) - (negative ? 0x80n : 0n);
    for (let i = 1; i < b.length; i++) v = (v << 8n) | BigInt(b[i] ?? 0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw invalidArgument(`tar header field ${f}: base-256 value ${v} is out of range`);
    return Number(v);
  }
  let s = 0;
  let e = b.length;
  while (s < e && (b[s] === 0x20 || b[s] === 0)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = b[i] ?? 0;
    if (c < 0x30 || c > 0x37)
      throw invalidArgument(`tar header field ${f}: ${JSON.stringify(b.toString("latin1", s, e))} is not an octal number`);
    v = v * 8 + (c - 0x30);
  }
  return v;
}

/** The header checksum: the unsigned byte sum with the checksum field counted as spaces. */
export function checksum(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  const [off, len] = Field.chksum;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= off && i < off + len ? 0x20 : (block[i] ?? 0);
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return { unsigned, signed };
}

/** True when the stored checksum matches (historic writers summed signed bytes: accepted too). */
export function verifyChecksum(block: Uint8Array): boolean {
  let stored: number;
  try {
    stored = readNumber(block, "chksum");
  } catch {
    return false; // an unreadable checksum field is a bad checksum, said by the caller
  }
  const { unsigned, signed } = checksum(block);
  return stored === unsigned || stored === signed;
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Write `value` as octal digits and a NUL into `f`; false when it does not fit. */
export function writeOctal(block: Uint8Array, f: FieldName, value: number): boolean {
  const [off, len] = Field[f];
  if (!Number.isInteger(value) || value < 0) return false;
  const digits = value.toString(8);
  if (digits.length > len - 1) return false;
  const padded = digits.padStart(len - 1, "0");
  for (let i = 0; i < len - 1; i++) block[off + i] = padded.charCodeAt(i);
  block[off + len - 1] = 0;
  return true;
}

/** Write `value` in GNU base-256 into `f` (for numbers octal cannot hold). */
export function writeBase256(block: Uint8Array, f: FieldName, value: number): void {
  const [off, len] = Field[f];
  let v = BigInt(Math.trunc(value));
  for (let i = len - 1; i >= 0; i--) {
    block[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[off] = (block[off] ?? 0) | 0x80;
}

/** Copy `bytes` into `f`, NUL-padded; false when they do not fit. */
export function writeBytes(block: Uint8Array, f: FieldName, bytes: Uint8Array): boolean {
  const [off, len] = Field[f];
  if (bytes.length > len) return false;
  block.set(bytes, off);
  return true;
}

/** Fill the checksum field of a finished block: six octal digits, NUL, space (as GNU and Go write it). */
export function sealChecksum(block: Uint8Array): void {
  const [off] = Field.chksum;
  const digits = checksum(block).unsigned.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) block[off + i] = digits.charCodeAt(i);
  block[off + 6] = 0;
  block[off + 7] = 0x20;
}

/** Bytes of padding after `size` bytes of data, up to the next block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * PAX extended header records (POSIX.1-2008 pax, "pax Extended Header"): "<len> <key>=<value>\n",
 * where len counts the whole record, its own digits included. Values are bytes: xattr values
 * (SCHILY.xattr.*) may be binary.
 */
import { invalidArgument } from "../../errors/index.js";

/** The records of one extended header, in order; a later duplicate key wins. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    // GNU and others pad the header's data with NULs after the last record
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 20) throw invalidArgument(`pax header: record at byte ${pos} has no length`);
    const lenText = data.toString("latin1", pos, space);
    if (!/^[0-9]+$/.test(lenText)) throw invalidArgument(`pax header: record length ${JSON.stringify(lenText)} is not a number`);
    const len = Number(lenText);
    const end = pos + len;
    if (len <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a)
      throw invalidArgument(`pax header: record at byte ${pos} of length ${len} is malformed`);
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw invalidArgument(`pax header: record at byte ${pos} has no "="`);
    const key = data.toString("utf8", space + 1, eq);
    if (key === "") throw invalidArgument(`pax header: record at byte ${pos} has an empty key`);
    out.set(key, Buffer.from(data.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}

/** One record, with its self-counting length. */
export function formatPaxRecord(key: string, value: Uint8Array | string): Buffer {
  const k = Buffer.from(key, "utf8");
  const v = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  const rest = k.length + v.length + 3; // " ", "=", "\n"
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  return Buffer.concat([Buffer.from(`${len} `, "latin1"), k, Buffer.from("="), v, Buffer.from("\n")]);
}

export function formatPax(records: Iterable<[string, Uint8Array | string]>): Buffer {
  return Buffer.concat([...records].map(([k, v]) => formatPaxRecord(k, v)));
}

/** A PAX time ("1700000000.123456789", maybe negative) in seconds. */
export function parsePaxTime(value: string, key: string): number {
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(value)) throw invalidArgument(`pax header: ${key} ${JSON.stringify(value)} is not a time`);
  return Number(value);
}

/** A PAX decimal integer (size, uid, gid): non-negative and exact in a double. */
export function parsePaxInteger(value: string, key: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n))
    throw invalidArgument(`pax header: ${key} ${JSON.stringify(value)} is not a non-negative integer`);
  return n;
}

/**
 * Seconds as PAX writes them: an integer, or the fraction to the precision a double holds (16
 * significant digits, at most nine after the point), without trailing zeros.
 */
export function formatPaxTime(seconds: number): string {
  if (Number.isInteger(seconds)) return String(seconds);
  if (seconds < 0) return `-${formatPaxTime(-seconds)}`;
  const text = seconds.toPrecision(16);
  if (text.includes("e")) return String(Math.round(seconds));
  const [whole = "0", fraction = ""] = text.split(".");
  const digits = fraction.slice(0, 9).replace(/0+$/, "");
  return digits === "" ? whole : `${whole}.${digits}`;
}

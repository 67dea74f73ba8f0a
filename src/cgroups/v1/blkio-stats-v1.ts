import { join } from "node:path";
import type { BlkioEntry, BlkioStats } from "../stats.js";
import { readOptional } from "../stats.js";

/** "8:0 Read 4096" lines (the "Total N" summary is dropped), as runc reads the blkio files. */
export function parseBlkioFile(text: string, what: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2 || f[0] === "Total") continue;
    const m = /^(\d+):(\d+)$/.exec(f[0] ?? "");
    if (!m) throw new Error(`parse ${what}: malformed line "${line.trim()}"`);
    const e: BlkioEntry = {};
    if (Number(m[1])) e.major = Number(m[1]);
    if (Number(m[2])) e.minor = Number(m[2]);
    const value = Number(f.length === 3 ? f[2] : f[1]);
    if (f.length === 3 && f[1]) e.op = f[1];
    if (value) e.value = value;
    out.push(e);
  }
  return out;
}

/**
 * Bytes and operations per device: BFQ's recursive counters where the BFQ
 * scheduler is in use, else CFQ's (old kernels), else the throttle layer's,
 * which count every request, the order runc tries them in.
 */
export function blkioStatsV1(dir: string | undefined): BlkioStats {
  if (!dir) return {};
  for (const [bytes, ios] of [
    ["blkio.bfq.io_service_bytes_recursive", "blkio.bfq.io_serviced_recursive"],
    ["blkio.io_service_bytes_recursive", "blkio.io_serviced_recursive"],
    ["blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"],
    ["blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"],
  ] as const) {
    const b = readOptional(join(dir, bytes));
    const i = readOptional(join(dir, ios));
    if (b === undefined || i === undefined) continue;
    const s: BlkioStats = {};
    const be = parseBlkioFile(b, bytes);
    const ie = parseBlkioFile(i, ios);
    if (be.length) s.ioServiceBytesRecursive = be;
    if (ie.length) s.ioServicedRecursive = ie;
    return s;
  }
  return {};
}

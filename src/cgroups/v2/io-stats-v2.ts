import { join } from "node:path";
import type { BlkioEntry, BlkioStats } from "../stats.js";
import { readOptional } from "../stats.js";

/** io.stat lines ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") as runc's blkio entries (Read/Write). */
export function parseIoStat(text: string): BlkioStats {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? "");
    if (!m) continue;
    for (const kv of kvs) {
      const [k, v] = kv.split("=");
      const target = { rbytes: [bytes, "Read"], wbytes: [bytes, "Write"], rios: [ios, "Read"], wios: [ios, "Write"] }[k ?? ""] as
        | [BlkioEntry[], string]
        | undefined;
      if (!target) continue;
      const e: BlkioEntry = { op: target[1] };
      if (Number(m[1])) e.major = Number(m[1]);
      if (Number(m[2])) e.minor = Number(m[2]);
      if (Number(v)) e.value = Number(v);
      target[0].push(e);
    }
  }
  const s: BlkioStats = {};
  if (bytes.length) s.ioServiceBytesRecursive = bytes;
  if (ios.length) s.ioServicedRecursive = ios;
  return s;
}

export function ioStatsV2(dir: string): BlkioStats {
  const text = readOptional(join(dir, "io.stat"));
  return text === undefined ? {} : parseIoStat(text);
}

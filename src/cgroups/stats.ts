/**
 * Container resource statistics in runc's `events` JSON shape (runc
 * types/events.go), so a caller that reads runc's `events --stats` reads
 * ours. Zero-valued fields that runc tags `omitempty` are left out.
 */
import { readFileSync, readdirSync } from "node:fs";
import { errnoCode } from "../errors/index.js";

export interface CpuUsage {
  total?: number;
  percpu?: number[];
  percpu_kernel?: number[];
  percpu_user?: number[];
  kernel: number;
  user: number;
}

export interface Throttling {
  periods?: number;
  throttledPeriods?: number;
  throttledTime?: number;
}

export interface MemoryEntry {
  limit: number;
  usage?: number;
  max?: number;
  failcnt: number;
}

export interface MemoryStats {
  cache?: number;
  usage: MemoryEntry;
  swap: MemoryEntry;
  kernel: MemoryEntry;
  kernelTCP: MemoryEntry;
  raw?: Record<string, number>;
}

export interface BlkioEntry {
  major?: number;
  minor?: number;
  op?: string;
  value?: number;
}

export interface BlkioStats {
  ioServiceBytesRecursive?: BlkioEntry[];
  ioServicedRecursive?: BlkioEntry[];
}

export interface HugetlbStats {
  usage?: number;
  max?: number;
  failcnt: number;
}

export interface CgroupStats {
  cpu: { usage: CpuUsage; throttling: Throttling };
  memory: MemoryStats;
  pids: { current?: number; limit?: number };
  blkio: BlkioStats;
  /** page size ("2MB", "1GB") -> usage */
  hugetlb: Record<string, HugetlbStats>;
}

/** A memory entry as runc reports a controller it could not read: zero limit and failcnt. */
export const emptyMemoryEntry = (): MemoryEntry => ({ limit: 0, failcnt: 0 });

export function emptyStats(): CgroupStats {
  return {
    cpu: { usage: { kernel: 0, user: 0 }, throttling: {} },
    memory: { usage: emptyMemoryEntry(), swap: emptyMemoryEntry(), kernel: emptyMemoryEntry(), kernelTCP: emptyMemoryEntry() },
    pids: {},
    blkio: {},
    hugetlb: {},
  };
}

/** The largest value the kernel prints for "no limit" fits no JS number exactly; it stays as close as a double gets. */
export function parseUint(text: string, what: string): number {
  const t = text.trim();
  if (t === "max") return Number.MAX_SAFE_INTEGER;
  if (!/^-?\d+$/.test(t)) throw new Error(`parse ${what}: "${t}" is not a number`);
  return Number(t);
}

/** A cgroup file's contents, or undefined where the kernel (or the controller) lacks it. */
export function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    // the file is absent on this kernel or the cgroup is gone: nothing to report
    if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") return undefined;
    throw err;
  }
}

/** A single-number cgroup file, or undefined where it is absent. */
export function readUintOptional(file: string): number | undefined {
  const t = readOptional(file);
  return t === undefined ? undefined : parseUint(t, file);
}

/** "key value" lines (memory.stat, cpu.stat, memory.events): key -> number. */
export function parseFlatKeyed(text: string, what: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const l = line.trim();
    if (!l) continue;
    const [k, v, ...extra] = l.split(/\s+/);
    if (!k || v === undefined || extra.length) throw new Error(`parse ${what}: malformed line "${l}"`);
    out[k] = parseUint(v, `${what} ${k}`);
  }
  return out;
}

/** Drop the keys whose value is 0 or undefined (Go's omitempty on numbers). */
export function omitZero<K extends string>(o: Record<K, number | undefined>): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const [k, v] of Object.entries(o) as [K, number | undefined][]) if (v) out[k] = v;
  return out;
}

/** Page sizes the kernel offers, named as the hugetlb files name them ("2MB", "1GB"). */
export function hugePageSizes(dir = "/sys/kernel/mm/hugepages"): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const m = /^hugepages-(\d+)kB$/.exec(e);
    if (!m) continue;
    let kb = Number(m[1]);
    const units = ["KB", "MB", "GB", "TB"];
    let u = 0;
    while (kb >= 1024 && kb % 1024 === 0 && u < units.length - 1) {
      kb /= 1024;
      u++;
    }
    out.push(`${kb}${units[u]}`);
  }
  return out.sort();
}

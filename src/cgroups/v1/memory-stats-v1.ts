import { join } from "node:path";
import type { MemoryEntry, MemoryStats } from "../stats.js";
import { emptyMemoryEntry, parseFlatKeyed, readOptional, readUintOptional } from "../stats.js";

/** One family of memory counters: "" (memory.*), "memsw", "kmem" or "kmem.tcp". */
function memoryEntry(dir: string, family: string): MemoryEntry {
  const p = family ? `memory.${family}.` : "memory.";
  const usage = readUintOptional(join(dir, `${p}usage_in_bytes`));
  // swap accounting off, or kmem gone from the kernel: runc reports zeros
  if (usage === undefined) return emptyMemoryEntry();
  const e: MemoryEntry = { limit: readUintOptional(join(dir, `${p}limit_in_bytes`)) ?? 0, failcnt: 0 };
  if (usage) e.usage = usage;
  const max = readUintOptional(join(dir, `${p}max_usage_in_bytes`));
  if (max) e.max = max;
  e.failcnt = readUintOptional(join(dir, `${p}failcnt`)) ?? 0;
  return e;
}

/** memory.stat as raw counters, usage/limit/peak/failcnt for memory, memory+swap, kernel and kernel TCP. */
export function memoryStatsV1(dir: string | undefined): MemoryStats {
  if (!dir)
    return { usage: emptyMemoryEntry(), swap: emptyMemoryEntry(), kernel: emptyMemoryEntry(), kernelTCP: emptyMemoryEntry() };
  const m: MemoryStats = {
    usage: memoryEntry(dir, ""),
    // runc's "swap" on v1 is memsw: memory plus swap together
    swap: memoryEntry(dir, "memsw"),
    kernel: memoryEntry(dir, "kmem"),
    kernelTCP: memoryEntry(dir, "kmem.tcp"),
  };
  const stat = readOptional(join(dir, "memory.stat"));
  if (stat !== undefined) {
    m.raw = parseFlatKeyed(stat, "memory.stat");
    if (m.raw["cache"]) m.cache = m.raw["cache"];
  }
  return m;
}

/** OOM kills so far: memory.oom_control's oom_kill (Linux 4.13+), else 1 while under_oom. */
export function oomKillsV1(dir: string | undefined): number {
  const text = dir ? readOptional(join(dir, "memory.oom_control")) : undefined;
  if (text === undefined) return 0;
  const c = parseFlatKeyed(text, "memory.oom_control");
  return c["oom_kill"] ?? c["under_oom"] ?? 0;
}

import { join } from "node:path";
import type { MemoryEntry, MemoryStats } from "../stats.js";
import { emptyMemoryEntry, parseFlatKeyed, readOptional, readUintOptional } from "../stats.js";

/**
 * memory.current/max/peak and memory.stat; "swap" is memory plus swap, as
 * on v1 (runc reports it so), and failcnt is memory.events' "max" count.
 */
export function memoryStatsV2(dir: string): MemoryStats {
  const m: MemoryStats = {
    usage: emptyMemoryEntry(),
    swap: emptyMemoryEntry(),
    kernel: emptyMemoryEntry(),
    kernelTCP: emptyMemoryEntry(),
  };
  const current = readUintOptional(join(dir, "memory.current"));
  if (current === undefined) return m;
  const events = readOptional(join(dir, "memory.events"));
  const e = events === undefined ? {} : parseFlatKeyed(events, "memory.events");
  const usage: MemoryEntry = { limit: readUintOptional(join(dir, "memory.max")) ?? 0, failcnt: e["max"] ?? 0 };
  if (current) usage.usage = current;
  const peak = readUintOptional(join(dir, "memory.peak"));
  if (peak) usage.max = peak;
  m.usage = usage;
  const swap = readUintOptional(join(dir, "memory.swap.current"));
  if (swap !== undefined) {
    const swapMax = readUintOptional(join(dir, "memory.swap.max")) ?? 0;
    const s: MemoryEntry = { limit: Math.min(Number.MAX_SAFE_INTEGER, usage.limit + swapMax), failcnt: 0 };
    if (swap + current) s.usage = swap + current;
    m.swap = s;
  }
  const stat = readOptional(join(dir, "memory.stat"));
  if (stat !== undefined) {
    m.raw = parseFlatKeyed(stat, "memory.stat");
    if (m.raw["file"]) m.cache = m.raw["file"];
  }
  return m;
}

/** OOM kills so far: memory.events' oom_kill. */
export function oomKillsV2(dir: string): number {
  const text = readOptional(join(dir, "memory.events"));
  return text === undefined ? 0 : (parseFlatKeyed(text, "memory.events")["oom_kill"] ?? 0);
}

import { join } from "node:path";
import type { CgroupStats } from "../stats.js";
import { omitZero, parseFlatKeyed, readOptional } from "../stats.js";

/** cpu.stat (microseconds on v2) in runc's nanoseconds. */
export function cpuStatsV2(dir: string): CgroupStats["cpu"] {
  const text = readOptional(join(dir, "cpu.stat"));
  if (text === undefined) return { usage: { kernel: 0, user: 0 }, throttling: {} };
  const s = parseFlatKeyed(text, "cpu.stat");
  const ns = (k: string) => (s[k] ?? 0) * 1000;
  const usage: CgroupStats["cpu"]["usage"] = { kernel: ns("system_usec"), user: ns("user_usec") };
  if (s["usage_usec"]) usage.total = ns("usage_usec");
  return {
    usage,
    throttling: omitZero({ periods: s["nr_periods"], throttledPeriods: s["nr_throttled"], throttledTime: ns("throttled_usec") }),
  };
}

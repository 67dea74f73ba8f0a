import { join } from "node:path";
import type { HugetlbStats } from "../stats.js";
import { parseFlatKeyed, readOptional, readUintOptional } from "../stats.js";

/** Per page size: hugetlb.<size>.current, and failcnt from hugetlb.<size>.events' "max". */
export function hugetlbStatsV2(dir: string, sizes: string[]): Record<string, HugetlbStats> {
  const out: Record<string, HugetlbStats> = {};
  for (const size of sizes) {
    const usage = readUintOptional(join(dir, `hugetlb.${size}.current`));
    if (usage === undefined) continue;
    const events = readOptional(join(dir, `hugetlb.${size}.events`));
    const h: HugetlbStats = { failcnt: events === undefined ? 0 : (parseFlatKeyed(events, "hugetlb events")["max"] ?? 0) };
    if (usage) h.usage = usage;
    out[size] = h;
  }
  return out;
}

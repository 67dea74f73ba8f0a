import { join } from "node:path";
import type { HugetlbStats } from "../stats.js";
import { readUintOptional } from "../stats.js";

/** Per page size: hugetlb.<size>.usage_in_bytes, max_usage_in_bytes and failcnt. */
export function hugetlbStatsV1(dir: string | undefined, sizes: string[]): Record<string, HugetlbStats> {
  const out: Record<string, HugetlbStats> = {};
  if (!dir) return out;
  for (const size of sizes) {
    const usage = readUintOptional(join(dir, `hugetlb.${size}.usage_in_bytes`));
    if (usage === undefined) continue;
    const h: HugetlbStats = { failcnt: readUintOptional(join(dir, `hugetlb.${size}.failcnt`)) ?? 0 };
    if (usage) h.usage = usage;
    const max = readUintOptional(join(dir, `hugetlb.${size}.max_usage_in_bytes`));
    if (max) h.max = max;
    out[size] = h;
  }
  return out;
}

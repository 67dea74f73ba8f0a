import { join } from "node:path";
import type { CgroupStats } from "./stats.js";
import { omitZero, readOptional, readUintOptional } from "./stats.js";

/** pids.current and pids.max ("max", no limit, reads as 0 as in runc). The file layout is the same on v2. */
export function pidsStats(dir: string | undefined): CgroupStats["pids"] {
  if (!dir) return {};
  const max = readOptional(join(dir, "pids.max"))?.trim();
  return omitZero({
    current: readUintOptional(join(dir, "pids.current")),
    limit: max === undefined || max === "max" ? 0 : Number(max),
  });
}

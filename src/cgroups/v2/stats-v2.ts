import { pidsStats } from "../pids-stats.js";
import type { CgroupStats } from "../stats.js";
import { hugePageSizes } from "../stats.js";
import { cpuStatsV2 } from "./cpu-stats-v2.js";
import { hugetlbStatsV2 } from "./hugetlb-stats-v2.js";
import { ioStatsV2 } from "./io-stats-v2.js";
import { memoryStatsV2 } from "./memory-stats-v2.js";

/** Every controller's statistics for a v2 container; a controller not enabled reads as zeros. */
export function statsV2(dir: string, sizes: string[] = hugePageSizes()): CgroupStats {
  return {
    cpu: cpuStatsV2(dir),
    memory: memoryStatsV2(dir),
    pids: pidsStats(dir),
    blkio: ioStatsV2(dir),
    hugetlb: hugetlbStatsV2(dir, sizes),
  };
}
